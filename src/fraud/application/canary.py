"""Canary rollout of the challenger (domain/canary.py): a person raises the share of cards it
decides, step by step, and the record stage gives them back to the champion by itself when
the challenger's decline or error rate leaves the band around the champion's. Every step is
in the canary's history and the audit log, and reaches the scoring workers within about a
second, as a change of role does."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

from fraud.application.identity import model_event
from fraud.application.tallies import FLUSH_EVERY_S
from fraud.domain.assessment import Decision, TransactionRecord
from fraud.domain.canary import (
    CanaryBand,
    CanaryCounts,
    CanaryStep,
    in_canary,
    next_step,
    share_text,
)
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.ports import Clock, ModelQueries, UnitOfWork, UnitOfWorkFactory
from fraud.domain.registry import RoleRefused, Roles

log = structlog.get_logger(__name__)

# How often the watch reads the roles again: as often as the scoring workers do.
ROLES_REFRESH_S = 1.0
# Who rolls a canary back when its figures leave the band.
THE_SERVICE = Actor("service", "canary watch")


@dataclass(frozen=True, slots=True)
class Canary:
    """The canary now: the challenger, the share of cards it decides, and every step."""

    champion: str | None
    challenger: str | None
    share: float
    history: list[CanaryStep]


def _record(uow: UnitOfWork, step: CanaryStep, by: Actor) -> CanaryStep:
    kept = uow.models.set_canary(step)
    detail = f"canary: {step.version} decides {share_text(step.share)} of cards ({step.reason})"
    uow.audit.append([model_event(by, AuditAction.MODEL_ROLE, step.version, step.at, detail)])
    return kept


class ManageCanary:
    def __init__(
        self, unit_of_work: UnitOfWorkFactory, queries: ModelQueries, clock: Clock
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.clock = clock

    def __call__(self) -> Canary:
        roles = self.queries.roles()
        return Canary(roles.champion, roles.challenger, roles.canary, self.queries.canary_history())

    def set_share(self, share: float, by: Actor, reason: str = "set by hand") -> CanaryStep:
        """The challenger decides ``share`` (0 to 1) of the cards from now on."""
        if not 0.0 <= share <= 1.0:
            raise RoleRefused(f"a canary's share is 0 to 100% of the cards, not {share:.2%}")
        with self.unit_of_work() as uow:
            roles = uow.models.roles()
            if roles.challenger is None:
                raise RoleRefused(
                    "there is no challenger to give cards to: `fraud models challenge VERSION`"
                )
            if share == roles.canary:
                raise RoleRefused(
                    f"{roles.challenger} decides {share_text(share)} of cards already"
                )
            step = CanaryStep(roles.challenger, share, self.clock.now(), by.subject, reason)
            kept = _record(uow, step, by)
            uow.commit()
        log.info("canary step", model_version=kept.version, share=share, reason=reason)
        return kept

    def raise_share(self, by: Actor) -> CanaryStep:
        """The next step (1%, 10%, 50%, 100% of the cards)."""
        share = next_step(self.queries.roles().canary)
        if share is None:
            raise RoleRefused("the challenger decides every card already: promote it")
        return self.set_share(share, by, "raised a step")

    def roll_back(self, by: Actor, reason: str = "rolled back by hand") -> CanaryStep:
        """Every card back to the champion; the challenger scores in shadow again."""
        return self.set_share(0.0, by, reason)


def canary_counts(decided: Iterable[TransactionRecord], roles: Roles) -> CanaryCounts:
    """What each model decided of ``decided``, for the canary in ``roles``."""
    counts = [0, 0, 0, 0, 0]
    for record in decided:
        assessment = record.assessment
        if assessment is None:
            continue
        declined = assessment.decision is Decision.DECLINE
        if assessment.model_version == roles.challenger:
            counts[2] += 1
            counts[3] += declined
        elif in_canary(record.transaction.user_id, roles.canary):
            counts[4] += 1  # the challenger's card, decided by the champion: it failed
        else:
            counts[0] += 1
            counts[1] += declined
    return CanaryCounts(*counts)


class CanaryTally:
    """The record stage's watch on a canary: what each model decided since the canary's
    latest step (counted once its batch commits), judged against the band at most every
    ``judge_s`` seconds; out of it, the share goes back to 0 in the batch's unit of work (one
    worker does it: the others find it done). The registry's roles are read again at most
    every second, as the scoring workers do: a new step starts the counts over."""

    def __init__(
        self,
        queries: ModelQueries,
        clock: Clock,
        band: CanaryBand | None = None,
        judge_s: float = FLUSH_EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queries = queries
        self.clock = clock
        self.band = band or CanaryBand()
        self.judge_s = judge_s
        self.monotonic = monotonic
        self._roles = Roles()
        self._read = self._judged = float("-inf")
        self._since_step = CanaryCounts()

    def count(self, decided: Iterable[TransactionRecord]) -> CanaryCounts:
        roles = self._watched()
        if roles.challenger is None or roles.canary <= 0.0:
            return CanaryCounts()
        return canary_counts(decided, roles)

    def _watched(self) -> Roles:
        now = self.monotonic()
        if now - self._read >= ROLES_REFRESH_S:
            roles = self.queries.roles()
            if (roles.challenger, roles.canary) != (self._roles.challenger, self._roles.canary):
                self._since_step = CanaryCounts()
            self._roles, self._read = roles, now
        return self._roles

    def flush_if_due(self, uow: UnitOfWork, counts: CanaryCounts) -> bool:
        if not (self._since_step or counts) or self.monotonic() - self._judged < self.judge_s:
            return False
        breached = self.band.breached(self._since_step + counts)
        if breached is None:
            return True
        roles = uow.models.roles()
        if roles.challenger is None or roles.challenger != self._roles.challenger:
            return True  # changed meanwhile (another worker, a person)
        if roles.canary <= 0.0:
            return True  # rolled back meanwhile
        step = CanaryStep(roles.challenger, 0.0, self.clock.now(), THE_SERVICE.subject, breached)
        _record(uow, step, THE_SERVICE)
        log.warning(
            "canary rolled back: every card goes back to the champion",
            model_version=roles.challenger,
            share=roles.canary,
            reason=breached,
        )
        return True

    def committed(self, counts: CanaryCounts, flushed: bool) -> None:
        self._since_step = self._since_step + counts
        if flushed:
            self._judged = self.monotonic()

    def check(self) -> None:
        """Nothing to warn of: a roll-back says so when it is made."""

    def warm_up(self) -> None:
        """The registry's roles."""
        self._watched()
