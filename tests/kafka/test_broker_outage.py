"""No request left hanging and no transaction lost while the broker is away: the broker
stops for 10 s under load and comes back. The broker is this module's own, not the run's,
which the tests beside this one (other xdist workers) go on using meanwhile."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.factories import EXAMPLE
from tests.kafka.conftest import rows, wait_for_rows
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
KAFKA_HOME = ROOT / "var" / "kafka"  # where `make test` fetched the broker's jars


class OwnBroker:
    """A single broker (ops/kafka/kafka.sh) on ports of its own and storage in ``home``,
    sharing the run's jars; stopped and started again as an operator would."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port_pair()
        self.bootstrap = f"127.0.0.1:{self.port}"
        home.mkdir(parents=True, exist_ok=True)
        for shared in ("lib", "classes"):
            if (KAFKA_HOME / shared).exists():
                (home / shared).symlink_to(KAFKA_HOME / shared)

    def start(self, *, fresh: bool = False) -> None:
        self._script("up", KAFKA_FRESH="1" if fresh else "0")

    def stop(self) -> None:
        self._script("down")

    def _script(self, action: str, **env: str) -> None:
        result = subprocess.run(
            [str(ROOT / "ops/kafka/kafka.sh"), action],
            env={
                **os.environ,
                "KAFKA_HOME": str(self.home),
                "KAFKA_PORT": str(self.port),
                "KAFKA_SASL_PORT": "",
                **env,
            },
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, f"kafka.sh {action}: {result.stdout}{result.stderr}"


def free_port_pair() -> int:
    """A free port whose next one is free too (kafka.sh puts the controller there)."""
    port = free_port()
    while (following := free_port()) != port + 1:  # both taken from the block: not handed out again
        port = following
    return port


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    broker = OwnBroker(tmp_path_factory.mktemp("kafka"))
    broker.start(fresh=True)
    yield broker
    broker.stop()
    shutil.rmtree(broker.home, ignore_errors=True)


@pytest.fixture(scope="module")
def kafka_bootstrap(own_broker: OwnBroker) -> str:
    """The broker every fixture of this module's test uses: its own."""
    return own_broker.bootstrap


@dataclass
class Answer:
    transaction_id: str
    status: int
    seconds: float
    retry_after: str | None


def test_a_broker_outage_under_load_hangs_no_request_and_loses_no_transaction(
    own_broker, serve, kafka_bootstrap, prefix, workers, database
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
    own_broker.stop()
    down_at = time.monotonic()
    time.sleep(max(0.0, 10 - (time.monotonic() - down_at)))
    own_broker.start()
    for thread in threads:
        thread.join()

    assert len(answers) >= 0.9 * rate * duration  # the load was offered
    # A request that waited on the broker would take the outage's 10 s or the producer's
    # 30 s; 5 s leaves room for a busy CI machine's scheduling, not for a hang.
    assert max(a.seconds for a in answers) <= 5.0, sorted(a.seconds for a in answers)[-5:]
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
