"""The registry while `fraud run` serves: a promotion and a rollback decide the next
transactions with no restart and nothing lost, a challenger scores every transaction in
shadow and decides none, and every change is in the audit log."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud.domain.identity import Role
from tests.e2e.test_rules_service import HABIT
from tests.e2e.test_run_service import wait_for_verdict
from tests.processes import FRAUD, Service, fraud, fraud_env, start_service, stop_service

pytestmark = pytest.mark.e2e

PICKUP_S = 5.0
PURCHASE = {**HABIT, "user_id": "registry-user"}  # one the model approves


@pytest.fixture
def service(tmp_path, small_model) -> Iterator[Service]:
    running = start_service(tmp_path, small_model)
    yield running
    stop_service(running)


def candidate(service: Service, model: Path) -> str:
    """The run's second model, registered in the service's registry (a candidate, as a
    model `fraud train` registers beside a champion); its version."""
    fraud("models", "register", "--model-dir", str(model), FRAUD_DATABASE_URL=service.database_url)
    return json.loads((model / "model.json").read_text())["version"]


class Traffic:
    """Purchases sent every 50 ms from a thread, until stopped: what a promotion happens
    under."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.sent: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _send(self) -> None:
        client = self.service.client()
        while not self._stop.is_set():
            transaction_id = f"reg-{uuid.uuid4().hex[:10]}"
            body = {**PURCHASE, "transaction_id": transaction_id}
            answer = client.post(f"{self.service.url}/transaction", json=body, timeout=5)
            assert answer.status_code == 202, answer.text
            self.sent.append(transaction_id)
            time.sleep(0.05)

    def decided_by(self, version: str, since: int) -> int:
        """Wait for a purchase sent after the ``since``-th to be decided by ``version``;
        how many had been sent when it was found."""
        deadline = time.monotonic() + PICKUP_S + 10
        while time.monotonic() < deadline:
            for transaction_id in list(self.sent[since:]):
                if wait_for_verdict(self.service, transaction_id)["model_version"] == version:
                    return len(self.sent)
            time.sleep(0.2)
        raise AssertionError(f"no verdict by {version}:\n{self.service.logs()[-3000:]}")


def test_promotion_and_rollback_decide_the_next_transactions_with_nothing_lost(
    service, small_model, second_model
) -> None:
    first = json.loads((small_model / "model.json").read_text())["version"]
    second = candidate(service, second_model)
    listed = fraud("models", "list", FRAUD_DATABASE_URL=service.database_url).stdout
    assert f"{first}  champion" in listed and second in listed

    with Traffic(service) as traffic:
        time.sleep(0.5)
        promoted_at = len(traffic.sent)
        fraud("models", "promote", second, FRAUD_DATABASE_URL=service.database_url)
        after_promotion = traffic.decided_by(second, promoted_at)
        fraud("models", "rollback", FRAUD_DATABASE_URL=service.database_url)
        traffic.decided_by(first, after_promotion)
        time.sleep(0.3)

    verdicts = [wait_for_verdict(service, i) for i in traffic.sent]
    assert all(v["status"] == "scored" for v in verdicts)  # none lost
    versions = [v["model_version"] for v in verdicts]
    # In the order they were sent: the first model, then the second, then the first again.
    changes = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
    assert changes == [first, second, first], changes
    card = service.client(Role.VIEWER).get(f"{service.url}/api/model", timeout=5).json()
    assert card["model"]["version"] == first

    audit = fraud("audit", "list", "--limit", "10", FRAUD_DATABASE_URL=service.database_url).stdout
    assert f"champion: {first} -> {second}" in audit
    assert f"champion: {second} -> {first}" in audit


def test_a_challenger_scores_every_transaction_in_shadow_and_decides_none(
    service, small_model, second_model, tmp_path
) -> None:
    champion = json.loads((small_model / "model.json").read_text())["version"]
    # A model trained elsewhere comes in through `fraud models register`, as a candidate.
    challenger = json.loads((second_model / "model.json").read_text())["version"]
    register = ("models", "register", "--model-dir", str(second_model))
    registered = fraud(*register, FRAUD_DATABASE_URL=service.database_url)
    assert f"model {challenger} is registered: a candidate" in registered.stdout
    empty = subprocess.run(
        [FRAUD, "models", "register", "--model-dir", str(tmp_path / "empty")],
        env=fraud_env(FRAUD_DATABASE_URL=service.database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert empty.returncode == 2 and "no model in" in empty.stderr, empty.stderr
    fraud("models", "challenge", challenger, FRAUD_DATABASE_URL=service.database_url)

    with Traffic(service) as traffic:
        traffic.decided_by(champion, 0)
        deadline = time.monotonic() + PICKUP_S + 10
        while "versions" not in wait_for_verdict(service, traffic.sent[-1]):
            assert time.monotonic() < deadline, service.logs()[-3000:]
            time.sleep(0.2)
        shadowed_from = len(traffic.sent)
        while len(traffic.sent) < shadowed_from + 20:  # a second's purchases in shadow
            time.sleep(0.05)

    for transaction_id in traffic.sent[shadowed_from:]:
        verdict = wait_for_verdict(service, transaction_id)
        assert verdict["model_version"] == champion
        assert [v["model_version"] for v in verdict["versions"]] == [challenger]
