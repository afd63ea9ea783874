"""`fraud db backup` while `fraud run` takes transactions, then `fraud db restore` into a new
database: every decision taken before the backup began comes back as it was decided."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.domain.identity import Role
from tests.factories import payload
from tests.postgres import fresh_database, server_url
from tests.processes import FRAUD, Service, fraud_env, start_service, stop_service

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BATCH = 20
# Bounds on the load, so that it stops by itself whatever happens to the test.
MAX_LOAD_SECONDS = 120.0
DECIDED_BEFORE_BACKUP = 100


class Load(threading.Thread):
    """Batches of new transactions posted back to back, as a client would."""

    def __init__(self, service: Service) -> None:
        super().__init__(daemon=True)
        self.http = service.client(Role.SUBMITTER)
        self.url = f"{service.url}/transactions"
        self.accepted: list[str] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + MAX_LOAD_SECONDS
        while not self.stopping.is_set() and time.monotonic() < deadline:
            now = datetime.now(UTC).isoformat()
            batch = [
                payload(
                    transaction_id=f"load-{uuid.uuid4().hex}",
                    user_id=f"user-{n % 50}",
                    timestamp=now,
                )
                for n in range(BATCH)
            ]
            try:
                answer = self.http.post(self.url, json={"transactions": batch}, timeout=10)
            except requests.RequestException as error:
                self.failures.append(str(error))
                continue
            if answer.status_code != 200:
                self.failures.append(f"{answer.status_code} {answer.text[:200]}")
                continue
            self.accepted.extend(item["transaction_id"] for item in batch)
            self.stopping.wait(0.05)


def decisions(url: str) -> dict[str, tuple[str, float]]:
    """Each decided transaction's decision and score, read straight from the database."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT transaction_id, decision, fraud_score FROM transactions "
                    "WHERE decision IS NOT NULL"
                )
            )
            return {row[0]: (row[1], row[2]) for row in rows}
    finally:
        engine.dispose()


def wait_for_decisions(url: str, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(decisions(url)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} decisions after {timeout}s"
        time.sleep(0.2)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The service's database and an empty one to restore into, on one backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fraud.db'}", f"sqlite:///{tmp_path / 'restored.db'}"
        return
    server = server_url()
    with fresh_database(server) as serving, fresh_database(server) as restored:
        yield serving, restored


def test_a_backup_under_load_restores_every_decision_taken_before_it(
    databases: tuple[str, str], tmp_path: Path, small_model: Path
) -> None:
    serving, restored = databases
    backup = tmp_path / "fraud.backup"
    service = start_service(tmp_path, small_model, FRAUD_DATABASE_URL=serving)
    load = Load(service)
    try:
        load.start()
        wait_for_decisions(serving, DECIDED_BEFORE_BACKUP)
        before = decisions(serving)
        started = time.monotonic()
        backed_up = subprocess.run(
            [FRAUD, "db", "backup", str(backup)],
            env=fraud_env(FRAUD_DATABASE_URL=serving),
            capture_output=True,
            text=True,
            timeout=120,
        )
        ended = time.monotonic()
        # The service goes on deciding after the backup: it held no lock the service needs.
        wait_for_decisions(serving, len(decisions(serving)) + BATCH)
    finally:
        load.stopping.set()
        load.join(timeout=15)
        stop_service(service)
    assert backed_up.returncode == 0, backed_up.stderr[-3000:]
    assert not load.failures, load.failures[:3]

    restoring = subprocess.run(
        [FRAUD, "db", "restore", str(backup)],
        env=fraud_env(FRAUD_DATABASE_URL=restored),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert restoring.returncode == 0, restoring.stderr[-3000:]
    after = decisions(restored)
    lost = {tid: verdict for tid, verdict in before.items() if after.get(tid) != verdict}
    assert not lost, f"{len(lost)} of {len(before)} decisions lost or changed, e.g. {lost}"
    assert len(after) >= len(before) >= DECIDED_BEFORE_BACKUP
    assert f"restored {backup} (a " in restoring.stdout
    assert "the schema is at this code's revision" in restoring.stdout
    print(f"backup took {ended - started:.2f} s under load; {len(after)} decisions restored")
