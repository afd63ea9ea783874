"""A broker of three dies by SIGKILL mid-stream and comes back: the pipeline, on topics kept
three times over, waits out the leader changes and decides every transaction exactly once."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from sqlalchemy import create_engine, text

from fraud.adapters.kafka.bus import KafkaBus
from fraud.adapters.kafka.settings import producer_config
from fraud.domain.ports import Topic
from tests.cluster.conftest import Cluster
from tests.factories import EXAMPLE
from tests.kafka.conftest import Workers, rows, wait_for_rows
from tests.processes import FRAUD, fraud_env

TRANSACTIONS = 5_000
RATE = 100  # a second: 50 s of stream, for the broker to die and (given the CPU) come back in
USERS = 100
AWAY_S = 10.0


@dataclass
class Deliveries:
    """What the client's producer heard back: when each message was acknowledged, after how
    long, and any failure."""

    acknowledged: list[tuple[float, float]] = field(default_factory=list)  # (at, latency)
    errors: list[KafkaError] = field(default_factory=list)

    def callback(self, sent: float) -> Callable[[KafkaError | None, object], None]:
        def delivered(error: KafkaError | None, _: object) -> None:
            if error is not None:
                self.errors.append(error)
            else:
                now = time.monotonic()
                self.acknowledged.append((now, now - sent))

        return delivered


class Progress(threading.Thread):
    """Samples how many transactions are scored, to see how long the pipeline stood still."""

    def __init__(self, database: str) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.samples.append((time.monotonic(), rows(self.database, "status = 'scored'")))

    def moved(self) -> list[float]:
        """When more transactions were found scored than the time before."""
        return [at for (_, before), (at, count) in pairwise(self.samples) if count > before]


def longest_gap(instants: list[float], since: float) -> float:
    """The longest time after ``since`` in which nothing happened, until the last thing did."""
    after = [since, *sorted(t for t in instants if t > since)]
    return max(b - a for a, b in pairwise(after))


def client_transactions() -> list[tuple[str, bytes]]:
    """(key, JSON) as a client writes them: the contract's fields, keyed by user."""
    start = datetime.now(UTC) - timedelta(seconds=TRANSACTIONS)
    messages = []
    for n in range(TRANSACTIONS):
        body = {
            **EXAMPLE,
            "transaction_id": f"cluster-{n}",
            "user_id": f"user-{n % USERS}",
            "amount": round(5 + (n * 37 % 2_000) / 3, 2),
            "timestamp": (start + timedelta(seconds=n)).isoformat(),
        }
        messages.append((body["user_id"], json.dumps(body).encode()))
    return messages


def assert_replicated(bootstrap: str, prefix: str) -> None:
    """Every partition on all three brokers, and a write needing two of them in sync."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [prefix + topic for topic in Topic.ALL]
    metadata = admin.list_topics(timeout=10)
    for name in names:
        partitions = metadata.topics[name].partitions.values()
        assert partitions
        assert all(len(p.replicas) == 3 and len(p.isrs) == 3 for p in partitions), name
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    for resource, future in admin.describe_configs(resources).items():
        assert future.result()["min.insync.replicas"].value == "2", resource


def coordinator(bootstrap: str, group: str) -> int:
    """The node that keeps ``group``'s offsets and membership."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (described,) = admin.describe_consumer_groups([group]).values()
    return described.result().coordinator.id


