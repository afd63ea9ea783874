"""Drift: counting what the record stage stores into each model's reference bins, and the
population stability index of the last day against the model's training window.

The record stage counts every decided verdict (a redelivery decides nothing and is not
counted again) and flushes the counts, as hourly tallies, in the unit of work of a batch
every few seconds: at most a flush interval of counts is lost if a worker dies. The
report reads 24 hourly tallies, never the stored transactions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from fraud.application.tallies import FLUSH_EVERY_S, PeriodicFlush
from fraud.domain.assessment import TransactionRecord
from fraud.domain.drift import (
    PSI_THRESHOLD,
    Drift,
    DriftReference,
    add_counts,
    add_counts_into,
    report,
)
from fraud.domain.ports import BinCounter, Clock, DriftQueries, ModelQueries, UnitOfWork

log = structlog.get_logger(__name__)

DRIFT_WINDOW = timedelta(days=1)


def hour_of(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


class References:
    """Each model's drift reference, read from its card once (None: a card without one)."""

    def __init__(self, models: ModelQueries) -> None:
        self.models = models
        self._known: dict[str, DriftReference | None] = {}

    def of(self, version: str) -> DriftReference | None:
        if version not in self._known:
            registered = self.models.model(version)
            card = registered.info.reference if registered else None
            self._known[version] = None if card is None else DriftReference.from_dict(card)
        return self._known[version]

    def of_roles(self) -> None:
        """Read the references of the models holding a role now."""
        roles = self.models.roles()
        for version in (roles.champion, roles.challenger):
            if version is not None:
                self.of(version)


class DriftTally:
    """Counts decided verdicts into their model's bins, and writes the counts as hourly
    tallies at most every ``flush_s`` seconds."""

    def __init__(
        self,
        models: ModelQueries,
        counter: BinCounter,
        clock: Clock,
        watch: DriftWatch | None = None,
        flush_s: float = FLUSH_EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # The watch's references when there is a watch: one read of each model's card.
        self.references = watch.references if watch is not None else References(models)
        self.counter = counter
        self.watch = watch
        self.clock = clock
        self._flush: PeriodicFlush[Tally] = PeriodicFlush(
            _merged, dict, flush_s, monotonic, accumulate=_added_into
        )

    def count(self, decided: Iterable[TransactionRecord]) -> Tally:
        """A batch's counts, per model and hour."""
        by_model: dict[str, list[TransactionRecord]] = {}
        for record in decided:
            if record.assessment is not None and record.features:
                by_model.setdefault(record.assessment.model_version, []).append(record)
        hour = hour_of(self.clock.now())
        tally: Tally = {}
        for version, records in by_model.items():
            reference = self.references.of(version)
            if reference is not None:
                tally[(version, hour)] = self.counter.count(
                    reference,
                    [record.features or {} for record in records],
                    [record.assessment.fraud_score for record in records if record.assessment],
                )
        return tally

    def flush_if_due(self, uow: UnitOfWork, tally: Tally) -> bool:
        due = self._flush.due(tally)
        if due is None:
            return False
        for (version, hour), counts in due.items():
            uow.drift.add(version, hour, counts)
        return True

    def committed(self, tally: Tally, flushed: bool) -> None:
        self._flush.committed(tally, flushed)

    def warm_up(self) -> None:
        """The references of the models holding a role, and the drift report: the first
        batch flushes, and its check worked the report out while the first transactions
        waited (26 ms on the default model, its reference read from the registry)."""
        self.references.of_roles()
        self.check()

    def check(self) -> None:
        """Look at the drift, so a crossing is logged by the workers even when nobody
        watches the dashboard."""
        if self.watch is not None:
            self.watch.report()


Tally = dict[tuple[str, datetime], dict[str, list[int]]]


def _merged(a: Tally, b: Tally) -> Tally:
    merged = dict(a)
    for key, counts in b.items():
        merged[key] = add_counts(merged.get(key, {}), counts)
    return merged


def _added_into(pending: Tally, batch: Tally) -> Tally:
    """``batch`` added into ``pending`` (changed), as :func:`_merged` would add them."""
    for key, counts in batch.items():
        add_counts_into(pending.setdefault(key, {}), counts)
    return pending


@dataclass(frozen=True, slots=True)
class DriftReport:
    """The champion's drift over the last day: per feature and for the score, most drifted
    first. ``model_version`` None: no champion, or one whose card has no reference."""

    model_version: str | None
    since: datetime
    threshold: float = PSI_THRESHOLD
    drifts: Sequence[Drift] = field(default_factory=tuple)

    @property
    def drifted(self) -> list[Drift]:
        return [drift for drift in self.drifts if drift.drifted]


class DriftWatch:
    """The champion's drift over the last ``window``, worked out at most every ``cache_s``
    seconds; a feature that crosses the threshold is logged as a warning once, when it
    crosses (and once more if it drops back under and crosses again)."""

    def __init__(
        self,
        models: ModelQueries,
        tallies: DriftQueries,
        clock: Clock,
        window: timedelta = DRIFT_WINDOW,
        cache_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.models = models
        self.references = References(models)
        self.tallies = tallies
        self.clock = clock
        self.window = window
        self.cache_s = cache_s
        self.monotonic = monotonic
        self._report: DriftReport | None = None
        self._at = float("-inf")
        self._drifted: set[tuple[str, str]] = set()

    def report(self) -> DriftReport:
        now = self.monotonic()
        if self._report is None or now - self._at >= self.cache_s:
            self._report = self._work_out()
            self._at = now
        return self._report

    def _work_out(self) -> DriftReport:
        since = hour_of(self.clock.now() - self.window)
        version = self.models.roles().champion
        reference = self.references.of(version) if version else None
        if version is None or reference is None:
            return DriftReport(None, since)
        stored = self.tallies.drift_counts(version, since)
        counts = {
            name: [stored.get(name, {}).get(i, 0) for i in range(len(bins))]
            for name, bins in reference.all_bins()
        }
        drifts = sorted(report(reference, counts), key=lambda drift: -drift.psi)
        found = DriftReport(version, since, PSI_THRESHOLD, tuple(drifts))
        self._warn(found)
        return found

    def _warn(self, found: DriftReport) -> None:
        assert found.model_version is not None
        now_drifted = {(found.model_version, drift.name) for drift in found.drifted}
        for drift in found.drifted:
            if (found.model_version, drift.name) not in self._drifted:
                log.warning(
                    "drift above threshold: the model sees traffic unlike its training",
                    feature=drift.name,
                    psi=round(drift.psi, 3),
                    threshold=found.threshold,
                    observed=drift.observed,
                    model_version=found.model_version,
                )
        self._drifted = now_drifted
