"""The model registry's use cases: registering a trained model, changing which one decides
(promote, roll back, challenge; every change audited), and the models a scoring worker
holds, picked up again within a second of a change with no restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from fraud.application.identity import model_event
from fraud.domain.errors import ModelNotFound, ModelTampered, TransientFailure
from fraud.domain.identity import Actor, AuditAction, AuditEvent
from fraud.domain.model import ModelInfo
from fraud.domain.policy import ScoringPolicy
from fraud.domain.ports import (
    Clock,
    FraudModel,
    ModelArchives,
    ModelQueries,
    ModelStore,
    UnitOfWork,
    UnitOfWorkFactory,
)
from fraud.domain.registry import (
    ModelRole,
    NoChampion,
    RegisteredModel,
    RoleChange,
    RoleRefused,
    Roles,
    UnknownModel,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Registration:
    model: RegisteredModel
    champion: bool  # whether it became the champion (the registry had none)


class RegisterModel:
    """Register a saved model; the first one registered becomes the champion, any later one
    waits for a person (or a retraining that beats the champion) to promote it."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, clock: Clock) -> None:
        self.unit_of_work = unit_of_work
        self.clock = clock

    def __call__(self, info: ModelInfo, archive: bytes, by: Actor) -> Registration:
        registered = RegisteredModel(info, self.clock.now(), by.subject)
        champion = False
        with self.unit_of_work() as uow:
            if uow.models.add(registered, archive):
                event = model_event(
                    by, AuditAction.MODEL_REGISTERED, info.version, registered.registered_at
                )
                uow.audit.append([event])
            else:
                registered = uow.models.model(info.version) or registered
            if uow.models.roles().champion is None:
                change = uow.models.change_role(
                    ModelRole.CHAMPION, info.version, by.subject, registered.registered_at
                )
                uow.audit.append([_role_event(by, change)])
                champion = True
            uow.commit()
        log.info("model registered", model_version=info.version, champion=champion)
        return Registration(registered, champion)

    def adopt(self, store: ModelStore, by: Actor) -> Registration | None:
        """The model directory's model registered (champion when there is none), so a
        service that ran before the registry keeps its model; None when the directory is
        empty."""
        info = store.card()
        if info is None:
            return None
        return self(info, store.archive(), by)


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A registered model as listed: with the role it holds now, if any."""

    model: RegisteredModel
    role: ModelRole | None


class ManageModels:
    """Read the registry and change who decides: every change is a line in the role history
    and in the audit log, and reaches the scoring workers within about a second."""

    def __init__(
        self, unit_of_work: UnitOfWorkFactory, queries: ModelQueries, clock: Clock
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.clock = clock

    def roles(self) -> Roles:
        return self.queries.roles()

    def models(self) -> list[ModelEntry]:
        roles = self.queries.roles()
        return [ModelEntry(model, roles.holds(model.version)) for model in self.queries.models()]

    def get(self, version: str) -> ModelEntry:
        model = self.queries.model(version)
        if model is None:
            raise UnknownModel(version)
        return ModelEntry(model, self.queries.roles().holds(version))

    def history(self) -> list[RoleChange]:
        return self.queries.role_history()

    def promote(self, version: str, by: Actor) -> RoleChange:
        """Make ``version`` the champion; a challenger promoted stops being the challenger."""
        with self.unit_of_work() as uow:
            if uow.models.model(version) is None:
                raise UnknownModel(version)
            change = self._make_champion(uow, version, by)
            uow.commit()
        log.info("model promoted", model_version=version, previous=change.previous)
        return change

    def rollback(self, by: Actor) -> RoleChange:
        """Give the champion's role back to the model that held it before the current one."""
        with self.unit_of_work() as uow:
            roles = uow.models.roles()
            before = self._champion_before(roles)
            change = self._make_champion(uow, before, by)
            uow.commit()
        log.info("model rolled back", model_version=before, previous=change.previous)
        return change

    def challenge(self, version: str, by: Actor) -> RoleChange:
        """Make ``version`` the challenger: it scores beside the champion and decides nothing."""
        with self.unit_of_work() as uow:
            if uow.models.model(version) is None:
                raise UnknownModel(version)
            roles = uow.models.roles()
            if version == roles.champion:
                raise RoleRefused(f"{version} is the champion: it cannot challenge itself")
            if version == roles.challenger:
                raise RoleRefused(f"{version} is the challenger already")
            change = uow.models.change_role(
                ModelRole.CHALLENGER, version, by.subject, self.clock.now()
            )
            uow.audit.append([_role_event(by, change)])
            uow.commit()
        log.info("challenger set", model_version=version, previous=change.previous)
        return change

    def end_challenge(self, by: Actor) -> RoleChange:
        with self.unit_of_work() as uow:
            if uow.models.roles().challenger is None:
                raise RoleRefused("there is no challenger")
            change = uow.models.change_role(
                ModelRole.CHALLENGER, None, by.subject, self.clock.now()
            )
            uow.audit.append([_role_event(by, change)])
            uow.commit()
        log.info("challenger cleared", previous=change.previous)
        return change

    def _make_champion(self, uow: UnitOfWork, version: str, by: Actor) -> RoleChange:
        roles = uow.models.roles()
        if version == roles.champion:
            raise RoleRefused(f"{version} is the champion already")
        now = self.clock.now()
        events = []
        if version == roles.challenger:
            ended = uow.models.change_role(ModelRole.CHALLENGER, None, by.subject, now)
            events.append(_role_event(by, ended))
        change = uow.models.change_role(ModelRole.CHAMPION, version, by.subject, now)
        uow.audit.append([*events, _role_event(by, change)])
        return change

    def _champion_before(self, roles: Roles) -> str:
        """The model that was champion just before the current one took over."""
        for change in reversed(self.queries.role_history()):
            if change.role is ModelRole.CHAMPION and change.version == roles.champion:
                if change.previous is None:
                    break
                return change.previous
        raise RoleRefused("no earlier champion to roll back to")


