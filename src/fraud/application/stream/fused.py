"""Every stage in one pass, for a worker that runs them all (``fraud worker --stage all``,
``fraud run``).

It takes a batch of ``transactions``, computes the features, scores and records it in one
pass, and still publishes ``preprocessed-transactions`` and ``fraud-results``: they stay
the contract for observers, the API's verdict follower and split deployments. What it
never does is read its own intermediate messages back: no decode, no validation again, no
poll of a topic it has just written, no hop's wait. The guarantees are the split stages':
the verdicts are stored (first verdict wins, so a redelivered batch decides nothing twice)
before the batch's messages and the state's changes are published, and the offsets of
``transactions`` are committed only once all of it is durable. A transaction this pass
dead-letters is marked failed in the same unit of work as the batch's verdicts.

It consumes ``transactions`` in the preprocess stage's consumer group, so a deployment
moves between split and fused workers without losing its place (once the split workers'
lag is drained).

Traced, each step (preprocess, score, record) is a span of its own in the trace of every
transaction it holds, as on split workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import chain

from fraud.application.stream.preprocess import PreprocessStage
from fraud.application.stream.record import RecordStage, failures_of
from fraud.application.stream.score import ScoreStage
from fraud.application.stream.stage import BatchOutput
from fraud.application.stream.tracing import NO_TRACING, carried_by
from fraud.domain.ports import AssignedPartition, Message, MessageBus, Topic, Tracer


class FusedStage:
    name = "all"
    topics = PreprocessStage.topics
    group = PreprocessStage.name  # whose consumer group it joins

    def __init__(
        self,
        preprocess: PreprocessStage,
        score: ScoreStage,
        record: RecordStage,
        tracer: Tracer = NO_TRACING,
    ) -> None:
        self.preprocess = preprocess
        self.score = score
        self.record = record
        self.tracer = tracer

    def handle(self, batch: Sequence[Message]) -> BatchOutput:
        tracer = self.tracer
        with tracer.batch(self.preprocess.name, carried_by(batch)):
            output, items = self.preprocess.process(batch)
        with tracer.batch(self.score.name, (item.trace for item in items)):
            records = self.score.score(items)
        envelopes = self.preprocess.envelopes
        for item in items:
            output.add(Topic.PREPROCESSED, envelopes.preprocessed_message(*item))
        for record in records:
            output.add(Topic.RESULTS, envelopes.result_message(record))
        letters = output.messages[Topic.DEAD_LETTERS]
        with tracer.batch(self.record.name, chain((r.trace for r in records), carried_by(letters))):
            recorded_at = self.record.clock.now()
            self.record.store(
                [replace(record, recorded_at=recorded_at) for record in records],
                failures_of(letter.headers for letter in letters),
                recorded_at,
            )
        return output

    def warm_up(self, batch_size: int) -> None:
        self.score.warm_up(batch_size)
        self.record.warm_up(batch_size)

    # The preprocess stage's state and pace are the pass's.

    def restore(
        self, assigned: Sequence[AssignedPartition], bus: MessageBus
    ) -> Sequence[AssignedPartition]:
        return self.preprocess.restore(assigned, bus)

    def tick(self, idle: set[tuple[str, int]]) -> BatchOutput:
        return self.preprocess.tick(idle)

    def releasable(self) -> set[tuple[str, int]]:
        return self.preprocess.releasable()

    def wait_for_others(self, timeout: float) -> BatchOutput:
        return self.preprocess.wait_for_others(timeout)

    def close(self) -> None:
        self.preprocess.close()
