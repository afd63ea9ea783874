"""The Kafka adapter's answers when the broker is away: something to retry, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from fraud.adapters.kafka import bus as bus_module
from fraud.adapters.kafka import consumer as consumer_module
from fraud.adapters.kafka.bus import KafkaBus
from fraud.adapters.kafka.consumer import KafkaMessageConsumer
from fraud.adapters.kafka.settings import producer_config
from fraud.domain.errors import MessageRefused, TransientFailure
from fraud.domain.ports import AssignedPartition, Message, OutgoingMessage, Topic


class CoordinatorLoading:
    """A librdkafka consumer whose group coordinator, a broker just back, cannot yet say
    what the group committed: ``committed`` times out ``failures`` times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.assigned: list[TopicPartition] = []

    def subscribe(self, topics, **callbacks) -> None:
        self.callbacks = callbacks

    def committed(self, partitions, timeout):
        if self.failures:
            self.failures -= 1
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return [TopicPartition(p.topic, p.partition, 7) for p in partitions]

    def assign(self, partitions) -> None:
        self.assigned = list(partitions)

    def get_watermark_offsets(self, partition, timeout=None, cached=False):
        return 0, 7  # read to its end: idle from the start


def test_an_assignment_waits_for_the_committed_offsets_instead_of_stopping_the_stage(
    monkeypatch,
) -> None:
    monkeypatch.setattr(consumer_module, "COMMITTED_RETRY_MAX_S", 0.0)
    raw = CoordinatorLoading(failures=3)
    consumer = KafkaMessageConsumer(raw, [Topic.TRANSACTIONS], prefix="p.")
    told: list[list[AssignedPartition]] = []
    consumer.on_assigned(lambda assigned: told.append(list(assigned)) or [])
    raw.callbacks["on_assign"](raw, [TopicPartition("p.transactions", 0)])
    assert told == [[AssignedPartition(Topic.TRANSACTIONS, 0, 7)]]
    assert raw.failures == 0


@pytest.mark.slow  # librdkafka gives up on the absent broker after its 10 s timeout
def test_reading_state_while_the_broker_is_away_is_a_failure_to_retry() -> None:
    bus = KafkaBus("127.0.0.1:1", client_id="fraud-tests")  # nothing listens on port 1
    try:
        with pytest.raises(TransientFailure, match="cannot look up behaviour-state's offsets"):
            list(bus.read_partition(Topic.STATE, 0))
    finally:
        bus.close()


class LeaderEpochBehind:
    """A group-less reader asking for offsets after a failover: the node it asks came back
    with an older leader epoch than the client learnt meanwhile, ``failures`` times."""

    def __init__(self, failures: int, code: int = KafkaError.UNKNOWN_LEADER_EPOCH) -> None:
        self.failures, self.code = failures, code
        self.asked = 0
        self.closed = False

    def offsets_for_times(self, partitions, timeout):
        self.asked += 1
        if self.failures:
            self.failures -= 1
            raise KafkaException(KafkaError(self.code))
        return [TopicPartition(p.topic, p.partition, -1) for p in partitions]  # none since

    def close(self) -> None:
        self.closed = True


def test_reading_back_after_a_failover_asks_again_until_the_leader_settles() -> None:
    reader = LeaderEpochBehind(failures=2)
    since = datetime(2026, 1, 1, tzinfo=UTC)
    read = bus_module._read_range(reader, "p.", "transactions", 1, since, until_offset=10)
    assert list(read) == []
    assert reader.asked == 3 and reader.closed


def test_a_leader_that_never_settles_is_a_failure_to_retry(monkeypatch) -> None:
    monkeypatch.setattr(bus_module, "WATERMARK_TIMEOUT_S", 0.3)
    reader = LeaderEpochBehind(failures=1_000)
    since = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(TransientFailure, match=r"cannot look up p\.transactions\[1\]"):
        bus_module._read_range(reader, "p.", "transactions", 1, since, until_offset=10)
    assert 2 <= reader.asked < 1_000 and reader.closed


def test_a_broker_away_while_reading_back_is_a_failure_to_retry_at_once() -> None:
    reader = LeaderEpochBehind(failures=1, code=KafkaError._TRANSPORT)
    since = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(TransientFailure):
        bus_module._read_range(reader, "p.", "transactions", 1, since, until_offset=10)
    assert reader.asked == 1 and reader.closed


