"""The model registry's use cases: registering a trained model, changing which one decides
(promote, roll back, challenge; every change audited), and the models a scoring worker
holds, picked up again within a second of a change with no restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from fraud.application.archives import SignedArchives
from fraud.application.busy import retried_when_busy
from fraud.application.identity import model_event
from fraud.application.live import Versioned, Wording
from fraud.domain.challenge import Comparison, compare
from fraud.domain.identity import Actor, AuditAction, AuditEvent
from fraud.domain.model import ModelInfo
from fraud.domain.policy import ScoringPolicy, Thresholds
from fraud.domain.ports import (
    ArchiveSeal,
    Clock,
    FraudModel,
    ModelQueries,
    ModelStore,
    UnitOfWork,
    UnitOfWorkFactory,
    VerdictQueries,
)
from fraud.domain.registry import (
    DEFAULT_BUDGET_DAYS,
    ModelRole,
    NoChampion,
    RegisteredModel,
    RoleChange,
    RoleRefused,
    Roles,
    ThresholdsChange,
    UnknownModel,
    thresholds_for_budget,
    thresholds_in_force,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Registration:
    model: RegisteredModel
    champion: bool  # whether it became the champion (the registry had none)


class RegisterModel:
    """Register a saved model, its archive signed with the archive key; the first one
    registered becomes the champion, any later one waits for a person (or a retraining that
    beats the champion) to promote it."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, clock: Clock, seal: ArchiveSeal) -> None:
        self.unit_of_work = unit_of_work
        self.clock = clock
        self.seal = seal

    def __call__(self, info: ModelInfo, archive: bytes, by: Actor) -> Registration:
        registered = RegisteredModel(info, self.clock.now(), by.subject)
        signature = self.seal.sign(info.version, archive)
        champion = False
        with self.unit_of_work() as uow:
            if uow.models.add(registered, archive, signature):
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
    """A registered model as listed: with the role it holds now, if any, and the thresholds
    set for it after training (None: its card's are in force)."""

    model: RegisteredModel
    role: ModelRole | None
    thresholds: ThresholdsChange | None = None

    @property
    def in_force(self) -> Thresholds:
        return thresholds_in_force(self.model.info, self.thresholds)


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
        return [
            ModelEntry(model, roles.holds(model.version), self.queries.thresholds(model.version))
            for model in self.queries.models()
        ]

    def get(self, version: str) -> ModelEntry:
        model = self.queries.model(version)
        if model is None:
            raise UnknownModel(version)
        return ModelEntry(
            model, self.queries.roles().holds(version), self.queries.thresholds(version)
        )

    def history(self) -> list[RoleChange]:
        return self.queries.role_history()

    @retried_when_busy
    def promote(self, version: str, by: Actor) -> RoleChange:
        """Make ``version`` the champion; a challenger promoted stops being the challenger."""
        with self.unit_of_work() as uow:
            change = self._make_champion(uow, version, by)
            uow.commit()
        log.info("model promoted", model_version=version, previous=change.previous)
        return change

    @retried_when_busy
    def rollback(self, by: Actor) -> RoleChange:
        """Give the champion's role back to the model that held it before the current one."""
        with self.unit_of_work() as uow:
            roles = uow.models.roles()
            before = self._champion_before(roles)
            change = self._make_champion(uow, before, by)
            uow.commit()
        log.info("model rolled back", model_version=before, previous=change.previous)
        return change

    @retried_when_busy
    def challenge(self, version: str, by: Actor) -> RoleChange:
        """Make ``version`` the challenger: it scores beside the champion and decides nothing."""
        with self.unit_of_work() as uow:
            _loadable(uow, version)
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

    @retried_when_busy
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
        _loadable(uow, version)
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


