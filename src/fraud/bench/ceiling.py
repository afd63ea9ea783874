"""The broker's round trip with no processing: the ceiling the pipeline is measured against.

The messages are the pipeline's own (``transactions`` envelopes), produced on the bus
the container wires, the way every stage produces (``KafkaBus.publish``: idempotent,
``acks=all``, asynchronous within a batch, one flush per batch) and read back by a plain
``confluent_kafka.Consumer`` with the pipeline's consumer settings, doing
nothing with them. Every transaction crosses the broker three times in the
pipeline (transactions, preprocessed-transactions, fraud-results), each hop
with a larger message, so the pipeline cannot beat a third of the round trip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from confluent_kafka import Consumer, TopicPartition
from tqdm import tqdm

from fraud.adapters.kafka.settings import consumer_config
from fraud.bench.harness import BenchError, CpuMeter, RunSpace, chunks
from fraud.domain.ports import MessageBus, OutgoingMessage, Topic

BATCH = 500  # the stages' default batch size
JOIN_TIMEOUT_S = 60.0


def measure_ceiling(
    space: RunSpace,
    bus: MessageBus,
    messages: Sequence[OutgoingMessage],
    timeout_s: float,
    progress: bool,
) -> dict[str, object]:
    """Produce on ``bus`` (the pipeline's, on ``space``), consume, and a concurrent round
    trip, each over all of ``messages``."""
    count = len(messages)
    # The first publish pays for metadata and the idempotent producer's id: not timed.
    bus.publish(Topic.DEAD_LETTERS, messages[:1])
    cpu = CpuMeter(broker_pid=space.broker_pid)
    cpu.start()
    produce_s = _publish(bus, Topic.TRANSACTIONS, messages, progress, "ceiling produce")
    produce_cpu = cpu.stop()

    consumer = _plain_consumer(space, "consume-only", Topic.TRANSACTIONS)
    try:
        consume_s = _consume(consumer, count, timeout_s, progress, "ceiling consume")
    finally:
        consumer.close()

    round_trip_s = _round_trip(space, bus, messages, timeout_s, progress)
    return {
        "messages": count,
        "message_bytes_avg": round(sum(len(m.value) for m in messages) / max(1, count)),
        "produce_s": round(produce_s, 3),
        "produce_per_s": round(count / produce_s),
        "produce_cpu": produce_cpu,
        "consume_s": round(consume_s, 3),
        "consume_per_s": round(count / consume_s),
        "round_trip_s": round(round_trip_s, 3),
        "round_trip_per_s": round(count / round_trip_s),
        "pipeline_bound_per_s": round(count / round_trip_s / 3),
    }


def _publish(
    bus: MessageBus,
    topic: str,
    messages: Sequence[OutgoingMessage],
    progress: bool,
    label: str,
) -> float:
    started = time.perf_counter()
    with tqdm(total=len(messages), desc=label, unit="msg", disable=not progress) as bar:
        for batch in chunks(messages, BATCH):
            bus.publish(topic, batch)
            bar.update(len(batch))
    return time.perf_counter() - started


def _plain_consumer(
    space: RunSpace, name: str, topic: str, on_assign: Callable[..., None] | None = None
) -> Consumer:
    group = f"{space.group}-{name}"
    consumer = Consumer(consumer_config(space.bootstrap, group, "bench", space.security))
    if on_assign is None:
        consumer.subscribe([space.prefix + topic])
    else:
        consumer.subscribe([space.prefix + topic], on_assign=on_assign)
    return consumer


def _consume(
    consumer: Consumer,
    count: int,
    timeout_s: float,
    progress: bool,
    label: str,
) -> float:
    """Seconds from the first message received to the last; joining the group is not counted."""
    received = 0
    started: float | None = None
    deadline = time.monotonic() + JOIN_TIMEOUT_S + timeout_s
    with tqdm(total=count, desc=label, unit="msg", disable=not progress) as bar:
        while received < count:
            if time.monotonic() > deadline:
                raise BenchError(f"{label}: only {received} of {count} messages came back")
            batch = consumer.consume(BATCH, 0.5)
            good = sum(1 for raw in batch if raw.error() is None)
            if good and started is None:
                started = time.perf_counter()
            received += good
            bar.update(good)
    assert started is not None
    return time.perf_counter() - started


def _round_trip(
    space: RunSpace,
    bus: MessageBus,
    messages: Sequence[OutgoingMessage],
    timeout_s: float,
    progress: bool,
) -> float:
    """Produce while a joined consumer reads: first send to last receipt."""
    assigned = threading.Event()

    def on_assign(_: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            assigned.set()

    consumer = _plain_consumer(space, "round-trip", Topic.RESULTS, on_assign)
    finished: dict[str, float] = {}
    failure: list[BaseException] = []

    def read() -> None:
        try:
            _consume(consumer, len(messages), timeout_s, False, "round trip")
            finished["at"] = time.perf_counter()
        except BaseException as error:  # reported by the main thread
            failure.append(error)

    # Poll until the assignment arrives (the callback runs inside consume), then read.
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    while not assigned.is_set():
        if time.monotonic() > deadline:
            consumer.close()
            raise BenchError("round trip: the consumer was never assigned its partitions")
        consumer.consume(1, 0.2)
    reader = threading.Thread(target=read, name="round-trip-reader")
    reader.start()
    try:
        started = time.perf_counter()
        _publish(bus, Topic.RESULTS, messages, progress, "ceiling round trip")
        reader.join(JOIN_TIMEOUT_S + timeout_s)
    finally:
        reader.join(5)
        consumer.close()
    if failure:
        raise failure[0]
    if "at" not in finished:
        raise BenchError("round trip: the reader did not finish in time")
    return finished["at"] - started
