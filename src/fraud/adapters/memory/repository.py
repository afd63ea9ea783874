"""An in-memory store honouring the write side's and the read side's contracts.

Changes are staged in the unit of work and applied only on commit, to the state
as it is then, like a database transaction, so use cases behave the same here as
on SQLAlchemy. Reads outside a unit of work see what is committed.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from types import TracebackType
from typing import Self

from fraud.adapters.memory.cases import (
    InMemoryCaseQueries,
    InMemoryCaseRepository,
    InMemoryQueueRepository,
)
from fraud.adapters.memory.drift import InMemoryDriftLog, InMemoryDriftQueries
from fraud.adapters.memory.identity import (
    InMemoryAuditLog,
    InMemoryIdentities,
    InMemoryIdentityQueries,
)
from fraud.adapters.memory.lists import InMemoryListQueries, InMemoryListRepository
from fraud.adapters.memory.registry import InMemoryModelQueries, InMemoryModelRegistry
from fraud.adapters.memory.rules import (
    InMemoryRuleQueries,
    InMemoryRuleRepository,
    InMemoryRuleTallies,
)
from fraud.adapters.memory.state import Staged, State
from fraud.adapters.memory.webhooks import InMemoryWebhookQueries, InMemoryWebhookRepository
from fraud.domain.assessment import (
    AnalystLabel,
    Decision,
    LabelChange,
    Status,
    TransactionRecord,
    is_new_scoring,
    scoring,
)
from fraud.domain.challenge import Scored
from fraud.domain.label_risk import LabelEvent
from fraud.domain.monitoring import FLAGGED, Bucket
from fraud.domain.transaction import Transaction


def _claim(state: State, records: Sequence[TransactionRecord]) -> set[str]:
    claimed: set[str] = set()
    for record in records:
        transaction_id = record.transaction.transaction_id
        if transaction_id not in state.rows:
            state.rows[transaction_id] = record
            state.published[transaction_id] = None
            claimed.add(transaction_id)
    return claimed


def _mark_published(state: State, transaction_ids: Collection[str], at: datetime) -> None:
    for transaction_id in transaction_ids:
        if transaction_id in state.rows and state.published.get(transaction_id) is None:
            state.published[transaction_id] = at


def _republish_pending(state: State) -> int:
    waiting = [i for i, r in state.rows.items() if r.status is Status.PENDING]
    for transaction_id in waiting:
        state.published[transaction_id] = None
    return len(waiting)


def _decide(state: State, records: Sequence[TransactionRecord], at: datetime) -> set[str]:
    decided: set[str] = set()
    for record in records:
        transaction_id = record.transaction.transaction_id
        stored = state.rows.get(transaction_id)
        if stored is None or stored.assessment is None:
            if stored is None:
                state.published[transaction_id] = at
                state.rows[transaction_id] = record
            else:  # the claimed row takes the verdict; what it was submitted as stays
                state.rows[transaction_id] = replace(
                    record,
                    transaction=stored.transaction,
                    received_at=stored.received_at,
                    label=stored.label,
                    error=None,
                    submitted_by=stored.submitted_by,
                )
            decided.add(transaction_id)
            continue
        assert record.assessment is not None
        versions = state.versions.get(transaction_id, ())
        known = [scoring(stored.assessment), *map(scoring, versions)]
        if is_new_scoring(scoring(record.assessment), known):
            state.versions[transaction_id] = (*versions, record.assessment)
    return decided


def _mark_failed(state: State, failures: Mapping[str, str]) -> None:
    for transaction_id, reason in failures.items():
        record = state.rows.get(transaction_id)
        if record is not None and record.status is not Status.SCORED:
            state.rows[transaction_id] = replace(record, status=Status.FAILED, error=reason)


def _set_labels(state: State, labels: Mapping[str, AnalystLabel]) -> set[str]:
    labelled: set[str] = set()
    for transaction_id, label in labels.items():
        record = state.rows.get(transaction_id)
        if record is None:
            continue
        previous = None if record.label is None else record.label.is_fraud
        state.rows[transaction_id] = replace(record, label=label)
        history = state.label_history.get(transaction_id, ())
        state.label_history[transaction_id] = (*history, LabelChange(label, previous))
        labelled.add(transaction_id)
    return labelled


def _mark_replayed(state: State, letters: Collection[str], at: datetime) -> None:
    for letter in letters:
        state.replays[letter] = at


class InMemoryVerdictRepository:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def get_many(self, transaction_ids: Collection[str]) -> dict[str, TransactionRecord]:
        rows = self._staged.state.rows
        return {i: rows[i] for i in transaction_ids if i in rows}

    def claim(self, records: Sequence[TransactionRecord]) -> set[str]:
        claimed = self._staged.write(partial(_claim, records=list(records)))
        assert isinstance(claimed, set)
        return claimed

    def unpublished(self, limit: int, claimed_before: datetime) -> list[TransactionRecord]:
        state = self._staged.state
        waiting = [
            state.rows[i]
            for i, at in state.published.items()
            if at is None and state.rows[i].received_at <= claimed_before
        ]
        waiting.sort(key=lambda r: (r.received_at, r.transaction.transaction_id))
        return waiting[: max(limit, 0)]

    def mark_published(self, transaction_ids: Collection[str], at: datetime) -> None:
        self._staged.write(partial(_mark_published, transaction_ids=list(transaction_ids), at=at))

    def republish_pending(self) -> int:
        count = self._staged.write(_republish_pending)
        assert isinstance(count, int)
        return count

    def decide(self, records: Sequence[TransactionRecord]) -> set[str]:
        at = max((r.recorded_at for r in records if r.recorded_at), default=None)
        decided = self._staged.write(
            partial(_decide, records=list(records), at=at or datetime.now(UTC))
        )
        assert isinstance(decided, set)
        return decided

    def mark_failed(self, failures: Mapping[str, str]) -> None:
        self._staged.write(partial(_mark_failed, failures=dict(failures)))


class InMemoryLabelRepository:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def set_labels(self, labels: Mapping[str, AnalystLabel]) -> set[str]:
        labelled = self._staged.write(partial(_set_labels, labels=dict(labels)))
        assert isinstance(labelled, set)
        return labelled


class InMemoryActivityLog:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def log(self, tallies: Mapping[datetime, Bucket]) -> None:
        self._staged.logged.extend(tallies.items())

    def prune(self, before: datetime) -> int:
        staged = self._staged
        staged.pruned_before = max(staged.pruned_before or before, before)
        return sum(1 for second, _ in staged.activity if second < before)


class InMemoryDeadLetterReplays:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def replayed(self, letters: Collection[str]) -> set[str]:
        return {letter for letter in letters if letter in self._staged.state.replays}

    def mark_replayed(self, letters: Collection[str], at: datetime) -> None:
        self._staged.write(partial(_mark_replayed, letters=list(letters), at=at))


class InMemoryUnitOfWork:
    """Reads a snapshot taken on entry; writes are applied to the shared state on commit only."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._staged: Staged | None = None
        self.committed = False

    def __enter__(self) -> Self:
        with self._store.lock:
            snapshot = self._store.state.overlay()
            activity = list(self._store.activity)
        self._staged = staged = Staged(snapshot, activity)
        self.verdicts = InMemoryVerdictRepository(staged)
        self.labels = InMemoryLabelRepository(staged)
        self.activity = InMemoryActivityLog(staged)
        self.replays = InMemoryDeadLetterReplays(staged)
        self.identities = InMemoryIdentities(staged)
        self.audit = InMemoryAuditLog(staged)
        self.rules = InMemoryRuleRepository(staged)
        self.models = InMemoryModelRegistry(staged)
        self.drift = InMemoryDriftLog(staged)
        self.rule_tallies = InMemoryRuleTallies(staged)
        self.cases = InMemoryCaseRepository(staged)
        self.queues = InMemoryQueueRepository(staged)
        self.lists = InMemoryListRepository(staged)
        self.webhooks = InMemoryWebhookRepository(staged)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._staged is not None:
            self._staged.clear()  # what was not committed is rolled back
            self._staged = None

    def commit(self) -> None:
        staged = self._staged
        if staged is None:
            raise RuntimeError("commit() outside the unit of work's with-block")
        with self._store.lock:
            self._store.apply(staged)
        staged.clear()  # later writes in the block are a new transaction
        self.committed = True