def _loadable(uow: UnitOfWork, version: str) -> None:
    """Refuse a role to a model no worker would load: unknown, or with an unsigned archive
    (whether a signature holds takes the key, which the registry's readers need not hold:
    the workers check that, and keep the models they have if it does not)."""
    model = uow.models.model(version)
    if model is None:
        raise UnknownModel(version)
    if not model.signed:
        raise RoleRefused(
            f"{version}'s archive is not signed (registered before archives were signed), so "
            f"no worker would load it: an admin who holds the archive key signs it first, "
            f"with `fraud models sign {version}`"
        )


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
    scores in shadow, or decides the ``canary`` share of the cards (domain/canary.py)."""

    revision: int
    champion: Serving
    challenger: Serving | None = None
    canary: float = 0.0


class FixedModels:
    """One model that never changes: a replay of a file, a benchmark, a test."""

    def __init__(self, model: FraudModel) -> None:
        self._in_force = InForce(0, Serving.of(model))

    def current(self) -> InForce:
        return self._in_force

    def in_hand(self) -> InForce:
        return self._in_force


class LiveModels:
    """The registry's champion and challenger as a score stage uses them: the revision is
    looked up at most every ``refresh_s`` seconds (one indexed query), and a model is loaded
    from its archive (its signature checked first) only when it takes a role it did not
    hold, so a promotion reaches every worker, whatever its broker, within about a second,
    with no restart; an archive refused leaves the models in hand deciding."""

    def __init__(
        self,
        queries: ModelQueries,
        archives: SignedArchives,
        refresh_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queries = queries
        self.archives = archives
        self._loaded: dict[str, FraudModel] = {}
        self._in_force = Versioned(
            self._revision,
            self._load,
            refresh_s,
            monotonic,
            Wording("the registry's champion", kept="the models in hand stay"),
        )

    def current(self) -> InForce:
        """The models to score with now. Until a champion has been loaded once, a storage
        failure, an empty registry or a champion that cannot be loaded is a
        ``TransientFailure`` (the batch waits and is retried), so nothing is decided without
        the registry's champion; after that, the models in hand stay through a failure to
        read or load another."""
        return self._in_force.current()

    def in_hand(self) -> InForce | None:
        """The models loaded last, without looking at the registry (None: none yet)."""
        return self._in_force.in_hand()

    def _revision(self) -> int:
        return self.queries.roles().revision

    def _load(self) -> InForce:
        roles = self.queries.roles()
        if roles.champion is None:
            raise NoChampion()
        champion = self._serving(roles.champion)
        challenger = self._challenger(roles.challenger) if roles.challenger else None
        # Keep the models in a role, and the champion before (a rollback is then instant).
        keep = {roles.champion, roles.challenger}
        if (in_hand := self.in_hand()) is not None:
            keep.add(in_hand.champion.version)
        self._loaded = {v: m for v, m in self._loaded.items() if v in keep}
        log.info(
            "models in force",
            champion=champion.version,
            review_threshold=round(champion.policy.thresholds.review, 6),
            challenger=challenger.version if challenger else None,
            canary=roles.canary if challenger else None,
            revision=roles.revision,
        )
        return InForce(roles.revision, champion, challenger, roles.canary if challenger else 0.0)

    def _challenger(self, version: str) -> Serving | None:
        """The challenger, if it can be loaded: one that cannot never holds the champion
        back, nor any transaction; the champion scores alone until it is replaced."""
        try:
            return self._serving(version)
        except Exception as failure:
            log.error(
                "the challenger could not be loaded; the champion scores alone",
                model_version=version,
                error=str(failure),
            )
            return None

    def _serving(self, version: str) -> Serving:
        """The model (loaded once) with the thresholds in force for it: those set after
        training, if any, else its card's."""
        model = self._loaded.get(version)
        if model is None:
            model = self._loaded[version] = self.archives.load(version)
        thresholds = thresholds_in_force(model.info, self.queries.thresholds(version))
        return Serving(model, ScoringPolicy(thresholds))


# --- champion against challenger -----------------------------------------------------------

COMPARISON_DAYS = 30


