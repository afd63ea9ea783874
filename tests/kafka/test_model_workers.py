"""A promotion made through `fraud serve`'s API reaches `fraud worker` processes already
running on Kafka within seconds, with no restart, and a rollback hands the decision back."""

from __future__ import annotations

import json
import time

import pytest

from fraud.domain.identity import Role
from tests.e2e.test_rules_service import send, verdict
from tests.kafka.conftest import DEFAULT_GROUPS, serve_on_kafka
from tests.processes import fraud, stop_service

PICKUP_S = 5.0


def decided_by(service, user: str, version: str, changed: float) -> float:
    """Send purchases every half second until one is decided by ``version``; how long after
    the change it was sent."""
    while True:
        transaction_id, sent = send(service, user)
        if verdict(service, transaction_id)["model_version"] == version:
            return sent - changed
        assert sent - changed < PICKUP_S + 5, f"still not decided by {version}"
        time.sleep(0.5)


@pytest.mark.xdist_group(DEFAULT_GROUPS)  # one test at a time in the default groups
def test_a_promotion_and_a_rollback_reach_workers_that_were_already_running(
    kafka_bootstrap, prefix, workers, database, small_model, second_model, tmp_path
) -> None:
    workers.group = "fraud"
    workers.start()
    service = serve_on_kafka(tmp_path, small_model, kafka_bootstrap, prefix, database)
    try:
        first = json.loads((small_model / "model.json").read_text())["version"]
        assert verdict(service, send(service, "lee")[0], timeout=90)["model_version"] == first
        fraud("models", "register", "--model-dir", str(second_model), FRAUD_DATABASE_URL=database)
        second = json.loads((second_model / "model.json").read_text())["version"]

        admin = service.client(Role.ADMIN)
        promoted = admin.post(f"{service.url}/api/models/{second}/promote", timeout=10)
        assert promoted.status_code == 200, promoted.text
        assert decided_by(service, "lee", second, time.monotonic()) <= PICKUP_S

        rolled = admin.post(f"{service.url}/api/models/rollback", timeout=10)
        assert rolled.status_code == 200 and rolled.json()["version"] == first
        assert decided_by(service, "lee", first, time.monotonic()) <= PICKUP_S
        assert all(process.poll() is None for process in workers.processes)  # no restart
    finally:
        stop_service(service)
