"""Labels given mid-stream over the API, and `fraud score --labels` on the same transactions
and labels: the same features and the same scores."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime

import pytest

from fraud.adapters.csv.labelled import write_labelled
from fraud.containers import bootstrap
from fraud.domain.features import FEATURE_NAMES, replay
from fraud.domain.identity import Role
from fraud.domain.model import LabelledTransaction
from fraud.domain.transaction import format_instant
from fraud.entrypoints.http.app import create_app
from fraud.settings import Settings
from tests.factories import payload
from tests.fakes import FixedClock
from tests.identities import calling_as, issue_keys
from tests.lazy import lazily
from tests.processes import fraud
from tests.unit.conftest import in_memory, settle

pytestmark = pytest.mark.integration

store = lazily("fraud.adapters.tensorflow.store")
EVER = datetime(1970, 1, 1, tzinfo=UTC)


def test_labels_given_mid_stream_and_score_with_labels_agree(tmp_path, small_model) -> None:
    clock = FixedClock(datetime(2025, 3, 3, 8, tzinfo=UTC))
    model = store.KerasModelStore(small_model).load()
    container = in_memory(
        bootstrap(Settings(database_url="sqlite://", model_dir=str(small_model))), model, clock
    )
    app = create_app(container)
    keys = issue_keys(container)
    client = calling_as(app, keys[Role.SUBMITTER])
    analyst = calling_as(app, keys[Role.ANALYST])
    rng = random.Random(3)
    ids: list[str] = []
    for day in range(5):
        clock.current = datetime(2025, 3, 3 + day, 8, tzinfo=UTC)
        today = []
        for i in range(80):
            clock.advance(rng.uniform(60, 600))
            body = payload(
                transaction_id=f"d{day}-{i}",
                user_id=f"u{rng.randrange(25)}",
                merchant=f"m{rng.randrange(5)}",
                amount=round(rng.uniform(5, 400), 2),
                timestamp=format_instant(clock.current),
                location_match=rng.random() < 0.9,
            )
            assert client.post("/transaction", json=body).status_code == 202
            today.append(body)
        settle(container)
        # Late in the day the analysts confirm some of it: most of m0's, a few elsewhere.
        for body in today:
            if rng.random() < (0.5 if body["merchant"] == "m0" else 0.05):
                clock.advance(30)
                verdict = {"is_fraud": rng.random() < 0.8}
                answer = analyst.post(f"/transaction/{body['transaction_id']}/label", json=verdict)
                assert answer.status_code == 200
        settle(container)
        ids.extend(body["transaction_id"] for body in today)

    with container.unit_of_work()() as uow:
        streamed = uow.verdicts.get_many(ids)
    transactions = [streamed[i].transaction for i in ids]
    labels = container.queries().label_events(EVER)
    data, label_file, out = tmp_path / "data.csv", tmp_path / "labels.csv", tmp_path / "out.csv"
    write_labelled(data, [LabelledTransaction(t, False) for t in transactions])
    with label_file.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["transaction_id", "is_fraud", "labelled_at"])
        for event in labels:
            known = datetime.fromtimestamp(event.labelled_at, UTC)
            writer.writerow([event.transaction_id, int(event.is_fraud), format_instant(known)])

    fraud(
        "score",
        *("--data", str(data), "--labels", str(label_file)),
        *("--out", str(out), "--model-dir", str(small_model)),
    )
    with out.open() as handle:
        offline = {row["transaction_id"]: row for row in csv.DictReader(handle)}
    for transaction_id in ids:
        verdict = streamed[transaction_id].assessment
        assert verdict is not None
        row = offline[transaction_id]
        assert verdict.fraud_score == pytest.approx(float(row["fraud_score"]), abs=1e-6)
        assert verdict.decision.value == row["decision"]
        assert "; ".join(verdict.reasons) == row["reasons"]

    replayed = replay(transactions, labels)
    for transaction_id, vector in zip(ids, replayed, strict=True):
        stored = streamed[transaction_id].features
        assert stored is not None
        assert [stored[name] for name in FEATURE_NAMES] == pytest.approx(vector.values, abs=1e-6)
    # The labels did reach the features: this is not a parity of zeros.
    assert max(v["merchant_frauds_1d"] for v in replayed) >= 3
    assert max(v["card_confirmed_frauds"] for v in replayed) >= 1
    assert sum(1 for e in labels if not e.is_fraud) >= 1
