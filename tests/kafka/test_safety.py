"""What a payments team relies on, against real processes on a real broker: one publish per
accepted id however many clients race for it, no client able to move the service's clock,
and no request left hanging or transaction lost while the broker is away."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from fraud.adapters.kafka.bus import KafkaBus
from fraud.application import dead_letters
from fraud.domain.ports import OutgoingMessage, Topic
from tests.factories import EXAMPLE
from tests.kafka.conftest import make_topics, rows, serve_on_kafka, wait_for_rows
from tests.processes import Service, stop_service

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def serve(kafka_bootstrap, prefix, database, small_model, tmp_path):
    make_topics(kafka_bootstrap, prefix, partitions=3)
    service = serve_on_kafka(tmp_path, small_model, kafka_bootstrap, prefix, database)
    yield service
    stop_service(service)


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


@dataclass
class Answer:
    transaction_id: str
    status: int
    seconds: float
    retry_after: str | None


def kafka_script(action: str, bootstrap: str) -> None:
    port = bootstrap.split(",")[0].rsplit(":", 1)[1]
    subprocess.run(
        [str(ROOT / "ops/kafka/kafka.sh"), action],
        env={**os.environ, "KAFKA_PORT": port, "KAFKA_FRESH": "0"},
        check=True,
        capture_output=True,
        timeout=180,
    )


def test_a_broker_outage_under_load_hangs_no_request_and_loses_no_transaction(
    serve, kafka_bootstrap, prefix, workers, database
) -> None:
    """500 transactions a second over HTTP; the broker stops for 10 s and comes back."""
    workers.start()
    rate, duration = 500, 24.0
    answers: list[Answer] = []
    lock = threading.Lock()
    started = time.monotonic()

    def client(offset: int, step: int) -> None:
        with serve.client() as http:
            n = offset
            while (due := n / rate) < duration:
                time.sleep(max(0.0, started + due - time.monotonic()))
                transaction_id = f"load-{n}"
                body = {**EXAMPLE, "transaction_id": transaction_id, "user_id": f"u{n % 50}"}
                sent = time.monotonic()
                try:
                    response = http.post(f"{serve.url}/transaction", json=body, timeout=10)
                    answer = Answer(
                        transaction_id,
                        response.status_code,
                        time.monotonic() - sent,
                        response.headers.get("Retry-After"),
                    )
                except requests.RequestException:
                    answer = Answer(transaction_id, 0, time.monotonic() - sent, None)
                with lock:
                    answers.append(answer)
                n += step

    threads = [threading.Thread(target=client, args=(i, 24)) for i in range(24)]
    for thread in threads:
        thread.start()
    time.sleep(5)
    kafka_script("down", kafka_bootstrap)
    down_at = time.monotonic()
    time.sleep(max(0.0, 10 - (time.monotonic() - down_at)))
    kafka_script("up", kafka_bootstrap)
    for thread in threads:
        thread.join()

    assert len(answers) >= 0.9 * rate * duration  # the load was offered
    assert max(a.seconds for a in answers) <= 3.0, sorted(a.seconds for a in answers)[-5:]
    refused = [a for a in answers if a.status != 202]
    assert all(a.status == 503 and a.retry_after for a in refused), refused[:5]
    accepted = [a.transaction_id for a in answers if a.status == 202]
    assert len(accepted) >= 0.95 * len(answers)
    wait_for_rows(
        database, len(accepted), "status = 'scored' AND transaction_id LIKE 'load-%'", 240
    )
    assert rows(database, "status = 'scored' AND transaction_id LIKE 'load-%'") == len(accepted)
    engine = create_engine(database)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT COUNT(*) FROM verdict_versions")).scalar_one()
    engine.dispose()
    assert versions == 0  # each decided exactly once: no second scoring of any of them
