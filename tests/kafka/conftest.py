"""Tests against a real Apache Kafka broker (started by `make test`, or `make kafka-up`).

Each test gets its own topic prefix, so tests never see each other's messages.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from fraud.adapters.kafka.admin import create_topics
from fraud.adapters.kafka.bus import KafkaBus

BOOTSTRAP = os.environ.get("FRAUD_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/kafka/" in str(item.fspath):
            item.add_marker(pytest.mark.kafka)


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
    create_topics(bootstrap, partitions=partitions, prefix=prefix)


@pytest.fixture
def kafka_bus(kafka_bootstrap: str, prefix: str):
    make_topics(kafka_bootstrap, prefix)
    bus = KafkaBus(kafka_bootstrap, topic_prefix=prefix, client_id="fraud-tests")
    yield bus
    bus.close()