class Pausing(CoordinatorLoading):
    """A librdkafka consumer that remembers which partitions are paused, as librdkafka does,
    across a rebalance."""

    def __init__(self) -> None:
        super().__init__(failures=0)
        self.paused: set[tuple[str, int]] = set()

    def pause(self, partitions) -> None:
        self.paused |= {(p.topic, p.partition) for p in partitions}

    def resume(self, partitions) -> None:
        self.paused -= {(p.topic, p.partition) for p in partitions}

    def seek(self, partition) -> None:
        pass

    def position(self, partitions):
        return [TopicPartition(p.topic, p.partition, -1001) for p in partitions]  # unknown


def test_a_held_partition_is_not_left_paused_when_it_is_revoked() -> None:
    """Handed back to the same member by the rebalance, it would never be fetched again, and
    every partition waiting on its day would wait for ever."""
    raw = Pausing()
    consumer = KafkaMessageConsumer(raw, [Topic.TRANSACTIONS], prefix="p.")
    held = Message(Topic.TRANSACTIONS, 2, 40, "u", b"{}")
    consumer.rewind([held])
    assert raw.paused == {("p.transactions", 2)}
    raw.callbacks["on_revoke"](raw, [TopicPartition("p.transactions", 2)])
    assert raw.paused == set()


class Seeking(Pausing):
    """... that remembers where each partition's fetching was sent, and fetches nothing;
    it stands where ``standing`` says (one past the last message it handed out)."""

    def __init__(self, standing: dict[tuple[str, int], int] | None = None) -> None:
        super().__init__()
        self.sought: dict[tuple[str, int], int] = {}
        self.standing = standing or {}

    def seek(self, partition) -> None:
        self.sought[(partition.topic, partition.partition)] = partition.offset

    def position(self, partitions):
        return [
            TopicPartition(p.topic, p.partition, self.standing.get((p.topic, p.partition), -1001))
            for p in partitions
        ]

    def consume(self, count, timeout):
        return []

    def poll(self, timeout):
        return None


def test_held_messages_are_kept_not_fetched_again_and_come_back_in_order() -> None:
    """A paused partition's held messages wait here (fetching resumes after them), come
    first once resumed, and a second hold takes back what was not handed out yet."""
    raw = Seeking()
    consumer = KafkaMessageConsumer(raw, [Topic.TRANSACTIONS], prefix="p.")
    held = [Message(Topic.TRANSACTIONS, 2, offset, "u", b"{}") for offset in (40, 41, 42)]
    consumer.rewind(held[::-1])
    assert raw.sought == {("p.transactions", 2): 43}
    assert consumer.poll_batch(10, 0.0) == []  # paused, nothing fetched
    consumer.resume({(Topic.TRANSACTIONS, 2)})
    assert consumer.poll_batch(2, 0.0) == held[:2]
    consumer.rewind(held[1:2])  # 42 was not handed out yet: it waits behind 41
    assert consumer.poll_batch(10, 0.0) == []
    consumer.resume({(Topic.TRANSACTIONS, 2)})
    assert consumer.poll_batch(10, 0.0) == held[1:]
    assert consumer._pending == {("p.transactions", 2): 43}


def test_a_held_partition_is_not_sought_where_the_client_already_stands() -> None:
    """The held messages are the last the client handed out of their partition (the stages
    hold a partition from a message on), so it goes on fetching where it stands: a seek on a
    paused partition cost librdkafka a second before it fetched again, the first second's
    stall of every start (measured with `fraud bench`'s per-second timeline)."""
    raw = Seeking(standing={("p.transactions", 2): 43})
    consumer = KafkaMessageConsumer(raw, [Topic.TRANSACTIONS], prefix="p.")
    held = [Message(Topic.TRANSACTIONS, 2, offset, "u", b"{}") for offset in (41, 42)]
    consumer.rewind(held)
    assert raw.sought == {}
    consumer.resume({(Topic.TRANSACTIONS, 2)})
    assert consumer.poll_batch(10, 0.0) == held


class Raw:
    """A fetched message as librdkafka hands it over."""

    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._where = (topic, partition, offset)

    def error(self):
        return None

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]

    def key(self) -> bytes:
        return b"u"

    def value(self) -> bytes:
        return b"{}"

    def headers(self):
        return None

    def timestamp(self):
        return (0, -1)


class Fetching(Seeking):
    """... that goes on fetching what ``fetched`` holds, unless its partition is paused."""

    def __init__(self, standing: dict[tuple[str, int], int], fetched: list[Raw]) -> None:
        super().__init__(standing)
        self.fetched = fetched

    def consume(self, count, timeout):
        ready = [m for m in self.fetched if (m.topic(), m.partition()) not in self.paused]
        taken, self.fetched = ready[:count], [m for m in self.fetched if m not in ready[:count]]
        return taken


