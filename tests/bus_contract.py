"""The message bus contract, run against every bus adapter so they cannot drift apart.

Subclass ``BusContract`` and provide a ``bus`` fixture, and ``topic`` and ``other_topic``
fixtures naming two fresh, empty topics of that bus.
"""

from __future__ import annotations

import time

from fraud.domain.ports import MessageBus, OutgoingMessage


def messages(count: int, key: str = "alice", start: int = 0) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(key=key, value=f"m{i}".encode(), headers={"n": str(i)})
        for i in range(start, start + count)
    ]


def drain(consumer, expected: int, timeout: float = 10.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        got.extend(consumer.poll_batch(expected - len(got), 0.2))
    return got


class BusContract:
    def test_a_key_keeps_its_order_with_headers(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        bus.publish(topic, messages(20))
        consumer = bus.consumer(group, [topic])
        try:
            got = drain(consumer, 20)
        finally:
            consumer.close()
        assert [m.value for m in got] == [f"m{i}".encode() for i in range(20)]
        assert [m.headers["n"] for m in got] == [str(i) for i in range(20)]
        assert all(m.key == "alice" and m.topic == topic for m in got)

    def test_several_topics_published_at_once_are_each_read_in_order(
        self, bus: MessageBus, topic: str, other_topic: str, group: str
    ) -> None:
        bus.publish_all({topic: messages(6), other_topic: messages(4, key="bob", start=6)})
        consumer = bus.consumer(group, [topic, other_topic])
        try:
            got = drain(consumer, 10)
        finally:
            consumer.close()
        on = {name: [m.value for m in got if m.topic == name] for name in (topic, other_topic)}
        assert on == {
            topic: [f"m{i}".encode() for i in range(6)],
            other_topic: [f"m{i}".encode() for i in range(6, 10)],
        }

    def test_a_poll_returns_at_most_the_batch_size(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        bus.publish(topic, messages(10))
        consumer = bus.consumer(group, [topic])
        try:
            drain(consumer, 1)  # wait until something is there
            batch = consumer.poll_batch(3, 1.0)
        finally:
            consumer.close()
        assert 1 <= len(batch) <= 3

    def test_an_empty_poll_waits_then_returns_nothing(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        consumer = bus.consumer(group, [topic])
        try:
            started = time.monotonic()
            assert consumer.poll_batch(10, 0.3) == []
            assert time.monotonic() - started >= 0.25
        finally:
            consumer.close()

    def test_what_was_not_committed_is_redelivered(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        bus.publish(topic, messages(6))
        first = bus.consumer(group, [topic])
        done = drain(first, 3)[:3]
        first.commit()
        rest = drain(first, 6 - len(done))  # polled, never committed
        assert len(done) + len(rest) >= 6
        first.close()

        second = bus.consumer(group, [topic])
        try:
            again = drain(second, 6 - len(done))
        finally:
            second.close()
        committed_values = {m.value for m in done}
        assert {m.value for m in again} == {f"m{i}".encode() for i in range(6)} - committed_values

    def test_committed_messages_are_not_redelivered(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        bus.publish(topic, messages(4))
        first = bus.consumer(group, [topic])
        assert len(drain(first, 4)) == 4
        first.commit()
        first.close()
        second = bus.consumer(group, [topic])
        try:
            assert second.poll_batch(10, 0.5) == []
        finally:
            second.close()

    def test_each_group_reads_everything(self, bus: MessageBus, topic: str, group: str) -> None:
        bus.publish(topic, messages(5))
        for name in (f"{group}-a", f"{group}-b"):
            consumer = bus.consumer(name, [topic])
            try:
                assert len(drain(consumer, 5)) == 5
            finally:
                consumer.close()

    def test_size_counts_what_the_topic_holds_and_lag_what_a_group_has_left(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        bus.publish(topic, messages(3, key="alice") + messages(4, key="bob"))
        assert bus.size(topic) == 7
        consumer = bus.consumer(group, [topic])
        try:
            assert len(drain(consumer, 7)) == 7
            assert bus.lag(group, topic) == 7
            consumer.commit()
            assert bus.lag(group, topic) == 0
        finally:
            consumer.close()
        assert bus.size(topic) == 7

    def test_held_messages_come_again_and_a_commit_stops_before_them(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        bus.publish(topic, messages(6))
        first = bus.consumer(group, [topic])
        try:
            got = drain(first, 6)
            first.rewind(got[2:])
            first.commit()
            first.resume({(topic, m.partition) for m in got})
            assert [m.value for m in drain(first, 4)] == [m.value for m in got[2:]]
        finally:
            first.close()
        assert bus.lag(group, topic) == 4  # the commit stopped before the held ones

    def test_held_messages_come_once_each_before_what_arrived_meanwhile(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        """What a paused partition received while it waited comes after the held messages,
        each once: neither fetched twice nor skipped."""
        bus.publish(topic, messages(6))
        consumer = bus.consumer(group, [topic])
        try:
            got = drain(consumer, 6)
            consumer.rewind(got[2:])
            bus.publish(topic, messages(3, start=6))
            consumer.resume({(topic, m.partition) for m in got})
            again = drain(consumer, 7)
            assert [m.value for m in again] == [m.value for m in got[2:]] + [b"m6", b"m7", b"m8"]
            consumer.commit()
        finally:
            consumer.close()
        assert bus.lag(group, topic) == 0

    def test_a_partition_read_to_its_end_is_idle_and_a_held_one_is_not(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        bus.publish(topic, messages(3))
        consumer = bus.consumer(group, [topic])
        try:
            got = drain(consumer, 3)
            (partition,) = {m.partition for m in got}
            every = {(topic, p) for p in range(bus.partition_count(topic))}
            idle = wait_for(lambda: idle_after_poll(consumer) == every)
            assert idle, "read to its end, or empty: nothing more on its way"
            consumer.rewind(got[1:])
            assert (topic, partition) not in consumer.idle_partitions()
        finally:
            consumer.close()

    def test_a_follower_reads_every_partition_from_the_start_and_then_what_comes(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        bus.publish(topic, messages(3, key="alice") + messages(4, key="bob"))
        follower = bus.follower([topic])
        try:
            assert len(list(follower.read_to_end())) == 7
            bus.publish(topic, messages(2, key="carol"))
            later = wait_for(lambda: follower.poll(10), timeout=10)
            assert [m.value for m in later] == [b"m0", b"m1"]
            follower.rewind()
            assert len(list(follower.read_to_end())) == 9
        finally:
            follower.close()
        assert bus.partition_count(topic) >= 1

    def test_a_followers_poll_hands_out_what_came_without_waiting_for_a_full_batch(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        """A client waiting for its verdict hears of it when it comes, not when a thousand
        more came or the poll's whole timeout ran out."""
        follower = bus.follower([topic])
        try:
            follower.skip_to_end()
            assert follower.poll(1000, 0.2) == []
            bus.publish(topic, messages(2))
            started = time.monotonic()
            got = follower.poll(1000, 30.0)
            while len(got) < 2 and time.monotonic() - started < 30:
                got += follower.poll(1000, 30.0)
            assert [m.value for m in got] == [b"m0", b"m1"]
            assert time.monotonic() - started < 15, "the poll waited for a full batch"
        finally:
            follower.close()

    def test_a_follower_skipped_to_the_end_reads_only_what_is_published_after(
        self, bus: MessageBus, topic: str, group: str
    ) -> None:
        bus.publish(topic, messages(3, key="alice") + messages(4, key="bob"))
        follower = bus.follower([topic])
        try:
            follower.skip_to_end()
            assert follower.poll(10, timeout=0.2) == []
            bus.publish(topic, messages(2, key="carol"))
            later = wait_for(lambda: follower.poll(10, timeout=1.0), timeout=10)
            assert [m.value for m in later] == [b"m0", b"m1"]
        finally:
            follower.close()


def idle_after_poll(consumer) -> set:
    consumer.poll_batch(10, 0.1)
    return consumer.idle_partitions()


def wait_for(condition, timeout: float = 8.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    return condition()
