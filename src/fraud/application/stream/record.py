"""Record: decide (the first verdict of a transaction is its decision, one statement per
batch), keep later scorings as versions, and mark dead-lettered transactions failed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from fraud.application.metrics import NO_METRICS
from fraud.application.stream.dead_letters import ERROR, STAGE
from fraud.application.stream.envelopes import TRANSACTION_ID_HEADER, Envelopes, MalformedMessage
from fraud.application.stream.stage import BatchOutput, tracing
from fraud.application.tallies import Tallying
from fraud.domain.assessment import Decision, TransactionRecord, with_shadows
from fraud.domain.monitoring import VerdictSample, tally
from fraud.domain.ports import (
    Clock,
    Message,
    PipelineMetrics,
    Topic,
    UnitOfWorkFactory,
)
from fraud.domain.ports.tracing import trace_id_of

log = structlog.get_logger(__name__)


# The dashboard shows five minutes of activity; an hour of tallies is plenty to keep.
ACTIVITY_RETENTION = timedelta(hours=1)
PRUNE_EVERY_BATCHES = 500


def verdict_samples(records: Iterable[TransactionRecord]) -> Iterator[VerdictSample]:
    for record in records:
        assessment = record.assessment
        assert assessment is not None  # results are scored records
        yield VerdictSample(
            assessment.scored_at,
            assessment.decision,
            assessment.fraud_score,
            record.latency_ms or 0.0,
        )


def failures_of(headers: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """What dead letters say of their transactions: each one's id and why it failed."""
    failures = {}
    for letter in headers:
        transaction_id = letter.get(TRANSACTION_ID_HEADER)
        if transaction_id:
            stage = letter.get(STAGE, "unknown")
            failures[transaction_id] = f"{stage} stage: {letter.get(ERROR, 'no reason given')}"
    return failures


def _first_of_each(results: Sequence[TransactionRecord], ids: set[str]) -> list[TransactionRecord]:
    """The first result of each of these transactions: the one that became its decision."""
    first: dict[str, TransactionRecord] = {}
    for record in results:
        transaction_id = record.transaction.transaction_id
        if transaction_id in ids:
            first.setdefault(transaction_id, record)
    return list(first.values())


class RecordStage:
    name = "record"
    topics = (Topic.RESULTS, Topic.DEAD_LETTERS)

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        envelopes: Envelopes,
        clock: Clock,
        metrics: PipelineMetrics = NO_METRICS,
        tallies: Sequence[Tallying[Any]] = (),
    ) -> None:
        self.unit_of_work = unit_of_work
        self.tallies = tuple(tallies)
        self.clock = clock
        self._batches = 0
        self.envelopes = envelopes
        self.metrics = metrics

    def warm_up(self, batch_size: int) -> None:
        """Before the first batch: what each tally reads to count one, and the drift report
        its first flush checks (the first transactions waited 50 to 90 ms for the queues,
        the rules and the model cards)."""
        for kept in self.tallies:
            try:
                kept.warm_up()
            except Exception as failure:  # the first batch reads it then, and says why not
                log.warning("a tally could not be warmed up", error=str(failure))

    def handle(self, batch: Sequence[Message]) -> BatchOutput:
        output = BatchOutput()
        recorded_at = self.clock.now()
        results: list[TransactionRecord] = []
        failures: dict[str, str] = {}
        for message in batch:
            if message.topic == Topic.DEAD_LETTERS:
                failures.update(failures_of([message.headers]))
                continue
            try:
                results.append(self.envelopes.read_result(message, recorded_at=recorded_at))
            except MalformedMessage as error:
                output.dead_letter(message, self.name, str(error))
        self.store(results, failures, recorded_at)
        return output

    def store(
        self,
        results: Sequence[TransactionRecord],
        failures: Mapping[str, str],
        recorded_at: datetime,
    ) -> list[TransactionRecord]:
        """Decide ``results`` (a redelivered one decides nothing) and mark ``failures``
        failed, in one unit of work with the dashboard's tallies; returns what was decided.
        What ``handle`` does with what it reads, and a worker running every stage with what
        it scored."""
        if not (results or failures):
            return []
        self._batches += 1
        decided = self._write(results, failures, recorded_at)
        if decided:
            self._report(decided)
        if results:
            log.debug(
                "batch recorded",
                results=len(results),
                decided=len(decided),
                failures=len(failures),
            )
        return decided

    def _write(
        self,
        results: Sequence[TransactionRecord],
        failures: Mapping[str, str],
        recorded_at: datetime,
    ) -> list[TransactionRecord]:
        with self.unit_of_work() as uow:
            # A challenger's scorings come after the champion's: versions, never decisions.
            now_decided = uow.verdicts.decide(with_shadows(results))
            uow.verdicts.mark_failed(failures)
            # A redelivered or replayed result decides nothing and is counted nowhere.
            decided = _first_of_each(results, now_decided)
            uow.activity.log(tally(list(verdict_samples(decided))))
            if self._batches % PRUNE_EVERY_BATCHES == 0:
                uow.activity.prune(recorded_at - ACTIVITY_RETENTION)
            counted = [kept.count(decided) for kept in self.tallies]
            flushed = [
                kept.flush_if_due(uow, counts)
                for kept, counts in zip(self.tallies, counted, strict=True)
            ]
            uow.commit()
        for kept, counts, written in zip(self.tallies, counted, flushed, strict=True):
            kept.committed(counts, written)
            if written:
                self._check(kept)
        return decided

    def _report(self, decided: Sequence[TransactionRecord]) -> None:
        samples = list(verdict_samples(decided))
        decisions = Counter(sample.decision.value for sample in samples)
        self.metrics.verdicts_recorded(decisions, [sample.latency_ms for sample in samples])
        trace = tracing(__name__)
        for record in decided:
            assert record.assessment is not None
            # Flagged verdicts are rare and worth a line; approvals only when tracing,
            # since a line per transaction would cost more than recording it.
            if trace or record.assessment.decision is not Decision.APPROVE:
                (log.debug if record.assessment.decision is Decision.APPROVE else log.info)(
                    "verdict recorded",
                    transaction_id=record.transaction.transaction_id,
                    trace_id=trace_id_of(record.trace),
                    decision=record.assessment.decision.value,
                    fraud_score=round(record.assessment.fraud_score, 4),
                    latency_ms=round(record.latency_ms or 0.0, 1),
                )

    def _check(self, tally: Tallying[Any]) -> None:
        """What a tally says, for its warning: a failure to read it never fails a batch
        already recorded."""
        try:
            tally.check()
        except Exception as failure:
            log.warning("a tally could not be checked", error=str(failure))