def _role_event(by: Actor, change: RoleChange) -> AuditEvent:
    detail = f"{change.role.value}: {change.previous or 'none'} -> {change.version or 'none'}"
    target = change.version or change.previous or ""
    return model_event(by, AuditAction.MODEL_ROLE, target, change.at, detail)


# --- what the scoring workers hold ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Serving:
    """A model as a scoring worker holds it: loaded once, with the policy its card sets."""

    model: FraudModel
    policy: ScoringPolicy

    @classmethod
    def of(cls, model: FraudModel) -> Serving:
        return cls(model, ScoringPolicy(model.info.thresholds))

    @property
    def version(self) -> str:
        return self.model.info.version


@dataclass(frozen=True, slots=True)
class InForce:
    """The models a score stage uses now: the champion decides, the challenger (if any)
    scores in shadow."""

    revision: int
    champion: Serving
    challenger: Serving | None = None


class FixedModels:
    """One model that never changes: a replay of a file, a benchmark, a test."""

    def __init__(self, model: FraudModel) -> None:
        self._in_force = InForce(0, Serving.of(model))

    def current(self) -> InForce:
        return self._in_force


class LiveModels:
    """The registry's champion and challenger as a score stage uses them: the revision is
    looked up at most every ``refresh_s`` seconds (one indexed query), and a model is loaded
    from its archive only when it takes a role it did not hold, so a promotion reaches every
    worker, whatever its broker, within about a second, with no restart."""

    def __init__(
        self,
        queries: ModelQueries,
        archives: ModelArchives,
        refresh_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queries = queries
        self.archives = archives
        self.refresh_s = refresh_s
        self.monotonic = monotonic
        self._in_force: InForce | None = None
        self._checked = float("-inf")
        self._loaded: dict[str, Serving] = {}

    def current(self) -> InForce:
        """The models to score with now. Until a champion has been loaded once, a storage
        failure or an empty registry is a ``TransientFailure`` (the batch waits and is
        retried), so nothing is decided without the registry's champion; after that, the
        models in hand stay through a failure to read or load another."""
        now = self.monotonic()
        if self._in_force is not None and now - self._checked < self.refresh_s:
            return self._in_force
        try:
            roles = self.queries.roles()
            if self._in_force is None or roles.revision != self._in_force.revision:
                self._in_force = self._load(roles)
        except NoChampion as missing:
            raise TransientFailure(str(missing)) from None
        except (TransientFailure, ModelNotFound, ModelTampered) as failure:
            if self._in_force is None:
                raise TransientFailure(str(failure)) from None
            log.error(
                "the registry's models could not be loaded; the ones in hand stay",
                error=str(failure),
            )
        self._checked = now
        assert self._in_force is not None
        return self._in_force

    def _load(self, roles: Roles) -> InForce:
        if roles.champion is None:
            raise NoChampion()
        champion = self._serving(roles.champion)
        challenger = self._serving(roles.challenger) if roles.challenger else None
        # Keep the models in a role, and the champion before (a rollback is then instant).
        keep = {roles.champion, roles.challenger}
        if self._in_force is not None:
            keep.add(self._in_force.champion.version)
        self._loaded = {v: s for v, s in self._loaded.items() if v in keep}
        log.info(
            "models in force",
            champion=champion.version,
            challenger=challenger.version if challenger else None,
            revision=roles.revision,
        )
        return InForce(roles.revision, champion, challenger)

    def _serving(self, version: str) -> Serving:
        serving = self._loaded.get(version)
        if serving is None:
            archive = self.queries.archive(version)
            if archive is None:
                raise ModelNotFound(f"model {version} holds a role but is not registered")
            serving = self._loaded[version] = Serving.of(self.archives.unpack(archive))
        return serving
