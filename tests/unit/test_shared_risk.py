"""Merchant counts shared between partitions: a transaction is handled only once every other
partition has reached its day, so a merchant's figures are what replay gives, whatever order
the partitions are read in and whoever reads them."""

from __future__ import annotations

from datetime import timedelta

from structlog.testing import capture_logs

from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.state_store.changelog import Changelog
from fraud.application.stream.preprocess import PreprocessStage
from fraud.application.stream.shared_risk import PROGRESS_KEY, DayBarrier, Progress, count_key
from fraud.application.stream.stage import Backoff, StageRunner
from fraud.domain.features import FEATURE_NAMES, BehaviourProfiles, replay
from fraud.domain.label_risk import LabelEvent, day_of
from fraud.domain.ports import AssignedPartition, OutgoingMessage, Topic
from fraud.domain.transaction import Transaction
from tests.factories import ENVELOPES, T0, txn
from tests.fakes import FixedClock

DAY_MINUTES = 24 * 60


def three_days(users: int = 12) -> list[Transaction]:
    """Cards buying at a few shared merchants over three days, in time order."""
    return [
        txn(
            i,
            minutes=i * 23,
            user_id=f"card-{(i * 7) % users}",
            merchant=f"shop-{i % 4}",
        )
        for i in range(3 * DAY_MINUTES // 23)
    ]


def preprocess_on(bus: MemoryBus, clock: FixedClock, group: str = "fraud-preprocess"):
    stage = PreprocessStage(BehaviourProfiles(), clock, ENVELOPES, Changelog(clock, ENVELOPES))
    runner = StageRunner(
        stage,
        bus.consumer(group, stage.topics),
        bus,
        batch_size=10_000,
        poll_timeout=0.0,
        backoff=Backoff(initial=0.001, maximum=0.01),
    )
    return stage, runner


def run_until_idle(runner: StageRunner, rounds: int = 100) -> None:
    for _ in range(rounds):
        if runner.run_once() == 0:
            return
    raise AssertionError("the stage did not settle")


def features_of(bus: MemoryBus) -> dict[str, list[float]]:
    found = {}
    for message in bus.read_topic(Topic.PREPROCESSED):
        preprocessed = ENVELOPES.read_preprocessed(message)
        found[preprocessed.transaction.transaction_id] = list(preprocessed.features.values)
    return found


def test_partitions_read_one_after_another_give_the_merchant_figures_replay_gives() -> None:
    """The memory bus hands out partition 0 whole, then 1, then 2: without waiting, partition
    0's second day would count only its own first day's purchases at each merchant."""
    clock = FixedClock(T0 + timedelta(days=5))
    bus = MemoryBus(partitions=3)
    transactions = three_days()
    confirmed = [t for t in transactions[:40] if t.merchant == "shop-1"]
    labels = [LabelEvent.of(t, True, t.timestamp + timedelta(hours=3)) for t in confirmed]
    bus.publish(Topic.LABELS, [ENVELOPES.label_message(label) for label in labels])
    bus.publish(
        Topic.TRANSACTIONS, [ENVELOPES.transaction_message(t, clock.now()) for t in transactions]
    )
    assert len({m.partition for m in bus.read_topic(Topic.TRANSACTIONS)}) == 3

    _, runner = preprocess_on(bus, clock)
    with capture_logs() as logs:
        run_until_idle(runner)

    waited = [(e["partition"], e["day"]) for e in logs if e["event"].startswith("a partition wai")]
    ended = [e for e in logs if e["event"] == "a partition's wait at the day barrier ended"]
    assert waited and sorted(waited) == sorted((e["partition"], e["day"]) for e in ended)
    assert all(e["waited_ms"] == 0.0 for e in ended)  # the fixed clock never moves
    streamed = features_of(bus)
    expected = replay(transactions, labels)
    assert len(streamed) == len(transactions)
    for transaction, vector in zip(transactions, expected, strict=True):
        assert streamed[transaction.transaction_id] == list(vector.values), transaction
    last_day = [streamed[t.transaction_id] for t in transactions[-20:]]
    frauds_7d = FEATURE_NAMES.index("merchant_frauds_7d")
    assert any(row[frauds_7d] for row in last_day)  # the labels did reach the figures


def test_a_worker_taking_over_reads_every_partitions_counts_from_the_shared_topic() -> None:
    clock = FixedClock(T0 + timedelta(days=5))
    bus = MemoryBus(partitions=3)
    transactions = three_days()
    first_two_days = [t for t in transactions if t.timestamp < T0 + timedelta(days=2)]
    last_day = transactions[len(first_two_days) :]
    bus.publish(
        Topic.TRANSACTIONS, [ENVELOPES.transaction_message(t, clock.now()) for t in first_two_days]
    )
    _, first = preprocess_on(bus, clock)
    run_until_idle(first)
    first.consumer.close()

    _, successor = preprocess_on(bus, clock)
    bus.publish(
        Topic.TRANSACTIONS, [ENVELOPES.transaction_message(t, clock.now()) for t in last_day]
    )
    run_until_idle(successor)

    streamed = features_of(bus)
    for transaction, vector in zip(transactions, replay(transactions), strict=True):
        assert streamed[transaction.transaction_id] == list(vector.values), transaction


def test_counts_whose_progress_was_never_written_are_not_taken() -> None:
    """A worker that crashed between a batch's counts and its progress record: that batch was
    never committed, and whoever handles it again writes its counts again."""
    clock = FixedClock(T0 + timedelta(days=5))
    bus = MemoryBus(partitions=2)
    day = day_of(T0.timestamp())
    bus.publish(
        Topic.MERCHANT_COUNTS,
        [
            OutgoingMessage(count_key("shop", day), b"4", partition=1),
            Progress(offset=4, day=day, idle=False).message(1, ENVELOPES.serializer),
            OutgoingMessage(count_key("shop", day), b"9", partition=1),  # no progress after it
        ],
    )
    stage, _ = preprocess_on(bus, clock)
    stage.restore([AssignedPartition(Topic.TRANSACTIONS, 0, 0)], bus)  # 1 is another's
    tomorrow = T0.timestamp() + 86_400
    assert stage.profiles.risk.figures("u", "shop", tomorrow).merchant_transactions == (4, 4, 4, 4)
    assert stage.shared is not None
    assert stage.shared.progress[1] == Progress(offset=4, day=day, idle=False)


def test_a_partition_ahead_waits_and_the_one_furthest_behind_never_does() -> None:
    barrier = DayBarrier(3)
    barrier.reach(0, 10)
    barrier.reach(1, 12)
    barrier.reach(2, 11)
    assert barrier.allows(0, 10) and barrier.allows(0, 11)
    assert not barrier.allows(1, 12)  # partition 0 is still on day 10
    assert barrier.allows(2, 10)
    barrier.set_idle(0, True)  # read to its end: it holds nothing more of any day
    assert not barrier.allows(1, 12)  # partition 2 is on day 11
    barrier.reach(2, 12)
    assert barrier.allows(1, 12)
    barrier.set_idle(0, False)  # something came
    assert not barrier.allows(1, 12)


def test_progress_reads_back_what_was_written() -> None:
    for progress in (Progress(7, 19_000, True), Progress(0, float("-inf"), False)):
        message = progress.message(2, ENVELOPES.serializer)
        assert (message.key, message.partition) == (PROGRESS_KEY, 2)
        assert Progress.read(message.value or b"", ENVELOPES.serializer) == progress
    written = Progress(7, 19_000, True).message(2, ENVELOPES.serializer).value or b""
    assert ENVELOPES.serializer.loads(written) == {"offset": 7, "day": 19_000, "idle": True}


def test_a_batch_handled_again_after_its_output_was_lost_writes_its_counts_again() -> None:
    """The stage loop handles a batch again when publishing its output failed: the counts it
    changed must go out with the second attempt, the same, and be counted once."""
    clock = FixedClock(T0 + timedelta(days=5))
    bus = MemoryBus()
    bus.publish(
        Topic.TRANSACTIONS,
        [ENVELOPES.transaction_message(t, clock.now()) for t in three_days()[:5]],
    )
    stage, runner = preprocess_on(bus, clock)
    batch = runner.consumer.poll_batch(100, 0.0)
    stage.handle(batch)  # its outbox never published
    again = stage.handle(batch).messages[Topic.MERCHANT_COUNTS]
    counts = {m.key: m.value for m in again if m.key != PROGRESS_KEY}
    day = day_of(T0.timestamp())
    assert counts == {count_key(f"shop-{i}", day): b"1" for i in range(4)} | {
        count_key("shop-0", day): b"2"
    }


def test_a_worker_taking_over_after_a_batch_that_held_messages_back_loses_none_of_them() -> None:
    """The state's checkpoint says how far a partition was handled: never past a message
    held back, or the next owner would resume beyond it and it would never be handled."""
    clock = FixedClock(T0 + timedelta(days=5))
    bus = MemoryBus(partitions=3)
    transactions = three_days()
    bus.publish(
        Topic.TRANSACTIONS, [ENVELOPES.transaction_message(t, clock.now()) for t in transactions]
    )
    first_stage, first = preprocess_on(bus, clock)
    batch = first.consumer.poll_batch(10_000, 0.0)
    outbox = first_stage.handle(batch)
    assert outbox.held  # partition 0's second day waits for the others
    first._publish(outbox)  # durable; the worker dies before it commits
    first.consumer.close()

    _, successor = preprocess_on(bus, clock)
    run_until_idle(successor)

    streamed = features_of(bus)
    assert set(streamed) == {t.transaction_id for t in transactions}
    for transaction, vector in zip(transactions, replay(transactions), strict=True):
        assert streamed[transaction.transaction_id] == list(vector.values), transaction
