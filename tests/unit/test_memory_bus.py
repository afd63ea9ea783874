from __future__ import annotations

import itertools
import threading

import pytest

from fraud.adapters.memory.bus import MemoryBus
from fraud.domain.ports import OutgoingMessage
from tests.bus_contract import BusContract, messages

_names = itertools.count()


class TestMemoryBusContract(BusContract):
    @pytest.fixture
    def bus(self) -> MemoryBus:
        return MemoryBus(topics=["events", "other-events"], partitions=3)

    @pytest.fixture
    def topic(self) -> str:
        return "events"

    @pytest.fixture
    def other_topic(self) -> str:
        return "other-events"

    @pytest.fixture
    def group(self) -> str:
        return f"group-{next(_names)}"


def test_one_key_always_lands_on_one_partition() -> None:
    bus = MemoryBus(topics=["events"], partitions=4)
    bus.publish("events", messages(10, key="alice") + messages(10, key="bob"))
    by_key: dict[str, set[int]] = {}
    for message in bus.read_topic("events"):
        by_key.setdefault(message.key, set()).add(message.partition)
    assert all(len(partitions) == 1 for partitions in by_key.values())


def test_a_waiting_poll_wakes_when_a_message_arrives() -> None:
    bus = MemoryBus(topics=["events"])
    consumer = bus.consumer("g", ["events"])
    threading.Timer(0.1, bus.publish, args=("events", [OutgoingMessage("k", b"v")])).start()
    assert [m.value for m in consumer.poll_batch(10, 5.0)] == [b"v"]


def test_lag_counts_what_a_group_has_not_committed() -> None:
    bus = MemoryBus(topics=["events"])
    bus.publish("events", messages(5))
    consumer = bus.consumer("g", ["events"])
    consumer.poll_batch(2, 0.1)
    assert bus.lag("g", "events") == 5
    consumer.commit()
    assert bus.lag("g", "events") == 3


def test_unknown_topics_are_refused() -> None:
    with pytest.raises(KeyError, match="unknown topic"):
        MemoryBus(topics=["events"]).publish("nope", messages(1))


def test_retention_keeps_what_is_not_committed_and_only_the_latest_of_what_is() -> None:
    bus = MemoryBus(topics=["events"], retained=10)
    reader, idle = bus.consumer("reader", ["events"]), bus.consumer("idle", ["events"])
    bus.publish("events", messages(100))
    assert len(reader.poll_batch(100, 0)) == 100
    reader.commit()
    assert bus.size("events") == 100  # the idle group has committed nothing: all kept
    assert len(idle.poll_batch(60, 0)) == 60
    idle.commit()
    assert bus.size("events") == 50  # 40 nobody needs any more, and the latest 10 of 60
    offsets = [m.offset for m in bus.read_topic("events")]
    assert offsets == list(range(50, 100))
    assert [m.offset for m in idle.poll_batch(100, 0)] == list(range(60, 100))
    assert bus.lag("idle", "events") == 40 and bus.lag("reader", "events") == 0


def test_a_topic_no_group_reads_keeps_only_its_latest_messages() -> None:
    """fraud-results under fraud run: written for followers, never read back by a group."""
    bus = MemoryBus(topics=["results"], retained=10)
    follower = bus.follower(["results"])
    bus.publish("results", messages(100))
    assert bus.size("results") <= 20  # trimmed now and then, never past twice the retained
    assert [m.offset for m in bus.read_topic("results")][-1] == 99
    bus.publish("results", messages(1))
    assert follower.poll(100, 0)[-1].offset == 100  # a follower still sees the latest
