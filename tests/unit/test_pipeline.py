from __future__ import annotations

import json
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from fraud.adapters.state_store.changelog import Changelog
from fraud.application.models import FixedModels
from fraud.application.stream import dead_letters
from fraud.application.stream import stage as stage_module
from fraud.application.stream.preprocess import PreprocessStage
from fraud.application.stream.record import RecordStage
from fraud.application.stream.stage import Backoff, StageRunner
from fraud.domain.assessment import Decision, Status, TransactionRecord
from fraud.domain.errors import IdempotencyConflict, MessageRefused, TransientFailure
from fraud.domain.features import BehaviourProfiles
from fraud.domain.ports import OutgoingMessage, Topic
from tests.factories import ENVELOPES, txn
from tests.fakes import FixedClock, RuleModel
from tests.pipeline_helpers import embedded_pipeline


def get(pipeline, transaction_id):
    return pipeline.store.get(transaction_id)


def test_a_submitted_transaction_is_pending_then_scored(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    (submission,) = pipeline.submit([txn(1, amount=5_000.0, location_match=0)])
    assert submission.status is Status.PENDING
    assert get(pipeline, "t1").status is Status.PENDING

    clock.advance(0.25)
    pipeline.run_until_idle()

    record = get(pipeline, "t1")
    assert record.status is Status.SCORED
    assert record.assessment.decision is Decision.DECLINE
    assert record.assessment.model_version == "rule-model-1"
    assert "away from the card holder's location" in record.assessment.reasons
    assert record.latency_ms == pytest.approx(250.0)
    assert record.features["amount"] == 5_000.0


def test_a_batch_is_scored_in_one_model_call(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    pipeline.submit([txn(i, minutes=i, user_id=f"u{i % 7}") for i in range(300)])
    pipeline.run_until_idle()
    assert model.calls == [300]
    assert pipeline.store.status_counts()["pending"] == 0
    assert sum(pipeline.store.status_counts().values()) == 300


def test_resubmitting_the_same_transaction_publishes_nothing_new(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    pipeline.submit([txn(1)])
    pipeline.run_until_idle()
    (again,) = pipeline.submit([txn(1)])
    assert again.duplicate and again.status is Status.SCORED
    assert len(pipeline.bus.read_topic(Topic.TRANSACTIONS)) == 1


def test_reusing_an_id_for_another_transaction_is_a_conflict(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    pipeline.submit([txn(1)])
    with pytest.raises(IdempotencyConflict, match="t1"):
        pipeline.submit([txn(1, amount=99.0)])


def test_a_poison_message_is_dead_lettered_and_the_next_one_still_scored(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    pipeline.bus.publish(
        Topic.TRANSACTIONS,
        [
            OutgoingMessage("mallory", b"{not json", {"transaction_id": "bad-1"}),
            OutgoingMessage("mallory", json.dumps({"user_id": "mallory", "amount": -1}).encode()),
            ENVELOPES.transaction_message(txn(2), clock.now()),
        ],
    )
    pipeline.run_until_idle()

    letters = pipeline.bus.read_topic(Topic.DEAD_LETTERS)
    assert letters[0].value == b"{not json"
    first, second = (letter.headers for letter in letters)
    assert first[dead_letters.STAGE] == "preprocess"
    assert first[dead_letters.SOURCE_TOPIC] == Topic.TRANSACTIONS
    assert first[dead_letters.SOURCE_OFFSET] == "0"
    assert first[dead_letters.ERROR].startswith("value is not JSON")
    assert "amount: must be 0 or more" in second[dead_letters.ERROR]
    assert get(pipeline, "t2").status is Status.SCORED


def test_an_accepted_transaction_that_a_later_stage_cannot_read_is_marked_failed(
    model, clock
) -> None:
    pipeline = embedded_pipeline(model, clock)
    with pipeline.store() as uow:
        uow.verdicts.claim([TransactionRecord(txn(1), clock.now())])
        uow.commit()
    pipeline.bus.publish(
        Topic.PREPROCESSED, [OutgoingMessage("alice", b"[]", {"transaction_id": "t1"})]
    )
    pipeline.run_until_idle()
    record = get(pipeline, "t1")
    assert record.status is Status.FAILED
    assert record.error == "score stage: value is not a JSON object"


def test_replaying_the_same_messages_leaves_one_verdict_each(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    pipeline.submit([txn(i, minutes=i) for i in range(10)])
    pipeline.run_until_idle()
    pipeline.bus.publish(
        Topic.RESULTS,
        [
            OutgoingMessage(m.key, m.value, m.headers)
            for m in pipeline.bus.read_topic(Topic.RESULTS)
        ],
    )
    pipeline.run_until_idle()
    counts = pipeline.store.status_counts()
    assert sum(counts.values()) == 10 and counts["pending"] == 0


def test_a_rescored_transaction_keeps_its_decision_counts_once_and_adds_a_version(
    model, clock
) -> None:
    pipeline = embedded_pipeline(model, clock)
    pipeline.submit([txn(1)])
    pipeline.run_until_idle()
    decided = get(pipeline, "t1")
    tallied = sum(bucket.count for _, bucket in pipeline.store.activity)

    def replay(topic: str) -> None:
        again = [OutgoingMessage(m.key, m.value, m.headers) for m in pipeline.bus.read_topic(topic)]
        pipeline.bus.publish(topic, again)
        pipeline.run_until_idle()

    clock.advance(5)
    replay(Topic.TRANSACTIONS)  # through the same model again: the same scoring, no version
    assert get(pipeline, "t1").versions == ()
    pipeline.runners[1].stage.models = FixedModels(RuleModel("rule-model-2"))  # another model
    clock.advance(5)
    replay(Topic.TRANSACTIONS)
    replay(Topic.RESULTS)  # and every result delivered once more

    record = get(pipeline, "t1")
    assert record.assessment == decided.assessment
    assert [(v.model_version, v.scored_at) for v in record.versions] == [
        ("rule-model-2", decided.assessment.scored_at + timedelta(seconds=10))
    ]
    assert sum(bucket.count for _, bucket in pipeline.store.activity) == tallied == 1


class FlakyRecordStage(RecordStage):
    """Fails like a locked database for the first ``failures`` batches."""

    def __init__(self, store, failures: int) -> None:
        super().__init__(store, ENVELOPES, FixedClock())
        self.failures = failures

    def handle(self, batch):
        if self.failures:
            self.failures -= 1
            raise TransientFailure("database is locked")
        return super().handle(batch)


def test_a_transient_failure_is_retried_never_dead_lettered(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    flaky = FlakyRecordStage(pipeline.store, failures=3)
    pipeline.runners[2].stage = flaky
    pipeline.submit([txn(1)])
    with capture_logs() as logs:
        pipeline.run_until_idle()
    assert get(pipeline, "t1").status is Status.SCORED
    assert pipeline.bus.read_topic(Topic.DEAD_LETTERS) == []
    assert [e["attempt"] for e in logs if e["event"] == "transient failure, retrying batch"] == [
        1,
        2,
        3,
    ]


def test_a_slow_loop_is_logged_with_where_its_time_went(model, clock, monkeypatch) -> None:
    """A stall shows itself in the worker's log, phase by phase, not only as a percentile."""
    monkeypatch.setattr(stage_module, "SLOW_LOOP_S", -1.0)  # every loop counts as slow
    pipeline = embedded_pipeline(model, clock)
    pipeline.submit([txn(1), txn(2)])
    with capture_logs() as logs:
        pipeline.run_until_idle()
    slow = [e for e in logs if e["event"] == "a slow loop of the stage"]
    assert {e["stage"] for e in slow} == {"preprocess", "score", "record"}
    assert all(
        {"poll_ms", "handle_and_publish_ms", "commit_ms"} <= e.keys() and e["messages"] >= 1
        for e in slow
    )


class BrokenScoreModel:
    """A model that cannot score one particular amount (a bug, not a transient failure)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.info = inner.info

    def score(self, features):
        if any(vector["amount"] == 13.0 for vector in features):
            raise ArithmeticError("cannot score 13")
        return self.inner.score(features)

    def attribute(self, features):
        self.score(features)
        return self.inner.attribute(features)


def test_a_message_that_breaks_a_batch_is_isolated_and_the_rest_scored(model, clock) -> None:
    pipeline = embedded_pipeline(BrokenScoreModel(model), clock)
    pipeline.submit([txn(1, minutes=1), txn(2, minutes=2, amount=13.0), txn(3, minutes=3)])
    pipeline.run_until_idle()
    assert get(pipeline, "t1").status is Status.SCORED
    assert get(pipeline, "t3").status is Status.SCORED
    failed = get(pipeline, "t2")
    assert failed.status is Status.FAILED
    assert failed.error == "score stage: ArithmeticError: cannot score 13"


def test_every_stage_logs_the_transaction_id_when_tracing(model, clock, caplog) -> None:
    caplog.set_level("DEBUG", logger="fraud")
    pipeline = embedded_pipeline(model, clock)
    with capture_logs() as logs:
        pipeline.submit([txn(7)])
        pipeline.run_until_idle()
    about = [entry for entry in logs if entry.get("transaction_id") == "t7"]
    assert [entry["event"] for entry in about] == [
        "transaction accepted",
        "features computed",
        "transaction scored",
        "verdict recorded",
    ]


def test_a_rebalance_that_hands_partitions_back_counts_nothing_twice(model, clock) -> None:
    from fraud.domain.ports import AssignedPartition

    pipeline = embedded_pipeline(model, clock)
    pipeline.submit([txn(i, minutes=i) for i in range(5)])
    pipeline.run_until_idle()
    preprocess = pipeline.runners[0].stage
    everything = [AssignedPartition(Topic.TRANSACTIONS, 0, 5)]
    for _ in range(2):  # eager rebalancing: the same assignment, announced again
        assert preprocess.restore(everything, pipeline.bus) == []  # resumes where committed

    pipeline.submit([txn(5, minutes=5)])
    pipeline.run_until_idle()
    assert get(pipeline, "t5").features["count_10m"] == 5


class BrokenStore:
    """A verdict store that fails for good (a read-only disk, say): not a transient failure."""

    def __call__(self):
        raise PermissionError("attempt to write a readonly database")


def test_a_dead_letter_the_record_stage_cannot_handle_is_logged_and_skipped(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock, store=BrokenStore())
    pipeline.bus.publish(Topic.DEAD_LETTERS, [OutgoingMessage("k", b"x", {"transaction_id": "t1"})])
    with capture_logs() as logs:
        assert pipeline.runners[2].run_once() == 1  # handled: committed, the stage goes on
    assert len(pipeline.bus.read_topic(Topic.DEAD_LETTERS)) == 1  # never fed back to itself
    assert pipeline.bus.lag("fraud-record", Topic.DEAD_LETTERS) == 0
    (skipped,) = [e for e in logs if e["event"] == "a dead letter could not be handled; skipped"]
    assert skipped["transaction_id"] == "t1" and "PermissionError" in skipped["error"]


class FlakyCommitConsumer:
    def __init__(self, inner, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def commit(self) -> None:
        if self.failures:
            self.failures -= 1
            raise TransientFailure("coordinator moved")
        self.inner.commit()


def test_a_commit_that_fails_for_a_moment_is_retried(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    runner = pipeline.runners[0]
    runner.consumer = FlakyCommitConsumer(runner.consumer, failures=2)
    pipeline.submit([txn(1)])
    assert runner.run_once() == 1
    assert pipeline.bus.lag("fraud-preprocess", Topic.TRANSACTIONS) == 0


def test_pending_transactions_are_published_again_after_the_bus_was_lost(model, clock) -> None:
    from fraud.application.outbox import OutboxRelay
    from fraud.application.submit import RepublishPending

    first = embedded_pipeline(model, clock)
    first.submit([txn(1), txn(2, minutes=1)])  # accepted, then the process dies
    restarted = embedded_pipeline(model, clock, store=first.store)
    outbox = OutboxRelay(restarted.bus, restarted.store, clock, ENVELOPES)
    assert RepublishPending(restarted.store, outbox)() == 2
    restarted.run_until_idle()
    assert get(restarted, "t1").status is Status.SCORED
    assert get(restarted, "t2").status is Status.SCORED


class RefusingBus:
    """A bus whose broker refuses, on the stages' own topics, any message carrying ``poison``
    (too large); the original, which it took on its way in, fits the dead-letter topic."""

    def __init__(self, inner, poison: bytes) -> None:
        self.inner = inner
        self.poison = poison

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def publish(self, topic, messages) -> None:
        self.publish_all({topic: messages})

    def publish_all(self, messages) -> None:
        for topic, outgoing in messages.items():
            if topic != Topic.DEAD_LETTERS and any(self.poison in m.value for m in outgoing):
                raise MessageRefused("Message size too large")
        self.inner.publish_all(messages)


def test_an_output_the_broker_refuses_dead_letters_its_own_message_only(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    preprocess = pipeline.runners[0]
    preprocess.bus = RefusingBus(pipeline.bus, poison=b'"mallory"')
    pipeline.submit([txn(1), txn(2, user_id="mallory"), txn(3, minutes=1)])
    assert preprocess.run_once() == 3  # never a crash loop: the batch is done
    (letter,) = pipeline.bus.read_topic(Topic.DEAD_LETTERS)
    assert letter.headers["transaction_id"] == "t2"
    assert "its output was refused: Message size too large" in letter.headers[dead_letters.ERROR]
    pipeline.run_until_idle()
    assert get(pipeline, "t1").status is get(pipeline, "t3").status is Status.SCORED
    assert get(pipeline, "t2").status is Status.FAILED


class UnpublishableFor:
    """A bus whose broker is away for the first ``failures`` publishes to ``topic``."""

    def __init__(self, inner, topic: str, failures: int) -> None:
        self.inner = inner
        self.topic = topic
        self.failures = failures

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def publish(self, topic, messages) -> None:
        self.publish_all({topic: messages})

    def publish_all(self, messages) -> None:
        if self.topic in messages and self.failures:
            self.failures -= 1
            raise TransientFailure("publishing failed: broker transport failure")
        self.inner.publish_all(messages)


def test_a_batch_published_again_after_the_broker_was_away_is_counted_once(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    preprocess = pipeline.runners[0]
    preprocess.bus = UnpublishableFor(pipeline.bus, Topic.PREPROCESSED, failures=3)
    pipeline.submit([txn(1), txn(2, minutes=1)])
    assert preprocess.run_once() == 2
    preprocess.bus = pipeline.bus
    pipeline.submit([txn(3, minutes=2)])
    pipeline.run_until_idle()
    assert get(pipeline, "t3").features["count_10m"] == 2  # t1 and t2, each once


class UnreachableOnce(PreprocessStage):
    """Its partitions' history cannot be read the first time (a broker away)."""

    def __init__(self) -> None:
        clock = FixedClock()
        super().__init__(BehaviourProfiles(), clock, ENVELOPES, Changelog(clock, ENVELOPES))
        self.attempts = 0

    def restore(self, assigned, bus):
        self.attempts += 1
        if self.attempts == 1:
            raise TransientFailure("partition 0 could not be read to its end")
        return super().restore(assigned, bus)


def test_state_that_cannot_be_read_back_for_a_moment_is_read_again(model, clock) -> None:
    pipeline = embedded_pipeline(model, clock)
    stage = UnreachableOnce()
    runner = StageRunner(
        stage,
        pipeline.bus.consumer("restoring", stage.topics),
        pipeline.bus,
        poll_timeout=0.0,
        backoff=Backoff(initial=0.001),
    )
    pipeline.submit([txn(1)])
    assert runner.run_once() == 1
    assert stage.attempts == 2