def test_a_held_partition_is_not_paused_and_what_it_fetched_meanwhile_waits_behind(
    monkeypatch,
) -> None:
    """Pausing and resuming cost librdkafka fetch round trips (a resumed partition's next
    message 116 ms late in isolation, 350 to 850 ms in the bench's first second), so a held
    partition is fetched on and what comes of it waits here, in order, until it is resumed;
    another partition's messages are handed out meanwhile. Only past a bound on what it
    holds is it paused."""
    monkeypatch.setattr(consumer_module, "HOLD_WITHOUT_PAUSE", 5)
    fetched = [Raw("p.transactions", 2, offset) for offset in (43, 44)]
    fetched.append(Raw("p.transactions", 3, 7))
    raw = Fetching({("p.transactions", 2): 43}, fetched)
    consumer = KafkaMessageConsumer(raw, [Topic.TRANSACTIONS], prefix="p.")
    held = [Message(Topic.TRANSACTIONS, 2, offset, "u", b"{}") for offset in (41, 42)]
    consumer.rewind(held)
    assert raw.paused == set()
    assert [(m.partition, m.offset) for m in consumer.poll_batch(10, 0.0)] == [(3, 7)]
    assert consumer._pending[("p.transactions", 2)] == 41  # nothing of it handed out
    raw.fetched = [Raw("p.transactions", 2, offset) for offset in (45, 46)]
    assert consumer.poll_batch(10, 0.0) == []
    assert raw.paused == {("p.transactions", 2)}  # five held: the bound
    consumer.resume({(Topic.TRANSACTIONS, 2)})
    assert raw.paused == set()
    resumed = consumer.poll_batch(10, 0.0) + consumer.poll_batch(10, 0.0)
    assert [(m.partition, m.offset) for m in resumed] == [(2, o) for o in range(41, 47)]
    assert consumer._pending[("p.transactions", 2)] == 47


def test_a_message_no_broker_took_in_time_is_a_failure_to_retry_not_a_refusal() -> None:
    """librdkafka gives up on a message after ``message.timeout.ms`` and does not call that
    retriable; but the outbox relay that sent it must try again once the broker is back, not
    stop for good (as it once did, after a broker outage)."""
    bus = KafkaBus("127.0.0.1:1", client_id="fraud-tests", delivery_timeout_s=5.0)
    bus._producer = Producer(
        {**producer_config("127.0.0.1:1", "fraud-tests"), "message.timeout.ms": 300}
    )
    outgoing = OutgoingMessage(key="u", value=b"{}")
    with pytest.raises(TransientFailure, match="Message timed out") as raised:
        bus.publish(Topic.TRANSACTIONS, [outgoing])
    assert not isinstance(raised.value, MessageRefused)


class NeverFetched(CoordinatorLoading):
    """... whose partitions are empty and were never fetched from: the client keeps no
    watermark for them, and the broker says where their end is when asked."""

    def __init__(self) -> None:
        super().__init__(failures=0)
        self.asked = 0

    def get_watermark_offsets(self, partition, timeout=None, cached=False):
        if cached:
            return -1001, -1001  # OFFSET_INVALID: nothing fetched, nothing known
        self.asked += 1
        return 7, 7


def test_an_empty_partition_stays_idle_between_two_asks_of_the_broker() -> None:
    """Idle from the start and at every look after, asking the broker once: it flipped to
    busy at the next look (the client knew no end) and back two seconds later, and every
    other worker held its first transactions of a day meanwhile."""
    raw = NeverFetched()
    consumer = KafkaMessageConsumer(raw, [Topic.TRANSACTIONS], prefix="p.")
    raw.callbacks["on_assign"](raw, [TopicPartition("p.transactions", 0)])
    looks = [consumer.idle_partitions() for _ in range(3)]
    assert looks == [{(Topic.TRANSACTIONS, 0)}] * 3
    assert raw.asked == 1  # at the assignment; the looks after use its answer


def test_an_answer_is_not_trusted_past_what_was_handed_out_since() -> None:
    """The broker said the end was at 7; once messages up to 9 were handed out the answer
    is out of date, and the partition is not idle until it is asked again."""
    raw = NeverFetched()
    consumer = KafkaMessageConsumer(raw, [Topic.TRANSACTIONS], prefix="p.")
    raw.callbacks["on_assign"](raw, [TopicPartition("p.transactions", 0)])
    consumer._next[("p.transactions", 0)] = 9  # as poll_batch leaves it after offset 8
    assert consumer.idle_partitions() == set()
