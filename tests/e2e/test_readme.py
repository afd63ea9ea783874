"""The README's first examples, run as a newcomer runs them against a first `fraud run` on an
empty state (the ``first_run`` fixture): the service trains its default model itself, the
submitter key comes from the first start's credentials, and each answer has the fields and the
decision the README shows.

The README marks each example it promises with ``<!-- example: NAME -->`` above the block.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests

from tests.processes import Service, calling_as

pytestmark = [pytest.mark.e2e, pytest.mark.tensorflow]

README = Path(__file__).parents[2] / "README.md"
# Another machine's CPU may round the trained weights a little differently.
SCORE_TOLERANCE = 0.05


def example(name: str) -> str:
    """The fenced block right after ``<!-- example: NAME -->`` in the README."""
    found = re.search(
        rf"<!-- example: {re.escape(name)} -->\s*```[a-z]*\n(.*?)```", README.read_text(), re.S
    )
    assert found, f"the README has no example marked {name!r}"
    return found.group(1)


def submitted_body() -> dict:
    """The JSON the README's curl sends (``-d '...'``)."""
    found = re.search(r"-d '(.*?)'", example("submit"), re.S)
    assert found, "the submit example sends no -d body"
    return json.loads(found.group(1))


def first_start_key(service: Service) -> str:
    """The submitter key the first start shows, as the README tells a newcomer to keep it
    (without a terminal, in the first start's credentials file)."""
    credentials = (service.log_path.parent / "first-run-credentials.txt").read_text()
    found = re.search(r"key 'submitter' \(role submitter\):\s+(fraud_\S+)", credentials)
    assert found, credentials
    return found.group(1)


def test_the_readmes_first_transaction_is_accepted_then_decided_as_it_shows(first_run) -> None:
    http = calling_as(first_start_key(first_run))
    sent = submitted_body()
    assert "transaction_id" not in sent  # the service names it, as the example shows

    accepted = http.post(f"{first_run.url}/transaction", json=sent, timeout=10)
    shown = example("accepted")
    status_line, location_line, _, body_line = shown.strip().splitlines()
    assert status_line.split()[1] == str(accepted.status_code) == "202"
    assert re.fullmatch(r"Location: /transaction/[0-9a-f-]{36}", location_line)
    answer = accepted.json()
    assert accepted.headers["Location"] == f"/transaction/{answer['transaction_id']}"
    promised = json.loads(body_line)
    assert set(answer) == set(promised)
    assert {k: answer[k] for k in ("status", "duplicate")} == {
        k: promised[k] for k in ("status", "duplicate")
    }

    verdict = scored(http, first_run.url + accepted.headers["Location"])
    promised = json.loads(example("verdict"))
    assert set(verdict) == set(promised), "the README shows other fields than the answer has"
    assert verdict["decision"] == promised["decision"] == "review"
    assert verdict["status"] == promised["status"] == "scored"
    assert verdict["transaction"] == {
        **promised["transaction"],
        "transaction_id": answer["transaction_id"],
    }
    assert verdict["reasons"] == promised["reasons"]
    assert [e["reason"] for e in verdict["explanation"]] == [
        e["reason"] for e in promised["explanation"]
    ]
    for got, shown_share in zip(verdict["explanation"], promised["explanation"], strict=True):
        assert got["share"] == pytest.approx(shown_share["share"], abs=SCORE_TOLERANCE)
    assert verdict["fraud_score"] == pytest.approx(promised["fraud_score"], abs=SCORE_TOLERANCE)
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", verdict["model_version"])
    for moment in ("received_at", "preprocessed_at", "scored_at", "recorded_at"):
        assert verdict[moment].endswith("Z")
        datetime.fromisoformat(verdict[moment])
    assert verdict["received_at"] <= verdict["scored_at"] <= verdict["recorded_at"]
    assert isinstance(verdict["latency_ms"], int | float)


def test_a_transaction_that_breaks_the_contract_is_refused_as_the_readme_shows(first_run) -> None:
    http = calling_as(first_start_key(first_run))
    broken = {**submitted_body(), "amount": -3, "timestamp": "2023-10-05T14:30:00"}
    refused = http.post(f"{first_run.url}/transaction", json=broken, timeout=10)
    assert refused.status_code == 422
    assert refused.json() == json.loads(example("refused"))


def scored(http: requests.Session, url: str) -> dict:
    """The verdict at ``url`` once it is decided (the README's "a moment later")."""
    deadline = time.monotonic() + 30
    while True:
        verdict = http.get(url, timeout=10).json()
        if verdict["status"] != "pending":
            return verdict
        assert time.monotonic() < deadline, "the README's transaction was never decided"
        time.sleep(0.1)
