"""The whole pipeline on a real broker: API -> three stages -> SQLite, dead letters, replays,
state that survives a worker change."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from structlog.testing import capture_logs

from fraud.application.stream import dead_letters
from fraud.application.stream.pipeline import Pipeline, consumer_group
from fraud.containers import Process, bootstrap
from fraud.domain.identity import Role
from fraud.domain.ports import OutgoingMessage, Topic
from fraud.entrypoints.http.app import create_app
from tests.factories import ENVELOPES, EXAMPLE, payload, txn
from tests.identities import calling_as, issue_keys
from tests.kafka.conftest import make_topics, preprocess_then_leave, scored, wait_until, worker


@pytest.fixture
def pipeline(container) -> Iterator[Pipeline]:
    running = container.pipeline()
    running.start()
    yield running
    running.stop()


def submitting(container) -> FlaskClient:
    """The app on this container, called by a system with a submitter's key."""
    return calling_as(create_app(container), issue_keys(container)[Role.SUBMITTER])


def test_api_to_three_stages_to_the_database(container, pipeline) -> None:
    client = submitting(container)
    response = client.post("/transaction", json=EXAMPLE)
    assert response.status_code == 202
    transaction_id = response.get_json()["transaction_id"]

    wait_until(lambda: scored(container, transaction_id), what="the verdict")
    verdict = client.get(f"/transaction/{transaction_id}").get_json()
    assert verdict["status"] == "scored"
    assert verdict["decision"] in ("approve", "review", "decline")
    assert verdict["model_version"] == container.model().info.version
    assert verdict["latency_ms"] > 0

    results = container.bus().read_topic(Topic.RESULTS)
    (result,) = [m for m in results if m.headers.get("transaction_id") == transaction_id]
    assert result.key == "user123"
    assert json.loads(result.value)["assessment"]["fraud_score"] == pytest.approx(
        verdict["fraud_score"], abs=1e-6
    )


def test_a_client_that_waits_gets_the_verdict_the_workers_published(settings) -> None:
    """The API process follows `fraud-results` itself: the answer comes from a verdict
    another process decided, in time; with no worker running, the usual 202."""
    settings = replace(settings, max_wait_ms=20_000)  # a slow machine still answers in time
    make_topics(settings.kafka_bootstrap, settings.topic_prefix)
    api = bootstrap(settings, Process(migrate=True))
    workers = worker(settings, f"g{uuid.uuid4().hex[:6]}")
    running = workers.pipeline()
    running.start()
    try:
        client = submitting(api)
        first = payload(transaction_id="t1", user_id="waits")
        response = client.post("/transaction?wait=20000", json=first)
        assert response.status_code == 200
        verdict = response.get_json()
        assert (verdict["transaction_id"], verdict["status"]) == ("t1", "scored")
        assert verdict["model_version"] == workers.model().info.version
    finally:
        running.stop()
    second = payload(transaction_id="t2", user_id="waits")
    response = client.post("/transaction?wait=300", json=second)
    assert response.status_code == 202
    assert response.get_json()["status"] == "pending"
    api.verdict_waiter().stop()
    for container in (api, workers):
        container.unwire()
        container.shutdown_resources()


def test_a_poison_message_lands_in_the_dlq_and_the_next_good_one_is_scored(
    container, pipeline
) -> None:
    bus = container.bus()
    bus.publish(
        Topic.TRANSACTIONS,
        [
            OutgoingMessage("mallory", b"\x00\x01 definitely not json"),
            OutgoingMessage("mallory", json.dumps({**EXAMPLE, "amount": "lots"}).encode()),
            ENVELOPES.transaction_message(txn(1, user_id="mallory"), container.clock().now()),
        ],
    )
    wait_until(lambda: scored(container, "t1"), what="the good message's verdict")
    letters = wait_until(
        lambda: len(found := bus.read_topic(Topic.DEAD_LETTERS)) == 2 and found,
        what="two dead letters",
    )
    garbage, invalid = sorted(letters, key=lambda m: int(m.headers[dead_letters.SOURCE_OFFSET]))
    assert garbage.value == b"\x00\x01 definitely not json"
    assert garbage.headers[dead_letters.STAGE] == "preprocess"
    assert garbage.headers[dead_letters.SOURCE_TOPIC] == Topic.TRANSACTIONS
    assert garbage.headers[dead_letters.ERROR].startswith("value is not")
    assert invalid.headers[dead_letters.ERROR] == "amount: must be a number"


