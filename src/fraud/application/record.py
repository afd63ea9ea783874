"""Record: store verdicts (one upsert per batch) and mark dead-lettered transactions failed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta

import structlog

from fraud.application.dead_letters import ERROR, STAGE
from fraud.application.envelopes import TRANSACTION_ID_HEADER, Envelopes, MalformedMessage
from fraud.application.metrics import NO_METRICS
from fraud.application.stage import Outbox, tracing
from fraud.domain.assessment import Decision, TransactionRecord
from fraud.domain.monitoring import VerdictSample, tally
from fraud.domain.ports import Clock, Message, PipelineMetrics, Topic, UnitOfWorkFactory

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


class RecordStage:
    name = "record"
    topics = (Topic.RESULTS, Topic.DEAD_LETTERS)

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        envelopes: Envelopes,
        clock: Clock,
        metrics: PipelineMetrics = NO_METRICS,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.clock = clock
        self._batches = 0
        self.envelopes = envelopes
        self.metrics = metrics

    def handle(self, batch: Sequence[Message]) -> Outbox:
        outbox = Outbox()
        verdicts: dict[str, TransactionRecord] = {}
        failures: dict[str, str] = {}
        recorded_at = self.clock.now()
        for message in batch:
            if message.topic == Topic.DEAD_LETTERS:
                transaction_id = message.headers.get(TRANSACTION_ID_HEADER)
                if transaction_id:
                    stage = message.headers.get(STAGE, "unknown")
                    failures[transaction_id] = (
                        f"{stage} stage: {message.headers.get(ERROR, 'no reason given')}"
                    )
                continue
            try:
                record = self.envelopes.read_result(message, recorded_at=recorded_at)
            except MalformedMessage as error:
                outbox.dead_letter(message, self.name, str(error))
                continue
            verdicts[record.transaction.transaction_id] = record  # the last one wins in a batch

        samples = list(verdict_samples(verdicts.values()))
        if verdicts or failures:
            self._batches += 1
            with self.unit_of_work() as uow:
                uow.verdicts.save_verdicts(list(verdicts.values()))
                uow.verdicts.mark_failed(failures)
                uow.activity.log(tally(samples))
                if self._batches % PRUNE_EVERY_BATCHES == 0:
                    uow.activity.prune(recorded_at - ACTIVITY_RETENTION)
                uow.commit()
        if samples:
            self._report(samples)
        trace = tracing(__name__)
        for record in verdicts.values():
            assert record.assessment is not None
            # Flagged verdicts are rare and worth a line; approvals only when tracing,
            # since a line per transaction would cost more than recording it.
            if trace or record.assessment.decision is not Decision.APPROVE:
                (log.debug if record.assessment.decision is Decision.APPROVE else log.info)(
                    "verdict recorded",
                    transaction_id=record.transaction.transaction_id,
                    decision=record.assessment.decision.value,
                    fraud_score=round(record.assessment.fraud_score, 4),
                    latency_ms=round(record.latency_ms or 0.0, 1),
                )
        if verdicts:
            log.debug("batch recorded", verdicts=len(verdicts), failures=len(failures))
        return outbox

    def _report(self, samples: Sequence[VerdictSample]) -> None:
        decisions = Counter(sample.decision.value for sample in samples)
        self.metrics.verdicts_recorded(decisions, [sample.latency_ms for sample in samples])
