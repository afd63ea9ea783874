"""The bus contract on a real broker, plus what only Kafka has: partitions, headers, read-back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from fraud.adapters.kafka.admin import create_topics
from fraud.domain.ports import AssignedPartition, OutgoingMessage, Topic
from tests.bus_contract import BusContract, drain, messages


class TestKafkaBusContract(BusContract):
    @pytest.fixture
    def bus(self, kafka_bus):
        return kafka_bus

    @pytest.fixture
    def topic(self) -> str:
        return Topic.TRANSACTIONS

    @pytest.fixture
    def other_topic(self) -> str:
        return Topic.PREPROCESSED

    @pytest.fixture
    def group(self) -> str:
        return f"g-{uuid.uuid4().hex[:8]}"


def test_creating_topics_twice_is_harmless(kafka_bootstrap, prefix) -> None:
    first = create_topics(kafka_bootstrap, partitions=2, prefix=prefix)
    second = create_topics(kafka_bootstrap, partitions=2, prefix=prefix)
    assert all(outcome.created for outcome in first)
    assert not any(outcome.created for outcome in second)
    assert sorted(o.topic for o in second) == sorted(prefix + t for t in Topic.ALL)


def test_partitions_are_announced_before_their_first_message(kafka_bus) -> None:
    kafka_bus.publish(Topic.TRANSACTIONS, messages(5))
    consumer = kafka_bus.consumer("announce", [Topic.TRANSACTIONS])
    announced: list[AssignedPartition] = []

    def listener(assigned):
        announced.extend(assigned)
        return []  # every partition resumes where committed

    consumer.on_assigned(listener)
    try:
        assert len(drain(consumer, 5)) == 5
    finally:
        consumer.close()
    assert sorted(p.partition for p in announced) == [0, 1, 2]
    assert all(p.topic == Topic.TRANSACTIONS and p.resume_at == 0 for p in announced)


def test_a_state_partition_is_read_to_its_end_tombstones_included(kafka_bus) -> None:
    kafka_bus.publish(
        Topic.STATE,
        [
            OutgoingMessage("ann", b"1", partition=2),
            OutgoingMessage("bob", b"2", partition=2),
            OutgoingMessage("ann", None, partition=2),  # ann forgotten
        ],
    )
    read = list(kafka_bus.read_partition(Topic.STATE, 2))
    assert [(m.key, m.value, m.partition) for m in read] == [
        ("ann", b"1", 2),
        ("bob", b"2", 2),
        ("ann", b"", 2),
    ]
    assert list(kafka_bus.read_partition(Topic.STATE, 0)) == []


def test_the_state_store_is_compacted_and_never_expires_by_age(
    kafka_bus, kafka_bootstrap, prefix
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, prefix + Topic.STATE)
    config = admin.describe_configs([resource])[resource].result()
    assert config["cleanup.policy"].value == "compact"


def test_read_back_returns_a_partitions_history_up_to_an_offset(kafka_bus) -> None:
    kafka_bus.publish(Topic.TRANSACTIONS, messages(10, key="alice"))
    consumer = kafka_bus.consumer("finder", [Topic.TRANSACTIONS])
    try:
        (partition,) = {m.partition for m in drain(consumer, 10)}
    finally:
        consumer.close()
    since = datetime.now(UTC) - timedelta(hours=1)
    history = list(kafka_bus.read_back(Topic.TRANSACTIONS, partition, since=since, until_offset=6))
    assert [m.value for m in history] == [f"m{i}".encode() for i in range(6)]
    assert all(m.topic == Topic.TRANSACTIONS for m in history)
    assert (
        list(kafka_bus.read_back(Topic.TRANSACTIONS, partition, since=since, until_offset=0)) == []
    )
