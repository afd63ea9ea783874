"""Who may write what on the cluster: its SASL listener and the ACLs ops/kafka/cluster.sh sets.

The service's principal creates, writes and reads every pipeline topic; a client's principal
writes `transactions` and is refused every internal topic (whoever could write
`fraud-labels`, `behaviour-state` or `merchant-counts` would change every worker's features)
and reads nothing; a user the cluster does not know is refused at login. The tests work under
a topic prefix of their own, granted the operator's way (`cluster.sh acls PREFIX`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from fraud.adapters.kafka.admin import create_topics
from fraud.adapters.kafka.settings import admin_config, consumer_config, producer_config
from fraud.domain.ports import Topic
from fraud.settings import KafkaSecurity, Secret
from tests.cluster.conftest import Cluster

# The principals cluster.sh creates (the Makefile exports these; the defaults are cluster.sh's).
SERVICE = (
    os.environ.get("KAFKA_SASL_USER", "fraud"),
    os.environ.get("KAFKA_SASL_PASSWORD", "fraud-secret"),
)
CLIENT = (
    os.environ.get("KAFKA_CLIENT_USER", "client"),
    os.environ.get("KAFKA_CLIENT_PASSWORD", "client-secret"),
)
INTERNAL = [topic for topic in Topic.ALL if topic != Topic.TRANSACTIONS]
ANSWER_WITHIN_S = 30.0
TOPIC_REFUSED = KafkaError.TOPIC_AUTHORIZATION_FAILED
GROUP_REFUSED = KafkaError.GROUP_AUTHORIZATION_FAILED


def scram(user: str, password: str) -> KafkaSecurity:
    return KafkaSecurity(
        protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=user,
        sasl_password=Secret(password),
    )


@pytest.fixture(scope="module")
def topic_prefix(cluster_bootstrap: str, cluster_sasl_bootstrap: str) -> str:
    """A prefix granted by cluster.sh, its topics created by the service's principal."""
    prefix = f"access-{uuid.uuid4().hex[:10]}."
    Cluster(cluster_bootstrap).grant(prefix)
    create_topics(
        cluster_sasl_bootstrap, partitions=1, replication=3, prefix=prefix, security=scram(*SERVICE)
    )
    return prefix


def produce(
    bootstrap: str, security: KafkaSecurity, topics: list[str]
) -> dict[str, KafkaError | None]:
    """One message to each topic, as the service's producers send (idempotent, acks=all);
    what the cluster answered for each."""
    answers: dict[str, KafkaError | None] = {}
    producer = Producer(producer_config(bootstrap, "access-test", security))
    for topic in topics:
        producer.produce(
            topic,
            key=b"user-1",
            value=b'{"probe": true}',
            on_delivery=lambda error, message: answers.__setitem__(message.topic(), error),
        )
    assert producer.flush(ANSWER_WITHIN_S) == 0, "the cluster did not answer every message"
    return answers


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    made: list[Consumer] = []
    yield made
    for consumer in made:
        consumer.close()


def poll_until(consumer: Consumer, done, timeout_s: float = ANSWER_WITHIN_S) -> list[Message]:
    """What the consumer gets (messages and errors) until ``done(seen)`` or the timeout."""
    seen: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while not done(seen) and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None:
            seen.append(message)
    return seen


def test_the_service_writes_and_reads_every_pipeline_topic(
    cluster_sasl_bootstrap: str, topic_prefix: str, consumers: list[Consumer]
) -> None:
    names = [topic_prefix + topic for topic in Topic.ALL]
    security = scram(*SERVICE)

    assert produce(cluster_sasl_bootstrap, security, names) == dict.fromkeys(names)

    group = f"access-{uuid.uuid4().hex[:8]}"  # the stages' groups are the service's too
    consumer = Consumer(consumer_config(cluster_sasl_bootstrap, group, "access-test", security))
    consumers.append(consumer)
    consumer.subscribe(names)
    seen = poll_until(consumer, lambda seen: {m.topic() for m in seen} >= set(names))
    assert [m.error() for m in seen if m.error() is not None] == []
    assert {m.topic() for m in seen} == set(names)