@pytest.fixture
def pipeline(
    cluster_bootstrap: str, cluster_database: str, small_model: Path, tmp_path: Path
) -> Iterator[Workers]:
    """The topics, made the operator's way, and two `fraud worker --stage all` processes."""
    env = fraud_env(
        FRAUD_BROKER="kafka",
        FRAUD_KAFKA_BOOTSTRAP=cluster_bootstrap,
        FRAUD_TOPIC_PREFIX=f"test-{uuid.uuid4().hex[:10]}.",
        FRAUD_DATABASE_URL=cluster_database,
        FRAUD_MODEL_DIR=str(small_model),
    )
    created = subprocess.run(
        [FRAUD, "topics", "create", "--replication", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr[-3000:]
    workers = Workers(env, tmp_path, group=f"cluster-{uuid.uuid4().hex[:6]}")
    for _ in range(2):
        workers.start()
    yield workers
    workers.stop_all()


def wait_until_started(workers: Workers, timeout: float = 120) -> None:
    """Both workers have loaded the model and joined their groups."""
    deadline = time.monotonic() + timeout
    logs = [workers.log_dir / f"worker-{n}.log" for n in range(len(workers.processes))]
    while not all("worker started" in log.read_text() for log in logs):
        for process, log in zip(workers.processes, logs, strict=True):
            assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.25)


@pytest.mark.timeout(600)
def test_a_broker_killed_mid_stream_leaves_every_transaction_decided_exactly_once(
    cluster: Cluster, cluster_bootstrap: str, cluster_database: str, pipeline: Workers
) -> None:
    prefix = pipeline.env["FRAUD_TOPIC_PREFIX"]
    assert_replicated(cluster_bootstrap, prefix)
    wait_until_started(pipeline)
    messages = client_transactions()
    deliveries = Deliveries()
    # A client configured as the service's own producers are: acks=all, idempotence, and the
    # delivery timeout the pipeline's stages give up after.
    settings = producer_config(cluster_bootstrap, "a-client")
    producer = Producer(settings)

    stream_ended = 0.0

    def produce() -> None:
        nonlocal stream_ended
        started = time.monotonic()
        for n, (key, value) in enumerate(messages):
            time.sleep(max(0.0, started + n / RATE - time.monotonic()))
            producer.produce(
                f"{prefix}transactions",
                value=value,
                key=key,
                on_delivery=deliveries.callback(time.monotonic()),
            )
            producer.poll(0)
        stream_ended = time.monotonic()
        producer.flush(120)

    client = threading.Thread(target=produce, daemon=True)
    progress = Progress(cluster_database)
    progress.start()
    client.start()
    wait_for_rows(cluster_database, 300, "status = 'scored'", timeout=60)
    victim = coordinator(cluster_bootstrap, f"{pipeline.group}-score")
    killed_at = time.monotonic()
    cluster.kill(victim)
    time.sleep(max(0.0, killed_at + AWAY_S - time.monotonic()))
    cluster.start(victim)
    back_after = time.monotonic() - killed_at
    client.join(timeout=180)
    wait_for_rows(cluster_database, TRANSACTIONS, "status = 'scored'", timeout=240)
    progress.done.set()
    progress.join()

    producer_stall = longest_gap([at for at, _ in deliveries.acknowledged], killed_at)
    pipeline_stall = longest_gap(progress.moved(), killed_at)
    slowest = max(latency for _, latency in deliveries.acknowledged)
    print(
        f"\nnode {victim} (the score group's coordinator) killed, back {back_after:.1f} s later;"
        f" the stream ended {stream_ended - killed_at:.1f} s and the last transaction was"
        f" decided {progress.moved()[-1] - killed_at:.1f} s after the kill; the client's"
        f" acknowledgements stalled {producer_stall:.1f} s (slowest {slowest:.1f} s), scoring"
        f" {pipeline_stall:.1f} s"
    )
    assert deliveries.errors == []
    assert len(deliveries.acknowledged) == TRANSACTIONS
    # A failover (9 s to notice a silent broker, then new leaders) fits in the producers'
    # delivery timeout with room to spare.
    assert slowest < settings["message.timeout.ms"] / 1000 * 2 / 3
    assert pipeline_stall < 60
    for n, process in enumerate(pipeline.processes):
        log = (pipeline.log_dir / f"worker-{n}.log").read_text()
        assert process.poll() is None, f"a worker died with the broker:\n{log[-3000:]}"

    expected = {f"cluster-{n}" for n in range(TRANSACTIONS)}
    engine = create_engine(cluster_database)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT transaction_id, status FROM transactions")).all()
        versions = connection.execute(
            text(
                "SELECT v.transaction_id, v.fraud_score, t.fraud_score FROM verdict_versions v"
                " JOIN transactions t ON t.transaction_id = v.transaction_id"
            )
        ).all()
    engine.dispose()
    assert len(stored) == TRANSACTIONS
    assert {transaction_id for transaction_id, _ in stored} == expected
    assert Counter(status for _, status in stored) == {"scored": TRANSACTIONS}

    bus = KafkaBus(cluster_bootstrap, topic_prefix=prefix)
    try:
        sent = Counter(
            json.loads(m.value)["transaction_id"] for m in bus.read_topic(Topic.TRANSACTIONS)
        )
        results = bus.read_topic(Topic.RESULTS)
    finally:
        bus.close()
    # Idempotence held across the leader change: no retry wrote a transaction twice.
    assert len(sent) == TRANSACTIONS and set(sent.values()) == {1}
    # Between stages delivery is at least once: a batch whose offsets could not be committed
    # while the coordinator was away is handled again, and its results published again.
    # Readers of fraud-results take the first per transaction id, as the record stage does,
    # so a repeat is harmless as long as it says the same.
    decisions: dict[str, set[str]] = defaultdict(set)
    for message in results:
        body = json.loads(message.value)
        decisions[body["transaction"]["transaction_id"]].add(body["assessment"]["decision"])
    assert set(decisions) == expected
    assert all(len(said) == 1 for said in decisions.values())
    repeated = len(results) - TRANSACTIONS
    print(f"fraud-results: {len(results)} messages, {repeated} of them repeats")

    pipeline.stop_all()
    assert [process.returncode for process in pipeline.processes] == [0, 0]

    # A second scoring that differed from the decision would be kept beside it as a version.
    drift = max((abs(again - first) for _, again, first in versions), default=0.0)
    assert versions == [], (
        f"{len(versions)} transactions scored again differently (scores apart by up to "
        f"{drift:.1e}), e.g. {versions[:3]}"
    )
