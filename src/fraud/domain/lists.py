"""Lists analysts keep of values (cards, merchants, any field of a transaction): what a rule
reads as ``lists.NAME`` (``tx.user_id in lists.blocked_cards``).

A list holds at most :data:`MAX_ENTRIES` values; each entry says who added it, why, and
until when it holds (no expiry: until removed). An expired entry stops matching at its
expiry whether or not anybody removes it. Every change (a list made, an entry added or
removed) is a numbered change of its list, in order, so a scoring worker reads only the
changes it has not seen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from fraud.domain.errors import FieldError
from fraud.domain.rules import text_problem
from fraud.domain.transaction import CONTRACT, parse_instant

# A list's name is read in CEL as ``lists.NAME``: an identifier, so no hyphen.
MAX_LIST_NAME_LENGTH = 64
LIST_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
LIST_NAME_RULE = (
    f"must be 1 to {MAX_LIST_NAME_LENGTH} lower-case letters, digits or _, starting with a "
    "letter (rules read it as lists.NAME)"
)
# How many entries a list may hold: each scoring worker keeps every list in memory (about
# 150 bytes an entry), and reads them all when it starts.
MAX_ENTRIES = 100_000
MAX_VALUE_LENGTH = 128  # the longest field of a transaction (a merchant)
MAX_DESCRIPTION_LENGTH = 200
MAX_EXPIRY_DAYS = 3_650
# The fields whose values a list may hold: every text field of the contract but the time.
LIST_FIELDS = tuple(
    field.name for field in CONTRACT if field.type == "string" and field.name != "timestamp"
)


class InvalidListRequest(ValueError):
    """A list or an entry that breaks a rule of its fields; one error per offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


