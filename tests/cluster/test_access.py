"""Who may write what on the cluster: its SASL listener and the ACLs ops/kafka/cluster.sh sets.

The service's principal creates, writes and reads every pipeline topic; a client's principal
writes `transactions` and is refused every internal topic (whoever could write
`fraud-labels`, `behaviour-state` or `merchant-counts` would change every worker's features)
and reads nothing; a user the cluster does not know is refused at login. And the whole
pipeline runs as the service's principal on what the client's sends. The tests work under topic
prefixes of their own, granted the operator's way (`cluster.sh acls PREFIX`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from fraud.adapters.sqlalchemy.migrate import upgrade
from fraud.domain.ports import Topic
from fraud.settings import KafkaSecurity, Secret
from tests.cluster.conftest import Cluster
from tests.factories import EXAMPLE
from tests.kafka.conftest import Workers, wait_for_rows
from tests.processes import FRAUD, fraud_env

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
PROBE = ("user-1", b'{"probe": true}')
SENT = 20  # transactions through the whole pipeline
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
    # The grant reaches each broker in its own time: the controller asked may refuse the
    # creation until it has (TOPIC_AUTHORIZATION_FAILED, seen in CI), so it is asked again.
    deadline = time.monotonic() + 30
    while True:
        try:
            create_topics(
                cluster_sasl_bootstrap,
                partitions=1,
                replication=3,
                prefix=prefix,
                security=scram(*SERVICE),
            )
            return prefix
        except KafkaException as error:
            refused = error.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
            if not refused or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def produce(
    bootstrap: str,
    security: KafkaSecurity,
    topics: list[str],
    messages: list[tuple[str, bytes]] | None = None,
) -> list[KafkaError | None]:
    """Message i, (key, value), to topics[i] (a probe by default), as the service's producers
    send (idempotent, acks=all); what the cluster answered for each, in order."""
    messages = messages or [PROBE] * len(topics)
    answers: dict[int, KafkaError | None] = {}
    producer = Producer(producer_config(bootstrap, "access-test", security))
    for n, (topic, (key, value)) in enumerate(zip(topics, messages, strict=True)):
        producer.produce(
            topic,
            key=key,
            value=value,
            on_delivery=lambda error, _, n=n: answers.__setitem__(n, error),
        )
    assert producer.flush(ANSWER_WITHIN_S) == 0, "the cluster did not answer every message"
    return [answers[n] for n in range(len(topics))]


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    made: list[Consumer] = []
    yield made
    for consumer in made:
        consumer.close()


def poll_until(
    consumer: Consumer,
    done: Callable[[list[Message]], bool],
    timeout_s: float = ANSWER_WITHIN_S,
) -> list[Message]:
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

    assert produce(cluster_sasl_bootstrap, security, names) == [None] * len(names)

    group = f"access-{uuid.uuid4().hex[:8]}"  # the stages' groups are the service's too
    consumer = Consumer(consumer_config(cluster_sasl_bootstrap, group, "access-test", security))
    consumers.append(consumer)
    consumer.subscribe(names)
    seen = poll_until(consumer, lambda seen: {m.topic() for m in seen} >= set(names))
    assert [m.error() for m in seen if m.error() is not None] == []
    assert {m.topic() for m in seen} == set(names)


def test_a_client_writes_transactions(cluster_sasl_bootstrap: str, topic_prefix: str) -> None:
    transactions = topic_prefix + Topic.TRANSACTIONS
    assert produce(cluster_sasl_bootstrap, scram(*CLIENT), [transactions]) == [None]


def watermarks(bootstrap: str, name: str) -> tuple[int, int]:
    """The topic's partition 0 as the service sees it."""
    reader = Consumer(
        consumer_config(bootstrap, "access-watermarks", "access-test", scram(*SERVICE))
    )
    try:
        return reader.get_watermark_offsets(TopicPartition(name, 0), timeout=ANSWER_WITHIN_S)
    finally:
        reader.close()


@pytest.mark.parametrize("topic", INTERNAL)
def test_a_client_is_refused_every_internal_topic(
    cluster_sasl_bootstrap: str, topic_prefix: str, topic: str
) -> None:
    name = topic_prefix + topic
    low, high = watermarks(cluster_sasl_bootstrap, name)

    (refusal,) = produce(cluster_sasl_bootstrap, scram(*CLIENT), [name])

    assert refusal is not None and refusal.code() == TOPIC_REFUSED
    assert watermarks(cluster_sasl_bootstrap, name) == (low, high)  # nothing landed


def test_a_client_reads_nothing(
    cluster_sasl_bootstrap: str, topic_prefix: str, consumers: list[Consumer]
) -> None:
    transactions = topic_prefix + Topic.TRANSACTIONS
    assert produce(cluster_sasl_bootstrap, scram(*SERVICE), [transactions]) == [None]
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


@pytest.fixture
def service_env(
    cluster: Cluster, cluster_sasl_bootstrap: str, small_model: Path, tmp_path: Path
) -> dict[str, str]:
    """A `fraud` process's settings as its operator writes them for the SASL listener, under a
    topic prefix granted for it and a database of its own."""
    prefix = f"access-{uuid.uuid4().hex[:10]}."
    cluster.grant(prefix)
    database = f"sqlite:///{tmp_path / 'fraud.db'}"
    upgrade(database)
    return fraud_env(
        FRAUD_BROKER="kafka",
        FRAUD_KAFKA_BOOTSTRAP=cluster_sasl_bootstrap,
        FRAUD_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        FRAUD_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        FRAUD_KAFKA_SASL_USERNAME=SERVICE[0],
        FRAUD_KAFKA_SASL_PASSWORD=SERVICE[1],
        FRAUD_TOPIC_PREFIX=prefix,
        FRAUD_DATABASE_URL=database,
        FRAUD_MODEL_DIR=str(small_model),
    )


@pytest.mark.timeout(300)
def test_the_service_runs_the_pipeline_on_what_a_client_sends(
    service_env: dict[str, str], cluster_sasl_bootstrap: str, tmp_path: Path
) -> None:
    """Every stage as the service's principal (its groups, state, counts, verdicts), nothing
    but the grants above: what the client's principal writes is decided."""
    created = subprocess.run(
        [FRAUD, "topics", "create", "--replication", "3", "--partitions", "2"],
        env=service_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr[-3000:]
    workers = Workers(service_env, tmp_path, group=f"access-{uuid.uuid4().hex[:6]}")
    workers.start()
    try:
        transactions = service_env["FRAUD_TOPIC_PREFIX"] + Topic.TRANSACTIONS
        sent = produce(
            cluster_sasl_bootstrap,
            scram(*CLIENT),
            [transactions] * SENT,
            [client_transaction(n) for n in range(SENT)],
        )
        assert sent == [None] * SENT
        wait_for_rows(service_env["FRAUD_DATABASE_URL"], SENT, "status = 'scored'", timeout=180)
    finally:
        workers.stop_all()
        workers.report()


def client_transaction(n: int) -> tuple[str, bytes]:
    """(key, JSON) as a client writes them: the contract's fields, keyed by user."""
    body = {
        **EXAMPLE,
        "transaction_id": f"access-{n}",
        "user_id": f"user-{n % 5}",
        "timestamp": (datetime.now(UTC) - timedelta(seconds=SENT - n)).isoformat(),
    }
    return body["user_id"], json.dumps(body).encode()
