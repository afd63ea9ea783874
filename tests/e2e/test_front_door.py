"""The front door behind granian, as `fraud serve` runs it: a chunked body is read whole or
refused whole, and what carries a secret is never cached."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from fraud.domain.identity import Role
from fraud.entrypoints.http.openapi import MAX_BATCH_BODY_BYTES
from tests.factories import payload
from tests.processes import Service, fraud_env, free_port, issue_keys

pytestmark = pytest.mark.e2e

# What `fraud serve` runs, without the command's insistence on Kafka: the front door alone
# needs no broker (what it accepts waits in the outbox) and no model.
SERVER = (
    "from fraud.entrypoints.http.server import serve_with_granian; "
    "serve_with_granian(host='127.0.0.1', port={port}, workers=1, threads=2)"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Service]:
    database = f"sqlite:///{tmp_path / 'fraud.db'}"
    keys = issue_keys(database)
    port, log = free_port(), tmp_path / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(port=port)],
        env=fraud_env(FRAUD_DATABASE_URL=database),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    service = Service(f"http://127.0.0.1:{port}", process, log, keys, database)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(service):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield service
    finally:
        process.terminate()
        process.wait(timeout=40)


def _healthy(service: Service) -> bool:
    try:
        return requests.get(f"{service.url}/health", timeout=1).status_code == 200
    except (requests.ConnectionError, requests.Timeout):
        return False  # not listening yet, or its worker still starting


def in_chunks(body: bytes, size: int = 16384) -> Iterator[bytes]:
    """A body with no length: requests sends it ``Transfer-Encoding: chunked``."""
    for at in range(0, len(body), size):
        yield body[at : at + size]


def test_the_server_refuses_a_chunked_batch_over_1_mib_with_a_413(served) -> None:
    http = served.client()
    headers = {"Content-Type": "application/json"}
    fits = json.dumps({"transactions": [payload(transaction_id="chunked-1")]}).encode()
    accepted = http.post(
        f"{served.url}/transactions", data=in_chunks(fits), headers=headers, timeout=10
    )
    assert accepted.status_code == 200 and accepted.json()["accepted"] == 1
    too_big = json.dumps({"transactions": [payload(merchant="x" * 2000)] * 600}).encode()
    assert len(too_big) > MAX_BATCH_BODY_BYTES
    refused = http.post(
        f"{served.url}/transactions", data=in_chunks(too_big), headers=headers, timeout=10
    )
    assert refused.status_code == 413
    assert refused.json()["error"] == "request body is larger than 1024 KiB"


def test_a_new_key_is_answered_with_no_store(served) -> None:
    created = served.client(Role.ADMIN).post(
        f"{served.url}/api/keys", json={"name": "through-the-server", "role": "viewer"}, timeout=5
    )
    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    assert created.headers["Pragma"] == "no-cache"