def test_replaying_the_same_messages_twice_leaves_one_verdict_each(container, pipeline) -> None:
    bus = container.bus()
    client = submitting(container)
    ids = [
        client.post(
            "/transaction", json={**EXAMPLE, "transaction_id": f"r{i}", "user_id": f"u{i % 5}"}
        ).get_json()["transaction_id"]
        for i in range(30)
    ]
    wait_until(lambda: all(scored(container, i) for i in ids), what="30 verdicts")
    first = {i: scored(container, i).assessment.fraud_score for i in ids}

    originals = bus.read_topic(Topic.TRANSACTIONS)
    for _ in range(2):
        bus.publish(
            Topic.TRANSACTIONS, [OutgoingMessage(m.key, m.value, m.headers) for m in originals]
        )
    record_group = consumer_group("record", pipeline.group_prefix)
    wait_until(lambda: len(bus.read_topic(Topic.RESULTS)) == 90, what="90 results")
    wait_until(lambda: bus.lag(record_group, Topic.RESULTS) == 0, what="the record stage")

    counts = container.queries().status_counts()
    assert sum(counts.values()) == 30 and counts["pending"] == 0
    assert {i: scored(container, i).assessment.fraud_score for i in ids} == pytest.approx(first)


def test_a_replayed_result_changes_no_decision_tally_or_counter_and_adds_a_version(
    container, pipeline
) -> None:
    client = submitting(container)
    transaction_id = client.post("/transaction", json=EXAMPLE).get_json()["transaction_id"]
    wait_until(lambda: scored(container, transaction_id), what="the verdict")
    decided = container.queries().get(transaction_id)
    registry = container.metrics().registry
    ever = datetime(2000, 1, 1, tzinfo=UTC)

    def counted() -> tuple[float, int]:
        verdicts = sum(
            registry.get_sample_value("fraud_verdicts_total", {"decision": d}) or 0
            for d in ("approve", "review", "decline")
        )
        tallied = sum(bucket.count for _, bucket in container.queries().activity_since(ever))
        return verdicts, tallied

    wait_until(lambda: counted() == (1, 1), what="the verdict counted")
    bus = container.bus()

    def of_it(topic: str) -> list[OutgoingMessage]:
        return [
            OutgoingMessage(m.key, m.value, m.headers)
            for m in bus.read_topic(topic)
            if m.headers.get("transaction_id") == transaction_id
        ]

    (result,) = of_it(Topic.RESULTS)
    challenger = json.loads(result.value)
    challenger["assessment"] |= {"model_version": "challenger-2", "fraud_score": 0.999}
    bus.publish(
        Topic.RESULTS,
        [
            result,  # the result delivered again
            OutgoingMessage(result.key, json.dumps(challenger).encode(), result.headers),
        ],
    )
    bus.publish(Topic.TRANSACTIONS, of_it(Topic.TRANSACTIONS))  # and the transaction replayed
    record_group = consumer_group("record", pipeline.group_prefix)
    wait_until(lambda: len(of_it(Topic.RESULTS)) == 4, what="the replay's result")
    wait_until(lambda: bus.lag(record_group, Topic.RESULTS) == 0, what="the record stage")

    after = container.queries().get(transaction_id)
    assert after.assessment == decided.assessment
    # Another model's scoring is a version; the same scoring again (redelivered, or replayed
    # through the same model) is not.
    assert [(v.model_version, v.fraud_score) for v in after.versions] == [("challenger-2", 0.999)]
    assert counted() == (1, 1)


def test_user_history_survives_a_change_of_worker(container, settings) -> None:
    group = f"g{uuid.uuid4().hex[:6]}"
    bus = container.bus()
    now = container.clock().now()
    burst = [txn(i, minutes=i, user_id="carol") for i in range(5)]
    bus.publish(Topic.TRANSACTIONS, [ENVELOPES.transaction_message(t, now) for t in burst])

    preprocess_then_leave(settings, group, messages=5)

    # A new worker (fresh state) takes the partition over and must know carol's burst: from
    # the state store, one record for one user, not from the five transactions.
    successor = worker(settings, group)
    second = successor.pipeline()
    with capture_logs() as logs:
        second.start()
        try:
            bus.publish(
                Topic.TRANSACTIONS,
                [ENVELOPES.transaction_message(txn(5, minutes=5, user_id="carol"), now)],
            )
            record = wait_until(lambda: scored(successor, "t5"), what="the sixth verdict")
        finally:
            second.stop()
            successor.shutdown_resources()
    assert record.features["count_10m"] == 5
    assert record.features["no_history"] == 0.0
    read = [e for e in logs if e["event"] == "state read from the store" and e["users"]]
    assert [(e["users"], e["checkpoint"], e["committed"]) for e in read] == [(1, 5, 5)]
    assert not [e for e in logs if e["event"] == "state rebuilt from the transactions retained"]
