"""Domain exceptions: each names what went wrong in the language of the business."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule of one field, e.g. ``amount``: ``must be greater than 0``."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class InvalidTransaction(ValueError):
    """A transaction that breaks the contract; carries one error per offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


class InvalidLabel(ValueError):
    """An analyst label that breaks the contract; carries one error per offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


class InvalidIdentity(ValueError):
    """A user, key or password that breaks a rule; one error per offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


class IdentityConflict(ValueError):
    """A user or key name already taken (revoked ones stay taken: the log names them)."""


class UnknownIdentity(LookupError):
    """No user or key of that name."""


class IdempotencyConflict(ValueError):
    """A client reused a transaction_id with a different transaction."""

    def __init__(self, transaction_id: str) -> None:
        self.transaction_id = transaction_id
        super().__init__(
            f"transaction_id {transaction_id!r} is taken by another transaction; "
            "submit this one under a new id"
        )


class TransientFailure(RuntimeError):
    """A failure that may pass by itself (a locked database, a broker away): retry, never DLQ."""


class MessageRefused(RuntimeError):
    """The bus refused a message for a reason retrying cannot fix (it is too large)."""


class BrokerRefusedCredentials(PermissionError):
    """The broker turned this process's credentials away. Retrying cannot fix that, so the
    process stops at start instead of waiting for a broker that will never let it in."""

    def __init__(self, where: str, user: str, mechanism: str, reason: str) -> None:
        self.where = where
        self.user = user
        self.mechanism = mechanism
        self.reason = reason
        super().__init__(
            f"Kafka at {where} refused the credentials of user {user!r} "
            f"(SASL {mechanism}): {reason}"
        )


class ArchiveKeyUnavailable(PermissionError):
    """This process signs or checks model archives and has no archive key it may use (none
    configured, or a key file that is not safe to read). Nothing can be registered or loaded
    from the registry without it, so the process stops at start with the message."""


class NoLocalArchiveKeyYet(ArchiveKeyUnavailable):
    """A single-host setup (the embedded bus, a SQLite file) with no key configured, whose
    `fraud run` has not made the key file beside its database yet."""


class ModelNotFound(FileNotFoundError):
    """No usable trained model where one was expected."""


class ModelTampered(ModelNotFound):
    """A model directory whose files are not the ones its training wrote (its manifest says
    otherwise): loading it would score with an unknown model."""


class BadDataFile(ValueError):
    """A file that cannot be used as it is: says where (line) and what (field and rule)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        problem: str,
        *,
        line: int | None = None,
        errors: Iterable[FieldError] = (),
    ) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.errors = tuple(errors)
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {problem}")
