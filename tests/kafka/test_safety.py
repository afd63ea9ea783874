"""What a payments team relies on, against real processes on a real broker: one publish per
accepted id however many clients race for it and no client able to move the service's clock
(a broker outage: test_broker_outage.py)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import create_engine, text

from fraud.adapters.kafka.bus import KafkaBus
from fraud.application.stream import dead_letters
from fraud.domain.ports import OutgoingMessage, Topic
from tests.factories import EXAMPLE
from tests.kafka.conftest import rows, wait_for_rows
from tests.processes import Service


def published(bootstrap: str, prefix: str, transaction_id: str) -> int:
    bus = KafkaBus(bootstrap, topic_prefix=prefix)
    try:
        return sum(
            1
            for message in bus.read_topic(Topic.TRANSACTIONS)
            if message.headers.get("transaction_id") == transaction_id
        )
    finally:
        bus.close()


def race(service: Service, bodies: list[dict]) -> list[requests.Response]:
    """Every body POSTed at the same moment, one thread each, by one client system."""
    start = threading.Barrier(len(bodies))

    def post(body: dict) -> requests.Response:
        start.wait()
        with service.client() as http:
            return http.post(f"{service.url}/transaction", json=body, timeout=30)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_thirty_two_clients_racing_on_one_id_publish_it_once(
    serve, kafka_bootstrap, prefix
) -> None:
    same = {**EXAMPLE, "transaction_id": f"race-{uuid.uuid4().hex[:8]}"}
    answers = race(serve, [same] * 32)
    assert [a.status_code for a in answers] == [202] * 32
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 31

    other = {**EXAMPLE, "transaction_id": f"race-{uuid.uuid4().hex[:8]}"}
    cheaper = {**other, "amount": 1.0}
    answers = race(serve, [other, cheaper] * 16)
    accepted = {
        json.dumps(body, sort_keys=True)
        for body, a in zip([other, cheaper] * 16, answers, strict=True)
        if a.status_code == 202
    }
    assert len(accepted) == 1, "only one of the two bodies may win"
    (winner,) = [json.loads(body) for body in accepted]
    for body, answer in zip([other, cheaper] * 16, answers, strict=True):
        assert answer.status_code == (202 if body == winner else 409), answer.text
    stored = (
        serve.client().get(f"{serve.url}/transaction/{other['transaction_id']}", timeout=10).json()
    )
    assert stored["transaction"]["amount"] == winner["amount"]

    deadline = time.monotonic() + 20
    while published(kafka_bootstrap, prefix, other["transaction_id"]) < 1:
        assert time.monotonic() < deadline, "the claim was never published"
        time.sleep(0.5)
    time.sleep(3)  # a relay's sweep that would publish it again has had its chance
    assert published(kafka_bootstrap, prefix, same["transaction_id"]) == 1
    assert published(kafka_bootstrap, prefix, other["transaction_id"]) == 1


def test_a_transaction_from_the_far_future_is_refused_and_moves_nobodys_clock(
    kafka_bootstrap, prefix, workers, database
) -> None:
    workers.start()
    bus = KafkaBus(kafka_bootstrap, topic_prefix=prefix)
    now = datetime.now(UTC)

    def produced(transaction_id: str, user: str, at: datetime) -> OutgoingMessage:
        body = {**EXAMPLE, "transaction_id": transaction_id, "user_id": user}
        return OutgoingMessage(user, json.dumps({**body, "timestamp": at.isoformat()}).encode())

    history = [produced(f"a{i}", "alice", now - timedelta(days=1, minutes=i)) for i in range(5)]
    bus.publish(Topic.TRANSACTIONS, history)
    wait_for_rows(database, 5, "status = 'scored' AND user_id = 'alice'", 60)
    bus.publish(Topic.TRANSACTIONS, [produced("m1", "mallory", datetime(9999, 1, 1, tzinfo=UTC))])
    letter = None
    deadline = time.monotonic() + 60
    while letter is None:
        assert time.monotonic() < deadline, "the far-future transaction was not dead-lettered"
        letters = bus.read_topic(Topic.DEAD_LETTERS)
        letter = next((m for m in letters if b'"m1"' in m.value), None)
        time.sleep(0.5)
    assert (
        "timestamp: must be no later than 5 minutes after receipt"
        in letter.headers[dead_letters.ERROR]
    )
    bus.publish(Topic.TRANSACTIONS, [produced("a-next", "alice", now)])
    wait_for_rows(database, 1, "status = 'scored' AND transaction_id = 'a-next'", 60)
    bus.close()
    engine = create_engine(database)
    with engine.connect() as connection:
        features = connection.execute(
            text("SELECT features FROM transactions WHERE transaction_id = 'a-next'")
        ).scalar_one()
    engine.dispose()
    assert json.loads(features)["count_30d"] == 5.0  # alice's history, untouched
    assert rows(database, "transaction_id = 'm1'") == 0