class InMemoryStore(
    InMemoryIdentityQueries,
    InMemoryRuleQueries,
    InMemoryModelQueries,
    InMemoryDriftQueries,
    InMemoryCaseQueries,
    InMemoryListQueries,
    InMemoryWebhookQueries,
):
    """The shared state: call it to open a unit of work (it is a ``UnitOfWorkFactory``); its
    methods are the read side (``VerdictQueries``, ``ActivityQueries``, ``IdentityQueries``,
    ``AuditQueries``, ``RuleQueries``, ``ModelQueries``, ``DriftQueries``, ``CaseQueries``,
    ``ListQueries`` and ``WebhookQueries``)."""

    def __init__(self) -> None:
        self.state = State()
        self.activity: list[tuple[datetime, Bucket]] = []
        self.lock = threading.Lock()

    @property
    def rows(self) -> Mapping[str, TransactionRecord]:
        return self.state.rows

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self)

    def apply(self, staged: Staged) -> None:
        """Apply a unit of work's writes to the state as it is now (the caller holds the lock)."""
        for write in staged.writes:
            write(self.state)
        if staged.pruned_before is not None:
            cutoff = staged.pruned_before
            self.activity = [tally for tally in self.activity if tally[0] >= cutoff]
        self.activity.extend(staged.logged)

    # --- the read side -------------------------------------------------------------

    def get(self, transaction_id: str) -> TransactionRecord | None:
        with self.lock:
            record = self.state.rows.get(transaction_id)
            if record is None:
                return None
            return replace(
                record,
                versions=self.state.versions.get(transaction_id, ()),
                label_history=self.state.label_history.get(transaction_id, ()),
            )

    def recent(
        self,
        limit: int,
        decisions: Collection[Decision] | None = None,
        user_id: str | None = None,
    ) -> list[TransactionRecord]:
        rows = [
            record
            for record in self._committed()
            if (
                decisions is None
                or (record.assessment is not None and record.assessment.decision in decisions)
            )
            and (user_id is None or record.transaction.user_id == user_id)
        ]
        rows.sort(
            key=lambda record: (record.received_at, record.transaction.transaction_id),
            reverse=True,
        )
        return rows[: max(limit, 0)]

    def status_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "failed": 0, **{d.value: 0 for d in Decision}}
        for record in self._committed():
            if record.assessment is not None:
                counts[record.assessment.decision.value] += 1
            else:
                counts[record.status.value] += 1
        return counts

    def label_precision(self, since: datetime) -> dict[str, dict[str, int]]:
        figures = {d.value: {"confirmed": 0, "cleared": 0, "unlabelled": 0} for d in FLAGGED}
        for record in self._committed():
            assessment = record.assessment
            if assessment is None or assessment.decision not in FLAGGED:
                continue
            if record.received_at < since:
                continue
            if record.label is None:
                bucket = "unlabelled"
            else:
                bucket = "confirmed" if record.label.is_fraud else "cleared"
            figures[assessment.decision.value][bucket] += 1
        return figures

    def labelled(self, limit: int | None = None) -> list[TransactionRecord]:
        rows = [record for record in self._committed() if record.label is not None]
        rows.sort(
            key=lambda r: (
                r.label.labelled_at if r.label else r.received_at,
                r.transaction.transaction_id,
            )
        )
        return rows if limit is None else rows[: max(limit, 0)]

    def scored_between(self, since: datetime, until: datetime) -> Iterator[TransactionRecord]:
        return iter(
            [
                record
                for record in self._committed()
                if record.status is Status.SCORED and since <= record.received_at <= until
            ]
        )

    def accepted_since(self, since: datetime) -> Iterator[Transaction]:
        kept = [
            r.transaction
            for r in self._committed()
            if r.transaction.timestamp >= since and r.status is not Status.FAILED
        ]
        kept.sort(key=lambda t: (t.timestamp, t.transaction_id))
        return iter(kept)

    def merchant_counts(self, since: datetime, merchants: Collection[str]) -> dict[str, int]:
        wanted = set(merchants)
        counts: dict[str, int] = {}
        for record in self._committed():
            merchant = record.transaction.merchant
            if merchant in wanted and record.transaction.timestamp >= since:
                counts[merchant] = counts.get(merchant, 0) + 1
        return counts

    def scores_of(
        self, model_version: str, since: datetime
    ) -> list[tuple[float, bool | None, datetime]]:
        found: list[tuple[float, bool | None, datetime]] = []
        with self.lock:
            for transaction_id, record in self.state.rows.items():
                if record.received_at < since or record.assessment is None:
                    continue
                label = None if record.label is None else record.label.is_fraud
                scorings = [record.assessment, *self.state.versions.get(transaction_id, ())]
                found.extend(
                    (scoring.fraud_score, label, record.received_at)
                    for scoring in scorings
                    if scoring.model_version == model_version
                )
        return found

    def challenged(self, champion: str, challenger: str, since: datetime) -> list[Scored]:
        found = []
        with self.lock:
            for transaction_id, versions in self.state.versions.items():
                record = self.state.rows[transaction_id]
                decided = record.assessment
                if decided is None or decided.model_version != champion:
                    continue
                if record.received_at < since:
                    continue
                for version in versions:
                    if version.model_version == challenger:
                        found.append(
                            Scored(
                                decided.fraud_score,
                                decided.decision,
                                version.fraud_score,
                                version.decision,
                                None if record.label is None else record.label.is_fraud,
                            )
                        )
        return found

    def label_events(
        self, since: datetime, *, labelled_since: datetime | None = None
    ) -> list[LabelEvent]:
        given_since = labelled_since or datetime.min.replace(tzinfo=UTC)
        with self.lock:
            given = [
                (
                    change.label.labelled_at,
                    LabelEvent.of(
                        record.transaction, change.label.is_fraud, change.label.labelled_at
                    ),
                )
                for transaction_id, changes in self.state.label_history.items()
                if (record := self.state.rows.get(transaction_id)) is not None
                and record.transaction.timestamp >= since
                for change in changes
                if change.label.labelled_at >= given_since
            ]
        return [event for _, event in sorted(given, key=lambda pair: pair[0])]

    def activity_since(self, since: datetime) -> list[tuple[datetime, Bucket]]:
        with self.lock:
            return [(second, bucket) for second, bucket in self.activity if second >= since]

    def _committed(self) -> list[TransactionRecord]:
        with self.lock:
            return list(self.state.rows.values())
