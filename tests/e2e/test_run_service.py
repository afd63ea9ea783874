"""`fraud run` as a real process: HTTP in, verdict out, through every stage and SQLite."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from fraud.domain.features import replay
from fraud.domain.identity import Role
from fraud.domain.transaction import Transaction
from tests.factories import EXAMPLE
from tests.processes import (
    FRAUD,
    Service,
    calling_as,
    fraud,
    fraud_env,
    non_json_lines,
    signed_in,
    start_service,
    stop_service,
)

pytestmark = pytest.mark.e2e


def wait_for_verdict(service: Service, transaction_id: str, timeout: float = 20.0) -> dict:
    """The verdict in full, as an analyst reads it."""
    http = service.client(Role.ANALYST)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = http.get(f"{service.url}/transaction/{transaction_id}", timeout=5).json()
        if body["status"] != "pending":
            return body
        time.sleep(0.05)
    raise AssertionError(f"{transaction_id} still pending after {timeout}s")


def test_the_readme_example_is_scored_end_to_end(shared_service, small_model) -> None:
    service = shared_service  # it reads back only its own transaction, and its logs
    response = service.client().post(f"{service.url}/transaction", json=EXAMPLE, timeout=5)
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "pending"
    transaction_id = accepted["transaction_id"]
    assert response.headers["Location"] == f"/transaction/{transaction_id}"

    started = time.monotonic()
    verdict = wait_for_verdict(service, transaction_id)
    assert time.monotonic() - started < 2.0

    card = json.loads((small_model / "model.json").read_text())
    assert verdict["status"] == "scored"
    assert verdict["transaction_id"] == transaction_id
    assert verdict["transaction"] == {
        **EXAMPLE,
        "transaction_id": transaction_id,
        "currency": "USD",
    }
    assert 0.0 <= verdict["fraud_score"] <= 1.0
    expected = (
        "decline"
        if verdict["fraud_score"] >= card["thresholds"]["decline"]
        else "review"
        if verdict["fraud_score"] >= card["thresholds"]["review"]
        else "approve"
    )
    assert verdict["decision"] == expected
    assert isinstance(verdict["reasons"], list)
    assert "away from the card holder's location" in verdict["reasons"]
    assert verdict["model_version"] == card["version"]
    assert verdict["scored_at"].endswith("Z")
    assert 0.0 <= verdict["latency_ms"] < 2_000.0

    page = service.client(Role.VIEWER).get(f"{service.url}/", timeout=5)
    assert page.status_code == 200 and transaction_id in page.text

    logs = [json.loads(line) for line in service.logs().splitlines() if line.startswith("{")]
    about = [entry["event"] for entry in logs if entry.get("transaction_id") == transaction_id]
    for event in ("transaction accepted", "features computed", "transaction scored"):
        assert event in about
    assert "verdict recorded" in about


def test_bad_input_is_refused_with_clear_json_errors(shared_service) -> None:
    service = shared_service  # what it sends is refused, or its own
    http = service.client()
    malformed = http.post(
        f"{service.url}/transaction", data="{oops", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]
    invalid = http.post(f"{service.url}/transaction", json={**EXAMPLE, "amount": 0.001})
    assert invalid.status_code == 422
    assert invalid.json()["details"] == [
        {
            "field": "amount",
            "rule": "must be 0, or at least 0.01 with at most 2 decimals (USD's minor unit)",
        }
    ]
    future = http.post(
        f"{service.url}/transaction", json={**EXAMPLE, "timestamp": "9999-01-01T00:00:00Z"}
    )
    assert future.status_code == 422
    assert future.json()["details"][0]["field"] == "timestamp"
    verification = http.post(f"{service.url}/transaction", json={**EXAMPLE, "amount": 0})
    assert verification.status_code == 202  # an account verification: accepted and scored
    too_big = http.post(
        f"{service.url}/transaction",
        data=b"x" * (65 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status_code == 413 and too_big.json()["status"] == 413
    assert http.get(f"{service.url}/transaction/unknown").status_code == 404
    unauthenticated = requests.post(f"{service.url}/transaction", json=EXAMPLE, timeout=5)
    assert unauthenticated.status_code == 401


def test_a_stopped_service_keeps_its_verdicts(service, tmp_path, small_model) -> None:

    http = service.client()
    ids = [
        http.post(
            f"{service.url}/transaction", json={**EXAMPLE, "transaction_id": f"keep-{i}"}
        ).json()["transaction_id"]
        for i in range(20)
    ]
    for transaction_id in ids:
        wait_for_verdict(service, transaction_id)
    assert stop_service(service) == 0

    again = start_service(tmp_path, small_model)
    try:
        for transaction_id in ids:
            assert wait_for_verdict(again, transaction_id)["status"] == "scored"
        # The same system, its key kept: what it submitted before, it still reads.
        own = http.get(f"{again.url}/transaction/{ids[0]}", timeout=5)
        assert own.status_code == 200 and own.json()["status"] == "scored"
    finally:
        stop_service(again)


def test_train_writes_the_model_directory_shows_progress_and_waits_as_a_candidate(
    tmp_path, small_model
) -> None:
    database = f"sqlite:///{tmp_path / 'fraud.db'}"
    fraud("models", "register", "--model-dir", str(small_model), FRAUD_DATABASE_URL=database)
    directory = tmp_path / "model"
    result = subprocess.run(
        [FRAUD, "train", "--samples", "2000", "--epochs", "2", "--model-dir", str(directory)],
        env=fraud_env(FRAUD_DATABASE_URL=database),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # A champion decides already: the new model is registered and waits for a promotion.
    version = json.loads((directory / "model.json").read_text())["version"]
    assert f"registered as a candidate: `fraud models promote {version}`" in result.stdout
    assert {"model.keras", "model.json", "metrics.json", "features.json"} <= {
        path.name for path in directory.iterdir()
    }
    metrics = json.loads((directory / "metrics.json").read_text())
    assert {"average_precision", "roc_auc", "recall_at_1pct_fpr"} <= set(metrics)
    # Not at a terminal, the progress is an event per epoch (a person at one sees bars).
    epochs = [json.loads(line) for line in result.stderr.splitlines() if "epoch trained" in line]
    assert {event["epoch"] for event in epochs} == {"1/2", "2/2"}
    assert "average precision (PR-AUC)" in result.stdout


def test_a_first_run_trains_the_default_model_and_prints_only_json(first_run) -> None:
    """`make run` on a fresh clone, with its output piped: the default model is trained, the
    service answers, every line is a JSON event, and the embedded bus never touches Kafka.
    (The ``first_run`` fixture checks, when it stops the service, that it exits cleanly and
    that every line it wrote by then is JSON.)"""
    service = first_run
    card = json.loads((service.log_path.parent / "model" / "model.json").read_text())
    assert card["training_rows"] == 15_000
    first_run_file = service.log_path.parent / "first-run-credentials.txt"
    assert first_run_file.stat().st_mode & 0o777 == 0o600
    written = first_run_file.read_text()
    password = re.search(r"password: (\S+)", written).group(1)
    key = re.search(r"^    (fraud_\S+)$", written, re.MULTILINE).group(1)
    assert written.count(password) == written.count(key) == 1  # each shown once
    # A user and a merchant of its own: the README's test shares this service.
    purchase = {**EXAMPLE, "user_id": "first-run-user", "merchant": "FirstRunShop"}
    accepted = calling_as(key).post(f"{service.url}/transaction", json=purchase, timeout=5)
    verdict = wait_for_verdict(service, accepted.json()["transaction_id"])
    assert verdict["model_version"] == card["version"]
    browser = signed_in(service.url, "admin", password)
    assert browser.get(f"{service.url}/api/dashboard?limit=²", timeout=5).status_code == 422
    assert browser.get(f"{service.url}/admin", timeout=5).status_code == 200
    output = service.logs()
    assert "epoch trained" in output and "service started" in output
    assert non_json_lines(output) == []
    assert "rdkafka" not in output.lower() and "Connection refused" not in output
    assert password not in output and key not in output  # secrets are never logged
    assert str(first_run_file) in output  # the log says where they are


def body(n: int, user: str) -> dict:
    """The n-th transaction of a load: each a second after the one before, so the order in
    time is the order sent (no ties for a replay to break differently)."""
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n)
    return {**EXAMPLE, "transaction_id": f"load-{n}", "user_id": user, "timestamp": at.isoformat()}


def test_a_service_killed_under_load_decides_everything_once_and_forgets_nobody(
    service, tmp_path, small_model
) -> None:
    users = [f"u{i}" for i in range(5)]
    sent: list[dict] = []
    answered: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with service.client() as http:
            n = 0
            while not stop.is_set():
                transaction = body(n, users[n % len(users)])
                sent.append(transaction)
                try:
                    if http.post(f"{service.url}/transaction", json=transaction, timeout=5).ok:
                        answered.append(transaction["transaction_id"])
                except requests.RequestException:
                    return  # the service is gone mid-request
                n += 1

    loader = threading.Thread(target=load)
    loader.start()
    under_load = time.monotonic() + 60
    while len(answered) <= 60 and loader.is_alive():  # well under way
        assert time.monotonic() < under_load, f"only {len(answered)} answered in a minute"
        time.sleep(0.05)
    service.process.kill()  # SIGKILL under load: no drain, the embedded bus is gone
    service.process.wait(timeout=10)
    stop.set()
    loader.join(timeout=10)
    assert len(answered) > 50

    again = start_service(tmp_path, small_model)
    try:
        for transaction_id in answered:
            verdict = wait_for_verdict(again, transaction_id)
            assert verdict["status"] == "scored"
            assert "versions" not in verdict  # decided exactly once
        # Whatever the kill interrupted is either stored (and scored) or was never accepted.
        stored = []
        viewer = again.client(Role.VIEWER)
        for transaction in sent:
            answer = viewer.get(f"{again.url}/transaction/{transaction['transaction_id']}")
            if answer.status_code == 200:
                stored.append(transaction)
        following = body(len(sent), users[0])
        assert again.client().post(f"{again.url}/transaction", json=following, timeout=5).ok
        after_restart = wait_for_verdict(again, following["transaction_id"])
    finally:
        stop_service(again)

    # What the next transaction would have seen had nothing stopped: every earlier one of
    # its user, in time order, through the same features.
    history = [Transaction.parse(t) for t in [*stored, following]]
    expected = replay([t for t in history if t.user_id == users[0]])[-1]
    assert after_restart["features"] == expected.as_dict()


def wait_for_accepted(results: list[tuple[str, int, str | None]], since: int) -> None:
    """Until the load has had a transaction accepted after its ``since``-th answer."""
    deadline = time.monotonic() + 60
    while not any(status == 202 for _, status, _ in results[since:]):
        assert time.monotonic() < deadline, f"nothing accepted after answer {since}"
        time.sleep(0.05)


def test_a_database_held_by_another_writer_loses_and_dead_letters_nothing(
    service, tmp_path
) -> None:
    database = tmp_path / "fraud.db"
    results: list[tuple[str, int, str | None]] = []
    stop = threading.Event()

    def load() -> None:
        with service.client() as http:
            n = 0
            while not stop.is_set():
                transaction = body(n, f"u{n % 7}")
                response = http.post(f"{service.url}/transaction", json=transaction, timeout=30)
                results.append(
                    (
                        transaction["transaction_id"],
                        response.status_code,
                        response.headers.get("Retry-After"),
                    )
                )
                n += 1
                time.sleep(0.02)

    loader = threading.Thread(target=load)
    loader.start()
    wait_for_accepted(results, 0)
    holder = sqlite3.connect(database, timeout=30)
    holder.execute("BEGIN EXCLUSIVE")  # another writer holds the database for 10 s
    time.sleep(10)
    holder.rollback()
    holder.close()
    wait_for_accepted(results, len(results))  # and the service takes them again
    stop.set()
    loader.join(timeout=60)

    accepted = [transaction_id for transaction_id, status, _ in results if status == 202]
    refused = [(status, retry) for _, status, retry in results if status != 202]
    assert accepted and all(status == 503 and retry for status, retry in refused), refused[:3]
    for transaction_id in accepted:
        assert wait_for_verdict(service, transaction_id, timeout=60)["status"] == "scored"
    viewer = service.client(Role.VIEWER)
    health = viewer.get(f"{service.url}/api/pipeline", timeout=10).json()
    assert health["dead_letters"] == 0
    counts = viewer.get(f"{service.url}/api/dashboard", timeout=10).json()["counts"]
    assert counts["failed"] == 0


def test_a_tampered_model_is_refused_at_start_naming_the_file(tmp_path, small_model) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(small_model, model_dir)
    weights = model_dir / "model.keras"
    content = bytearray(weights.read_bytes())
    content[len(content) // 2] ^= 0xFF
    weights.write_bytes(bytes(content))
    result = subprocess.run(
        [FRAUD, "run", "--port", "0", "--model-dir", str(model_dir)],
        env=fraud_env(FRAUD_DATABASE_URL=f"sqlite:///{tmp_path / 'fraud.db'}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert f"{weights} is not the file its training wrote" in result.stderr
    assert "Traceback" not in result.stderr
