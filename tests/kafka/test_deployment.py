"""The Procfile we ship, run by a Procfile host (honcho) as a deployment would run it: the
API and two workers on the broker and PostgreSQL, nothing shared but those and the model."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from fraud.adapters.sqlalchemy.migrate import upgrade
from fraud.domain.identity import Role
from tests.factories import EXAMPLE
from tests.kafka.conftest import make_topics, rows, wait_for_rows
from tests.processes import calling_as, fraud_env, free_port, issue_keys

ROOT = Path(__file__).resolve().parents[2]
HONCHO = str(Path(sys.executable).with_name("honcho"))


def test_the_procfile_runs_the_api_and_two_workers_that_decide_each_transaction_once(
    kafka_bootstrap, prefix, postgres_url, small_model, tmp_path
) -> None:
    make_topics(kafka_bootstrap, prefix, partitions=3)
    upgrade(postgres_url)
    keys = issue_keys(postgres_url)
    port = free_port()
    env = fraud_env(
        FRAUD_BROKER="kafka",
        FRAUD_KAFKA_BOOTSTRAP=kafka_bootstrap,
        FRAUD_TOPIC_PREFIX=prefix,
        FRAUD_DATABASE_URL=postgres_url,
        FRAUD_MODEL_DIR=str(small_model),
        FRAUD_FIRST_RUN_FILE=str(tmp_path / "first-run.txt"),
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # where `fraud` is installed
    )
    shutil.copy(ROOT / "Procfile", tmp_path / "Procfile")  # no checkout needed beside it
    log = (tmp_path / "honcho.log").open("w")
    honcho = subprocess.Popen(
        [HONCHO, "start", "--no-colour", "-p", str(port), "-c", "web=1,worker=2"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(url, honcho, tmp_path / "honcho.log")
        with calling_as(keys[Role.SUBMITTER]) as http:
            for i in range(30):
                body = {**EXAMPLE, "transaction_id": f"proc-{i}", "user_id": f"proc-user-{i % 5}"}
                assert http.post(f"{url}/transaction", json=body).status_code == 202
        wait_for_rows(postgres_url, 30, "status = 'scored' AND transaction_id LIKE 'proc-%'", 120)
        assert rows(postgres_url) == 30
        assert versions(postgres_url) == 0  # each decided once
    finally:
        honcho.send_signal(signal.SIGTERM)
        honcho.wait(timeout=60)
    output = (tmp_path / "honcho.log").read_text()
    assert output.count('"pipeline stopped"') == 2, output[-3000:]  # both workers, cleanly


def wait_until(url: str, process: subprocess.Popen, log: Path) -> None:
    """Until the web process answers and both workers run their pass of every stage."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-5000:]
        try:
            healthy = requests.get(f"{url}/health", timeout=1).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            healthy = False
        if healthy and log.read_text().count('"stage started"') == 2:  # one pass each
            return
        time.sleep(0.3)
    raise AssertionError(f"the Procfile's processes never all started:\n{log.read_text()[-5000:]}")


def versions(database: str) -> int:
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT COUNT(*) FROM verdict_versions")).scalar_one()
    finally:
        engine.dispose()
