"""Tests against a real Apache Kafka broker (started by `make test`, or `make kafka-up`).

Each test gets its own topic prefix, so tests never see each other's messages.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from sqlalchemy import create_engine, text

from fraud.adapters.kafka.admin import create_topics
from fraud.adapters.kafka.bus import KafkaBus
from fraud.containers import EMBEDDED, Container, Process, bootstrap
from fraud.entrypoints.cli.context import serving_models
from fraud.settings import Settings
from tests.archive_keys import archive_key_for_tests
from tests.postgres import migrated_url_for
from tests.processes import FRAUD, Service, fraud_env, start_service, stop_service

BOOTSTRAP = os.environ.get("FRAUD_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
# The xdist group of the tests whose workers join the default consumer groups (`fraud-*`, the
# ones the dashboard watches): run one after the other, on one xdist worker.
DEFAULT_GROUPS = "kafka-default-consumer-groups"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    host, port = BOOTSTRAP.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        pytest.fail(
            f"no Kafka broker answers on {BOOTSTRAP}: `make test` starts one, "
            f"or run `make kafka-up` (set FRAUD_TEST_KAFKA_BOOTSTRAP for another)"
        )
    return BOOTSTRAP


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:10]}."


def make_topics(bootstrap: str, prefix: str, partitions: int = 3) -> None:
    """The pipeline's topics under ``prefix``, once every partition has a leader: a topic
    the controller has accepted may still be unknown to the broker asked next, the more so
    on a busy machine."""
    create_topics(bootstrap, partitions=partitions, prefix=prefix)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    wait_until(lambda: topics_led(admin, prefix), timeout=60, what=f"leaders for {prefix}*")


def topics_led(admin: AdminClient, prefix: str) -> bool:
    topics = admin.list_topics(timeout=10).topics
    ours = [topic for name, topic in topics.items() if name.startswith(prefix)]
    return bool(ours) and all(
        topic.error is None
        and topic.partitions
        and all(part.leader >= 0 and part.error is None for part in topic.partitions.values())
        for topic in ours
    )


@pytest.fixture
def kafka_bus(kafka_bootstrap: str, prefix: str):
    make_topics(kafka_bootstrap, prefix)
    bus = KafkaBus(kafka_bootstrap, topic_prefix=prefix, client_id="fraud-tests")
    yield bus
    bus.close()


class Workers:
    """`fraud worker --stage all` processes sharing one set of consumer groups."""

    def __init__(self, env: dict[str, str], log_dir: Path, group: str | None = None) -> None:
        self.env = env
        self.log_dir = log_dir
        # Consumer groups of this test's own unless it names them: a group shared with a test
        # running beside it (another xdist worker) would rebalance at the other's every join.
        self.group = group or f"recovery-{uuid.uuid4().hex[:6]}"
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = (self.log_dir / f"worker-{len(self.processes)}.log").open("w")
        process = subprocess.Popen(
            [FRAUD, "worker", "--stage", "all", "--group", self.group],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def report(self, lines: int = 40) -> None:
        """The last things each worker said, librdkafka's chatter and each verdict aside:
        printed at teardown, so that pytest shows them with a failure."""
        for log in sorted(self.log_dir.glob("worker-*.log")):
            said = [
                line
                for line in log.read_text().splitlines()
                if "librdkafka" not in line and "verdict recorded" not in line
            ]
            print(f"--- {log.name}, last {lines} lines of {len(said)}:", *said[-lines:], sep="\n")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """The workers' database, at the migrations' head: a SQLite file, or a fresh PostgreSQL
    database for a test parametrised with
    ``@pytest.mark.parametrize("database", BACKENDS, indirect=True)``."""
    return migrated_url_for(getattr(request, "param", "sqlite"), request)


@pytest.fixture
def workers(kafka_bootstrap, prefix, database, small_model, tmp_path) -> Iterator[Workers]:
    make_topics(kafka_bootstrap, prefix, partitions=3)
    env = fraud_env(
        FRAUD_BROKER="kafka",
        FRAUD_KAFKA_BOOTSTRAP=kafka_bootstrap,
        FRAUD_TOPIC_PREFIX=prefix,
        FRAUD_DATABASE_URL=database,
        FRAUD_MODEL_DIR=str(small_model),
    )
    running = Workers(env, tmp_path)
    yield running
    running.stop_all()
    running.report()


def serve_on_kafka(
    tmp_path: Path, model_dir: Path, bootstrap: str, prefix: str, database: str
) -> Service:
    """`fraud serve` (the API alone) on this test's broker, topics and database."""
    return start_service(
        tmp_path,
        model_dir,
        command="serve",
        FRAUD_BROKER="kafka",
        FRAUD_KAFKA_BOOTSTRAP=bootstrap,
        FRAUD_TOPIC_PREFIX=prefix,
        FRAUD_DATABASE_URL=database,
    )


@pytest.fixture
def serve(kafka_bootstrap, prefix, database, small_model, tmp_path) -> Iterator[Service]:
    """`fraud serve` on this test's topics (made here) and database."""
    make_topics(kafka_bootstrap, prefix, partitions=3)
    service = serve_on_kafka(tmp_path, small_model, kafka_bootstrap, prefix, database)
    yield service
    stop_service(service)


def rows(database: str, where: str = "1=1") -> int:
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            return connection.execute(
                text(f"SELECT COUNT(*) FROM transactions WHERE {where}")
            ).scalar_one()
    finally:
        engine.dispose()


def wait_for_rows(database: str, count: int, where: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while rows(database, where) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {rows(database, where)} of {count} rows where {where}")
        time.sleep(0.25)


# --- a worker's container on this broker, for tests that drive stages in-process ---------


@pytest.fixture
def settings(kafka_bootstrap, prefix, tmp_path, small_model) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'fraud.db'}",
        model_dir=str(small_model),
        broker="kafka",
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=prefix,
        archive_key=archive_key_for_tests(),  # the one the tests' `fraud` processes are given
    )


def worker(settings: Settings, group: str, *, stages=("preprocess", "score", "record")):
    """The container of a worker process running ``stages`` in consumer groups ``group``."""
    process = Process(pipeline=EMBEDDED, stages=stages, group_prefix=group, migrate=True)
    container = bootstrap(settings, process)
    container.init_resources()
    if "score" in stages:  # as `fraud worker` does: the model directory's model is champion
        serving_models(container, None)
    return container


@pytest.fixture
def container(settings, kafka_bootstrap, prefix) -> Iterator[Container]:
    make_topics(kafka_bootstrap, prefix, partitions=3)
    container = worker(settings, f"g{uuid.uuid4().hex[:6]}")
    yield container
    container.unwire()
    container.shutdown_resources()


def wait_until(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def scored(container, transaction_id):
    record = container.queries().get(transaction_id)
    return record if record is not None and record.status.value == "scored" else None


def preprocess_then_leave(settings: Settings, group: str, messages: int) -> None:
    """A worker of the preprocess stage alone, in ``group``, that handles ``messages`` and
    leaves: the state it wrote down is what the next owner of its partitions reads."""
    predecessor = worker(settings, group, stages=("preprocess",))
    running = predecessor.pipeline()
    running.start()
    wait_until(lambda: running.runners[0].processed == messages, what="the first worker")
    running.stop()
    predecessor.shutdown_resources()