@dataclass(frozen=True, slots=True)
class Challenge:
    """The challenge in progress: who against whom, since when, and how each does."""

    champion: str
    challenger: str
    since: datetime
    comparison: Comparison


class CompareModels:
    """The champion and the challenger on the transactions the challenger scored in shadow
    over the last ``days`` days, judged on the labels known."""

    def __init__(
        self,
        models: ModelQueries,
        verdicts: VerdictQueries,
        clock: Clock,
        cache_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.models = models
        self.verdicts = verdicts
        self.clock = clock
        self.cache_s = cache_s
        self.monotonic = monotonic
        self._cached: tuple[float, int, Challenge | None] | None = None

    def __call__(self, days: int = COMPARISON_DAYS) -> Challenge | None:
        """Worked out at most every ``cache_s`` seconds for one registry revision: it reads
        up to ``days`` of the challenger's scorings, and dashboards ask every few seconds."""
        roles = self.models.roles()
        now = self.monotonic()
        cached = self._cached
        if cached is not None and cached[1] == roles.revision and now - cached[0] < self.cache_s:
            return cached[2]
        challenge = self._compare(roles, days)
        self._cached = (now, roles.revision, challenge)
        return challenge

    def _compare(self, roles: Roles, days: int) -> Challenge | None:
        if roles.champion is None or roles.challenger is None:
            return None
        since = self.clock.now() - timedelta(days=days)
        rows = self.verdicts.challenged(roles.champion, roles.challenger, since)
        return Challenge(roles.champion, roles.challenger, since, compare(rows))


# --- thresholds by review budget --------------------------------------------------------------

MIN_BUDGET_SPAN_DAYS = 1 / 24  # an hour of scores: fewer say too little about a day's volume


class SetReviewBudget:
    """Set a model's review threshold from how many reviews a day the team can handle,
    worked out on the scores it gave over the last days (as the decision or in shadow), and
    put it in force: the scoring workers use it within about a second."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        models: ModelQueries,
        verdicts: VerdictQueries,
        clock: Clock,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.models = models
        self.verdicts = verdicts
        self.clock = clock

    def __call__(
        self, version: str, per_day: float, by: Actor, days: int = DEFAULT_BUDGET_DAYS
    ) -> ThresholdsChange:
        registered = self.models.model(version)
        if registered is None:
            raise UnknownModel(version)
        now = self.clock.now()
        scored = self.verdicts.scores_of(version, now - timedelta(days=days))
        # The span it scored over: since the earliest, when it took its role after ``days``.
        span = (now - min((at for _, _, at in scored), default=now)).total_seconds() / 86_400
        if span < MIN_BUDGET_SPAN_DAYS:
            raise RoleRefused(
                f"{version} has scored for {span * 24:.1f} hours of the last {days} days: a "
                "review budget is worked out on at least an hour of its recent scores (make "
                "it the champion or the challenger first)"
            )
        decline = thresholds_in_force(registered.info, self.models.thresholds(version)).decline
        pairs = [(score, label) for score, label, _ in scored]
        thresholds, budget = thresholds_for_budget(pairs, span, per_day, decline)
        with self.unit_of_work() as uow:
            change = uow.models.set_thresholds(
                ThresholdsChange(version, thresholds, budget, now, by.subject)
            )
            precision = budget.expected_precision
            detail = (
                f"review >= {thresholds.review:.6f} for {per_day:g} reviews a day "
                f"(expected {budget.expected_reviews_per_day:.1f}, precision "
                f"{'unknown' if precision is None else f'{precision:.3f}'})"
            )
            uow.audit.append([model_event(by, AuditAction.MODEL_THRESHOLDS, version, now, detail)])
            uow.commit()
        log.info(
            "review budget set",
            model_version=version,
            review_threshold=round(thresholds.review, 6),
            per_day=per_day,
            expected_precision=budget.expected_precision,
        )
        return change
