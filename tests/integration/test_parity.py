"""One code path online and offline: `fraud score` gives the scores the stream gives."""

from __future__ import annotations

import csv

import pytest

from fraud.adapters.csv.labelled import write_labelled
from fraud.adapters.simulation.simulator import simulate
from fraud.adapters.system.clock import SystemClock
from tests.lazy import lazily
from tests.pipeline_helpers import embedded_pipeline
from tests.processes import fraud

pytestmark = pytest.mark.integration

store = lazily("fraud.adapters.tensorflow.store")


def test_offline_replay_and_the_stream_agree(tmp_path, small_model) -> None:
    examples = simulate(3_000, seed=21)
    data = tmp_path / "transactions.csv"
    write_labelled(data, examples)

    out = tmp_path / "scored.csv"
    fraud("score", "--data", str(data), "--out", str(out), "--model-dir", str(small_model))
    with out.open() as handle:
        offline = {row["transaction_id"]: row for row in csv.DictReader(handle)}

    model = store.KerasModelStore(small_model).load()
    pipeline = embedded_pipeline(model, SystemClock(), batch_size=257)
    transactions = [example.transaction for example in examples]  # simulate sorts by time
    for start in range(0, len(transactions), 100):
        pipeline.submit(transactions[start : start + 100])
        pipeline.run_until_idle()

    with pipeline.store() as uow:
        streamed = uow.verdicts.get_many(list(offline))
    assert len(streamed) == len(offline) == 3_000
    for transaction_id, row in offline.items():
        verdict = streamed[transaction_id].assessment
        assert verdict.fraud_score == pytest.approx(float(row["fraud_score"]), abs=1e-6)
        assert verdict.decision.value == row["decision"]
        assert "; ".join(verdict.reasons) == row["reasons"]
    assert any(row["decision"] != "approve" for row in offline.values())