def test_a_client_writes_transactions(cluster_sasl_bootstrap: str, topic_prefix: str) -> None:
    transactions = topic_prefix + Topic.TRANSACTIONS
    assert produce(cluster_sasl_bootstrap, scram(*CLIENT), [transactions]) == {transactions: None}


@pytest.mark.parametrize("topic", INTERNAL)
def test_a_client_is_refused_every_internal_topic(
    cluster_bootstrap: str, cluster_sasl_bootstrap: str, topic_prefix: str, topic: str
) -> None:
    name = topic_prefix + topic
    low, high = watermarks(cluster_sasl_bootstrap, name)

    (refusal,) = produce(cluster_sasl_bootstrap, scram(*CLIENT), [name]).values()

    assert refusal is not None and refusal.code() == TOPIC_REFUSED
    assert watermarks(cluster_sasl_bootstrap, name) == (low, high)  # nothing landed


def watermarks(bootstrap: str, name: str) -> tuple[int, int]:
    """The topic's partition 0 as the service sees it."""
    reader = Consumer(
        consumer_config(bootstrap, "access-watermarks", "access-test", scram(*SERVICE))
    )
    try:
        return reader.get_watermark_offsets(TopicPartition(name, 0), timeout=ANSWER_WITHIN_S)
    finally:
        reader.close()


def test_a_client_reads_nothing(
    cluster_sasl_bootstrap: str, topic_prefix: str, consumers: list[Consumer]
) -> None:
    transactions = topic_prefix + Topic.TRANSACTIONS
    assert produce(cluster_sasl_bootstrap, scram(*SERVICE), [transactions]) == {transactions: None}
    security = scram(*CLIENT)

    listed = AdminClient(admin_config(cluster_sasl_bootstrap, security)).list_topics(
        timeout=ANSWER_WITHIN_S
    )
    assert [name for name in listed.topics if name.startswith(topic_prefix)] == [transactions]

    # Not even `transactions` (other clients' purchases), read by partition or in a group.
    reader = Consumer(
        consumer_config(cluster_sasl_bootstrap, "access-reader", "access-test", security)
    )
    consumers.append(reader)
    reader.assign([TopicPartition(transactions, 0, 0)])
    fetched = poll_until(reader, lambda seen: TOPIC_REFUSED in codes(seen))
    assert TOPIC_REFUSED in codes(fetched)
    assert [m for m in fetched if m.error() is None] == []

    member = Consumer(
        consumer_config(
            cluster_sasl_bootstrap, f"access-{uuid.uuid4().hex[:8]}", "access-test", security
        )
    )
    consumers.append(member)
    member.subscribe([transactions])
    joined = poll_until(member, lambda seen: GROUP_REFUSED in codes(seen))
    assert GROUP_REFUSED in codes(joined)
    assert [m for m in joined if m.error() is None] == []


def codes(seen: list[Message]) -> set[int]:
    return {m.error().code() for m in seen if m.error() is not None}


def test_a_user_the_cluster_does_not_know_is_refused_at_login(cluster_sasl_bootstrap: str) -> None:
    refusals: list[KafkaError] = []
    stranger = scram(f"stranger-{uuid.uuid4().hex[:8]}", "any-password")
    admin = AdminClient(
        {**admin_config(cluster_sasl_bootstrap, stranger), "error_cb": refusals.append}
    )
    deadline = time.monotonic() + ANSWER_WITHIN_S
    while not refusals and time.monotonic() < deadline:
        with pytest.raises(KafkaException):  # no metadata without a login
            admin.list_topics(timeout=0.5)
        admin.poll(0)  # serves error_cb
    assert refusals and refusals[0].code() == KafkaError._AUTHENTICATION
    assert "Authentication failed" in refusals[0].str()
