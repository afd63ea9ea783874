"""The preprocess stage's state store: users' histories written to a compacted topic after
each batch, read back by whoever takes the partition over, exactly as they were."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from fraud.adapters.state_store.changelog import CHECKPOINT_KEY, Changelog
from fraud.application.stream.preprocess import PreprocessStage
from fraud.application.stream.shared_risk import PROGRESS_KEY, Progress, count_key
from fraud.application.stream.stage import StageRunner
from fraud.domain.features import BehaviourProfiles, UserHistory
from fraud.domain.label_risk import day_of
from fraud.domain.ports import AssignedPartition, Topic
from fraud.domain.transaction import Transaction
from tests.factories import ENVELOPES, T0, txn
from tests.fakes import FixedClock
from tests.pipeline_helpers import embedded_pipeline

START = datetime(2026, 3, 1, tzinfo=UTC)


def stream(count: int, users: int, seed: int) -> list[Transaction]:
    """Users buying at random moments, some late (out of order), some bursts."""
    rng = random.Random(seed)
    moments = sorted(rng.uniform(0, 40 * 86_400) for _ in range(count))
    rows = []
    for i, second in enumerate(moments):
        if rng.random() < 0.05:
            second -= rng.uniform(0, 3 * 86_400)  # arrives after later ones
        rows.append(
            Transaction.parse(
                {
                    "transaction_id": f"s{i}",
                    "user_id": f"u{rng.randrange(users)}",
                    "amount": round(rng.choice([0.0, 1.5, 20.0, rng.uniform(1, 900)]), 2),
                    "merchant": f"m{rng.randrange(40)}",
                    "timestamp": (START + timedelta(seconds=second)).isoformat(),
                    "merchant_type": rng.choice(["online", "grocery", "travel", "casino"]),
                    "device_type": rng.choice(["mobile", "desktop", "tablet", "kiosk"]),
                    "location_match": rng.choice([0, 1, 1, 1]),
                },
                received_at=START + timedelta(seconds=second),
                max_skew=timedelta(days=365),
            )
        )
    return rows


def round_trip(history: UserHistory) -> UserHistory:
    return UserHistory.from_snapshot(json.loads(json.dumps(history.snapshot())))


def test_a_users_history_comes_back_from_its_snapshot_exactly() -> None:
    transactions = stream(3_000, users=12, seed=1)
    profiles = BehaviourProfiles()
    profiles.observe(transactions)
    for user, history in profiles.take_changes().items():
        assert history is not None
        assert round_trip(history) == history, user


def test_features_after_a_restore_are_those_of_an_uninterrupted_run() -> None:
    transactions = stream(4_000, users=15, seed=2)
    whole = BehaviourProfiles().observe(transactions)
    for cut in (1, 500, 2_222, 3_999):
        before = BehaviourProfiles()
        before.observe(transactions[:cut])
        after = BehaviourProfiles()
        for user, history in before.take_changes().items():
            assert history is not None
            after.load(user, round_trip(history))
        for (merchant, day, shard), count in before.risk.take_changes().items():
            assert count is not None
            after.risk.load_count(merchant, day, shard, count)
        assert after.observe(transactions[cut:]) == whole[cut:], cut


def changelog_pipeline(model, clock):
    pipeline = embedded_pipeline(model, clock)
    assert isinstance(pipeline.runners[0].stage.store, Changelog)
    return pipeline


def worker_taking_over(pipeline, clock) -> tuple[PreprocessStage, StageRunner]:
    """A new preprocess worker in the same group, its state empty until it restores."""
    pipeline.runners[0].consumer.close()
    stage = PreprocessStage(BehaviourProfiles(), clock, ENVELOPES, Changelog(clock, ENVELOPES))
    runner = StageRunner(
        stage, pipeline.bus.consumer("fraud-preprocess", stage.topics), pipeline.bus
    )
    pipeline.runners[0] = runner
    return stage, runner


def test_each_batch_writes_its_users_then_a_checkpoint_in_their_partition(model, clock) -> None:
    pipeline = changelog_pipeline(model, clock)
    pipeline.submit([txn(1, user_id="ann"), txn(2, minutes=1, user_id="bob")])
    pipeline.run_until_idle()
    records = pipeline.bus.read_topic(Topic.STATE)
    *users, checkpoint = records
    assert {r.key for r in users} == {"ann", "bob"}
    assert checkpoint.key == CHECKPOINT_KEY
    (source,) = {m.partition for m in pipeline.bus.read_topic(Topic.TRANSACTIONS)}
    assert {r.partition for r in records} == {source}
    assert records[-1].value == b"2"  # the next offset of the partition to read
    # Both bought at one merchant that day: its count from this partition, for every worker,
    # then how far the partition is counted.
    counted, progress, idle = pipeline.bus.read_topic(Topic.MERCHANT_COUNTS)
    today = day_of(T0.timestamp())
    assert (counted.key, counted.value) == (count_key("Corner Grocery", today), b"2")
    assert progress.key == idle.key == PROGRESS_KEY
    wire = ENVELOPES.serializer
    assert Progress.read(progress.value, wire) == Progress(offset=2, day=today, idle=False)
    # Read to its end, nothing more on its way: the others need not wait for it.
    assert Progress.read(idle.value, wire) == Progress(offset=2, day=today, idle=True)
    assert {counted.partition, progress.partition, idle.partition} == {source}


def test_a_worker_taking_over_reads_the_store_not_the_transactions(model, clock) -> None:
    pipeline = changelog_pipeline(model, clock)
    pipeline.submit([txn(i, minutes=i, user_id="ann") for i in range(6)])
    pipeline.run_until_idle()
    worker_taking_over(pipeline, clock)
    pipeline.submit([txn(6, minutes=6, user_id="ann")])
    with capture_logs() as logs:
        pipeline.run_until_idle()
    assert pipeline.store.get("t6").features["count_1h"] == 6
    (read,) = [e for e in logs if e["event"].startswith("state ") and "partition" in e]
    assert read["event"] == "state read from the store"
    assert (read["users"], read["checkpoint"], read["committed"]) == (1, 6, 6)


def test_a_batch_written_down_but_not_committed_is_not_counted_twice(model, clock) -> None:
    """The crash came after the state was written and before the offsets were committed:
    the next owner resumes at the checkpoint, past what the store already holds."""
    pipeline = changelog_pipeline(model, clock)
    pipeline.submit([txn(i, minutes=i, user_id="ann") for i in range(3)])
    first = pipeline.runners[0]
    batch = first.consumer.poll_batch(500, 0.0)
    first._publish(first.stage.handle(batch))  # durable, never committed
    stage, _ = worker_taking_over(pipeline, clock)
    pipeline.submit([txn(3, minutes=3, user_id="ann")])
    pipeline.run_until_idle()
    assert pipeline.store.get("t3").features["count_1h"] == 3
    assert len(stage.profiles) == 1


def test_a_forgotten_user_is_deleted_from_the_store(model, clock) -> None:
    pipeline = changelog_pipeline(model, clock)
    stage = pipeline.runners[0].stage
    pipeline.submit([txn(1, user_id="ann")])
    pipeline.run_until_idle()
    stage.profiles.expire(now=START.timestamp() + 10 * 365 * 86_400)
    changes = stage.store.changes(stage.profiles, {}, {}, owned={0}).messages
    assert [(c.key, c.value) for c in changes[Topic.STATE]] == [("ann", None)]
    assert [(c.key, c.value) for c in changes[Topic.MERCHANT_COUNTS]] == [
        (count_key("Corner Grocery", day_of(T0.timestamp())), None),  # expired too
    ]


def test_a_partition_with_no_checkpoint_is_rebuilt_from_its_transactions(model, clock) -> None:
    """A deployment from before the store: what the log retains, once."""
    pipeline = changelog_pipeline(model, clock)
    pipeline.submit([txn(i, minutes=i, user_id="ann") for i in range(4)])
    pipeline.run_until_idle()
    pipeline.bus._logs[Topic.STATE] = [type(log)() for log in pipeline.bus._logs[Topic.STATE]]
    stage, _ = worker_taking_over(pipeline, clock)
    committed = pipeline.bus._groups["fraud-preprocess"].committed[(Topic.TRANSACTIONS, 0)]
    assert stage.restore([AssignedPartition(Topic.TRANSACTIONS, 0, committed)], pipeline.bus) == []
    assert set(stage.profiles.take_changes()) == {"ann"}  # written down with the next batch


def test_clock_after_a_restore_never_runs_ahead(clock: FixedClock) -> None:
    transactions = stream(500, users=100, seed=4)
    before = BehaviourProfiles()
    before.observe(transactions)
    after = BehaviourProfiles()
    for user, history in before.take_changes().items():
        assert history is not None
        after.load(user, history)
    assert after.clock <= before.clock