class UnknownList(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no list named {name!r}")
        self.name = name


class ListExists(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a list named {name!r} exists")
        self.name = name


class ListFull(ValueError):
    def __init__(self, name: str, held: int, cap: int = MAX_ENTRIES) -> None:
        super().__init__(
            f"list {name!r} holds {held:,} live entries: at most {cap:,} (remove some, "
            "or let them expire)"
        )
        self.name = name


class UnknownEntry(LookupError):
    def __init__(self, name: str, value: str) -> None:
        super().__init__(f"list {name!r} holds no entry {value!r}")


@dataclass(frozen=True, slots=True)
class ValueList:
    """A named list of values of one transaction field (``user_id`` for cards)."""

    name: str
    field: str
    description: str
    created_by: str
    created_at: datetime
    entries: int = 0  # live entries, as read


@dataclass(frozen=True, slots=True)
class ListEntry:
    value: str
    added_by: str
    added_at: datetime
    reason: str
    expires_at: datetime | None = None  # None: until removed

    def live_at(self, instant: datetime) -> bool:
        return self.expires_at is None or self.expires_at > instant


@dataclass(frozen=True, slots=True)
class ListChange:
    """One change of a list, numbered in its order (``version``): entries added (with their
    expiry) or removed. What a scoring worker applies to the lists it holds."""

    list_name: str
    version: int
    value: str
    removed: bool
    expires_at: datetime | None = None


class ListLookup(Protocol):
    """What a rule asks of lists while a batch is scored: membership, the same cost whatever
    a list's size; and which lists exist, when an expression is checked."""

    def contains(self, name: str, value: object) -> bool:
        """Whether ``value`` is a live entry of list ``name`` (an unknown list holds nothing)."""

    def names(self) -> frozenset[str]:
        """The names of every list, as stored now."""


# --- requests -------------------------------------------------------------------------------


def _object(data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidListRequest([FieldError("body", "must be a JSON object")])
    return data


def _unknown_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> list[FieldError]:
    return [
        FieldError(str(name), f"is not one of {', '.join(allowed)}")
        for name in sorted(set(body) - set(allowed), key=str)
    ]


def list_name_problem(name: object) -> str | None:
    if (
        not isinstance(name, str)
        or len(name) > MAX_LIST_NAME_LENGTH
        or not LIST_NAME_PATTERN.fullmatch(name)
    ):
        return LIST_NAME_RULE
    return None


@dataclass(frozen=True, slots=True)
class NewList:
    name: str
    field: str
    description: str

    @classmethod
    def parse(cls, data: object) -> NewList:
        """``name``, ``field`` (default ``user_id``) and ``description``; one
        InvalidListRequest naming every field that breaks its rule."""
        body = _object(data)
        errors = _unknown_fields(body, ("name", "field", "description"))
        name = body.get("name")
        if (problem := list_name_problem(name)) is not None:
            errors.append(FieldError("name", problem))
        field = body.get("field", "user_id")
        if field not in LIST_FIELDS:
            errors.append(FieldError("field", f"must be one of {', '.join(LIST_FIELDS)}"))
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
            errors.append(
                FieldError("description", f"must be at most {MAX_DESCRIPTION_LENGTH} characters")
            )
        elif description and (problem := text_problem(description, MAX_DESCRIPTION_LENGTH)):
            errors.append(FieldError("description", problem))
        if errors:
            raise InvalidListRequest(errors)
        return cls(str(name), str(field), str(description))


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry to add: its value, why, and until when: for ``days``, or until ``until``
    (neither: until removed)."""

    value: str
    reason: str
    days: float | None = None
    until: datetime | None = None

    def expires_at(self, now: datetime) -> datetime | None:
        """When it stops holding; InvalidListRequest when ``until`` is already past."""
        if self.until is not None:
            if self.until <= now:
                raise InvalidListRequest([FieldError("expires_at", "must be in the future")])
            return self.until
        return None if self.days is None else now + timedelta(days=self.days)

    @classmethod
    def parse(cls, data: object) -> NewEntry:
        body = _object(data)
        errors = _unknown_fields(body, ("value", "reason", "days", "expires_at"))
        value = body.get("value")
        if (problem := value_problem(value)) is not None:
            errors.append(FieldError("value", problem))
        reason = body.get("reason")
        if not isinstance(reason, str):
            errors.append(FieldError("reason", "is required: why the value is listed"))
        elif (problem := text_problem(reason, MAX_DESCRIPTION_LENGTH)) is not None:
            errors.append(FieldError("reason", problem))
        days = body.get("days")
        if (problem := days_problem(days)) is not None:
            errors.append(FieldError("days", problem))
        until, problem = _instant(body.get("expires_at"))
        if problem is not None:
            errors.append(FieldError("expires_at", problem))
        elif until is not None and days is not None:
            errors.append(FieldError("expires_at", "goes alone: give days or expires_at"))
        if errors:
            raise InvalidListRequest(errors)
        return cls(str(value), str(reason), None if days is None else float(days), until)


def _instant(value: object) -> tuple[datetime | None, str | None]:
    if value is None:
        return None, None
    rule = "must be an ISO 8601 instant with a time zone, e.g. 2027-01-31T00:00:00Z"
    if not isinstance(value, str):
        return None, rule
    try:
        return parse_instant(value.replace("Z", "+00:00")), None
    except ValueError:
        return None, rule


def value_problem(value: object) -> str | None:
    if not isinstance(value, str) or not value or len(value) > MAX_VALUE_LENGTH:
        return f"must be a string of 1 to {MAX_VALUE_LENGTH} characters"
    if not value.isprintable():
        return "must contain only printable characters"
    return None


def days_problem(days: object) -> str | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int | float):
        return f"must be a number of days from 0.001 to {MAX_EXPIRY_DAYS} (or left out: no expiry)"
    if not 0.001 <= days <= MAX_EXPIRY_DAYS:
        return f"must be from 0.001 to {MAX_EXPIRY_DAYS} days (or left out: no expiry)"
    return None


@dataclass(frozen=True, slots=True)
class Listing:
    """A case's value (its card, its merchant) to add to a list: which list, why, and for
    how long (``days``; None: until removed)."""

    list_name: str
    reason: str
    days: float | None = None

    def entry(self, value: str) -> NewEntry:
        return NewEntry(value, self.reason, self.days)

    @classmethod
    def parse(cls, data: object) -> Listing:
        body = _object(data)
        errors = _unknown_fields(body, ("list", "reason", "days"))
        name = body.get("list")
        if (problem := list_name_problem(name)) is not None:
            errors.append(FieldError("list", problem))
        reason = body.get("reason")
        if not isinstance(reason, str):
            errors.append(FieldError("reason", "is required: why the value is listed"))
        elif (problem := text_problem(reason, MAX_DESCRIPTION_LENGTH)) is not None:
            errors.append(FieldError("reason", problem))
        days = body.get("days")
        if (problem := days_problem(days)) is not None:
            errors.append(FieldError("days", problem))
        if errors:
            raise InvalidListRequest(errors)
        return cls(str(name), str(reason), None if days is None else float(days))
