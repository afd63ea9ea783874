"""`fraud retrain` on a database the service filled: simulated transactions submitted over
the API, chargebacks imported for the frauds, then a candidate trained on what was stored,
registered and backtested against the champion, which stays in charge unless asked."""

from __future__ import annotations

import csv
import json
import time
from datetime import timedelta

import pytest

from fraud.domain.identity import Role
from fraud.domain.transaction import format_instant, parse_instant
from tests.processes import fraud, start_service, stop_service

pytestmark = pytest.mark.e2e

SAMPLES = 3000  # 30 simulated days from 2025-01-01, 60 frauds
END = "2025-01-31T00:00:00Z"


def fill(tmp_path, small_model) -> str:
    """The service's database, filled with the simulation and its chargebacks; its URL."""
    simulated = tmp_path / "simulated.csv"
    fraud(
        *("simulate", "--samples", str(SAMPLES), "--seed", "21", "--fraud-rate", "0.02"),
        *("--out", str(simulated)),
    )
    with simulated.open() as file:
        rows = list(csv.DictReader(file))
    service = start_service(tmp_path, small_model)
    try:
        client = service.client(Role.SUBMITTER)
        fields = ("transaction_id", "user_id", "amount", "currency", "merchant", "timestamp")
        fields += ("merchant_type", "device_type")
        for start in range(0, len(rows), 500):
            batch = [
                {
                    **{name: row[name] for name in fields if row.get(name)},
                    "amount": float(row["amount"]),
                    "location_match": int(row["location_match"]),
                }
                for row in rows[start : start + 500]
            ]
            # A batch counts one request per transaction against the key's limit (1,000 a
            # second by default): as a client should, wait as long as the 429 says.
            while (
                answer := client.post(
                    f"{service.url}/transactions", json={"transactions": batch}, timeout=60
                )
            ).status_code == 429:
                time.sleep(float(answer.headers["Retry-After"]))
            assert answer.status_code == 200 and answer.json()["accepted"] == len(batch)
        viewer = service.client(Role.VIEWER)
        deadline = time.monotonic() + 180
        while True:
            counts = viewer.get(f"{service.url}/api/dashboard", timeout=10).json()["counts"]
            if counts["pending"] == 0 and sum(counts.values()) >= SAMPLES:
                break
            assert time.monotonic() < deadline, counts
            time.sleep(1)
    finally:
        stop_service(service)
    chargebacks = tmp_path / "chargebacks.csv"
    with chargebacks.open("w") as file:
        file.write("transaction_id,is_fraud,labelled_at\n")
        for row in rows:
            if row["is_fraud"] == "1":
                known = parse_instant(row["timestamp"]) + timedelta(days=2)
                file.write(f"{row['transaction_id']},1,{format_instant(known)}\n")
    imported = fraud("labels", "import", str(chargebacks), FRAUD_DATABASE_URL=service.database_url)
    assert "imported 60 labels (60 fraud)" in imported.stdout
    return service.database_url


# The service filled over the API, then two retrains, each a TensorFlow process: 70 s of CPU,
# and 279 s of wall time in a whole suite's run on a busy 2-core machine, near the default
# timeout that is there to stop a hang.
@pytest.mark.timeout(600)
def test_retrain_registers_a_backtested_candidate_and_leaves_the_champion(
    tmp_path, small_model
) -> None:
    database = fill(tmp_path, small_model)
    champion = json.loads((small_model / "model.json").read_text())["version"]
    report = tmp_path / "backtest.json"

    retrained = fraud(
        *("retrain", "--since", "60d", "--until", END, "--holdout", "7d"),
        *("--label-delay", "3d", "--epochs", "2", "--report", str(report)),
        FRAUD_DATABASE_URL=database,
    )

    candidate = json.loads(report.read_text())
    assert candidate["champion"] == champion
    assert f"model {candidate['candidate']} registered, a candidate" in retrained.stdout
    assert "backtest 2025-01-21T00:00:00Z to 2025-01-28T00:00:00Z" in retrained.stdout
    assert candidate["rows"] > 500 and candidate["frauds"] > 5
    for figures in candidate["figures"].values():
        assert 0.0 <= figures["average_precision"] <= 1.0
    listed = fraud("models", "list", FRAUD_DATABASE_URL=database).stdout
    assert f"{champion}  champion" in listed
    assert candidate["candidate"] in listed

    again = fraud(
        *("retrain", "--since", "60d", "--until", END, "--label-delay", "3d", "--epochs", "1"),
        *("--seed", "8", "--promote-if-better", "1.0"),
        FRAUD_DATABASE_URL=database,
    )
    assert "not promoted: its AP does not beat the champion's by 1.0" in again.stdout
    roles = fraud("models", "list", FRAUD_DATABASE_URL=database).stdout
    assert f"{champion}  champion" in roles
