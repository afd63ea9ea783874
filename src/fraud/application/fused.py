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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fraud.application.preprocess import PreprocessStage
from fraud.application.record import RecordStage, failures_of
from fraud.application.score import ScoreStage
from fraud.application.stage import BatchOutput
from fraud.domain.ports import AssignedPartition, Message, MessageBus, Topic


class FusedStage:
    name = "all"
    topics = PreprocessStage.topics
    group = PreprocessStage.name  # whose consumer group it joins

    def __init__(self, preprocess: PreprocessStage, score: ScoreStage, record: RecordStage) -> None:
        self.preprocess = preprocess
        self.score = score
        self.record = record

    def handle(self, batch: Sequence[Message]) -> BatchOutput:
        output, items = self.preprocess.process(batch)
        records = self.score.score(items)
        envelopes = self.preprocess.envelopes
        for item in items:
            output.add(
                Topic.PREPROCESSED,
                envelopes.preprocessed_message(
                    item.transaction, item.received_at, item.features, item.preprocessed_at
                ),
            )
        for record in records:
            output.add(Topic.RESULTS, envelopes.result_message(record))
        recorded_at = self.record.clock.now()
        letters = failures_of(letter.headers for letter in output.messages[Topic.DEAD_LETTERS])
        self.record.store(
            [replace(record, recorded_at=recorded_at) for record in records], letters, recorded_at
        )
        return output

    def warm_up(self, batch_size: int) -> None:
        self.score.warm_up(batch_size)

    # The preprocess stage's state and pace are the pass's.

    def restore(
        self, assigned: Sequence[AssignedPartition], bus: MessageBus
    ) -> Sequence[AssignedPartition]:
        return self.preprocess.restore(assigned, bus)

    def tick(self, idle: set[tuple[str, int]]) -> BatchOutput:
        return self.preprocess.tick(idle)

    def releasable(self) -> set[tuple[str, int]]:
        return self.preprocess.releasable()

    def close(self) -> None:
        self.preprocess.close()
