"""Models in the registry are loaded only from archives signed with the archive key.

Every archive is signed when it is registered, with a key the database never holds, over
its bytes and its model's version. Loading one (a scoring worker taking a new champion, a
retraining reading the champion) checks the signature first: an archive altered in the
database, moved to another version's row or stripped of its signature is refused, with a
log line naming the model, and never unpacked. Archives registered before signing existed
are signed once, by an admin who holds the key (``SignArchives``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from fraud.application.identity import model_event
from fraud.domain.errors import ModelNotFound, ModelTampered
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.ports import (
    ArchiveSeal,
    Clock,
    FraudModel,
    ModelArchives,
    ModelQueries,
    UnitOfWorkFactory,
)
from fraud.domain.registry import (
    AlteredArchive,
    SignatureCheck,
    StoredArchive,
    UnknownModel,
    UnsignedArchive,
)

log = structlog.get_logger(__name__)


def checked(seal: ArchiveSeal, version: str, stored: StoredArchive) -> bytes:
    """The archive's bytes once its signature is found to be the key's over them for
    ``version``; refused (and logged: the model, never the key) otherwise."""
    refusal: ModelTampered
    if stored.signature is None:
        signature, refusal = "missing", UnsignedArchive(version)
    else:
        check = seal.check(version, stored.content, stored.signature)
        if check is SignatureCheck.GOOD:
            return stored.content
        signature, refusal = check.value, AlteredArchive(version, check)
    log.error("model archive refused", model_version=version, signature=signature)
    raise refusal


class SignedArchives:
    """Registered models, each loaded from its archive only once the signature holds."""

    def __init__(self, queries: ModelQueries, archives: ModelArchives, seal: ArchiveSeal) -> None:
        self.queries = queries
        self.archives = archives
        self.seal = seal

    def load(self, version: str) -> FraudModel:
        stored = self.queries.archive(version)
        if stored is None:
            raise ModelNotFound(f"model {version} holds a role but is not registered")
        return self.archives.unpack(checked(self.seal, version, stored))


@dataclass(frozen=True, slots=True)
class Signing:
    """What ``fraud models sign`` did: the archives it signed, and those it was asked for
    that were signed already (their signature holds)."""

    signed: list[str]
    already: list[str]


class SignArchives:
    """Sign the archives registered before archives were signed, once, as an admin who
    holds the archive key. A signature is never replaced. Every signed archive of the
    registry is checked first, whichever are named: one whose signature does not hold was
    altered, or the admin holds another key than the one the registry was signed with;
    either way nothing is signed (signing would vouch for what the database holds now, or
    mix two keys), and the refusal names the model."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        queries: ModelQueries,
        seal: ArchiveSeal,
        clock: Clock,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.seal = seal
        self.clock = clock

    def __call__(self, versions: Sequence[str] | None, by: Actor) -> Signing:
        """Sign ``versions`` (None: every registered model's archive that is unsigned)."""
        registered = [model.version for model in self.queries.models()]
        named = registered if versions is None else list(dict.fromkeys(versions))
        for version in named:
            if version not in registered:
                raise UnknownModel(version)
        stored: dict[str, StoredArchive] = {}
        for version in registered:
            archive = self.queries.archive(version)
            if archive is not None:  # gone since it was listed: nothing to sign or check
                stored[version] = archive
        for version, archive in stored.items():
            if archive.signature is not None:  # refused whole on the first that fails
                checked(self.seal, version, archive)
        already = [v for v in named if v in stored and stored[v].signature is not None]
        unsigned = [v for v in named if v in stored and stored[v].signature is None]
        signed: list[str] = []
        with self.unit_of_work() as uow:
            now = self.clock.now()
            events = []
            for version in unsigned:
                content = stored[version].content
                if not uow.models.sign(version, self.seal.sign(version, content)):
                    continue  # signed by someone else meanwhile: theirs stands
                digest = hashlib.sha256(content).hexdigest()
                detail = f"archive sha256 {digest}"  # which bytes the key now vouches for
                events.append(model_event(by, AuditAction.MODEL_SIGNED, version, now, detail))
                signed.append(version)
            uow.audit.append(events)
            uow.commit()
        if signed:
            log.info("model archives signed", model_versions=signed)
        return Signing(signed, already)
