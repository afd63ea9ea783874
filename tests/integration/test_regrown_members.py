"""Each member is grown again on every row, the validation's latest ones included, for the
epochs its early stop kept: a fraud pattern only the latest weeks show is learnt."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from fraud.domain.features import replay
from fraud.domain.ports import TrainingData
from fraud.domain.transaction import Transaction
from tests.lazy import lazily

pytestmark = [pytest.mark.integration, pytest.mark.tensorflow]

trainer = lazily("fraud.adapters.tensorflow.trainer")
START = datetime(2025, 1, 1, tzinfo=UTC)


def purchase(i: int, amount: float, device: str) -> Transaction:
    return Transaction.parse(
        {
            "transaction_id": f"r{i}",
            "user_id": f"u{i % 50}",
            "amount": amount,
            "merchant": f"Shop {i % 7}",
            "timestamp": (START + timedelta(minutes=5 * i)).isoformat(),
            "merchant_type": "retail",
            "device_type": device,
            "location_match": 1,
        }
    )


def periods(rows: int = 2_500, seed: int = 5) -> tuple[TrainingData, TrainingData]:
    """Fraud is a large purchase on a desktop throughout; in the latest fifth (the validation
    rows) it is also, and more often, any purchase on a tablet, which the earlier rows never
    show."""
    rng = random.Random(seed)
    cut = rows * 4 // 5
    transactions, labels = [], []
    for i in range(rows):
        fraud = rng.random() < (0.06 if i < cut else 0.2)
        tablet_fraud = fraud and i >= cut and rng.random() < 0.7
        if tablet_fraud:
            transactions.append(purchase(i, round(rng.uniform(5, 120), 2), "tablet"))
        elif fraud:
            transactions.append(purchase(i, round(rng.uniform(900, 3_000), 2), "desktop"))
        else:
            transactions.append(purchase(i, round(rng.uniform(5, 120), 2), "mobile"))
        labels.append(fraud)
    features = replay(transactions)
    return (
        TrainingData(features[:cut], labels[:cut]),
        TrainingData(features[cut:], labels[cut:]),
    )


def tablet_score(regrow: bool) -> float:
    train, validation = periods()
    recipe = trainer.Recipe(members=1, batch_size=128, final_epochs=0, regrow=regrow)
    with capture_logs() as logs:
        scorer = trainer.KerasTrainer(seed=3, recipe=recipe, verbose=False).fit(
            train, validation, epochs=10
        )
    kept = [log for log in logs if log["event"] == "network regrown on every row"]
    assert len(kept) == (1 if regrow else 0)
    progress = [log for log in logs if log["event"] == "epoch regrown"]  # no bar: an event each
    assert len(progress) == sum(log["epochs"] for log in kept)
    later = replay([purchase(10_000 + i, 40.0, "tablet") for i in range(20)])
    return sum(scorer.score(later)) / len(later)


def test_a_regrown_member_learns_what_only_the_latest_rows_show() -> None:
    assert tablet_score(regrow=True) > 0.5 > tablet_score(regrow=False)
