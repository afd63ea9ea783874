"""Each member is grown again on every row, the validation's latest ones included, for the
epochs its early stop kept: a fraud pattern only the latest weeks show is learnt."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from fraud.domain.features import replay
from fraud.domain.ports import Fitted, Scorer, TrainingData
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


def fit(regrow: bool) -> tuple[Fitted, TrainingData]:
    """One member fitted on ``periods()``, regrown on every row or left as its early stop
    left it (no final epochs either way); and the validation rows."""
    train, validation = periods()
    recipe = trainer.Recipe(members=1, batch_size=128, final_epochs=0, regrow=regrow)
    with capture_logs() as logs:
        fitted = trainer.KerasTrainer(seed=3, recipe=recipe, verbose=False).fit(
            train, validation, epochs=10
        )
    kept = [log for log in logs if log["event"] == "network regrown on every row"]
    assert len(kept) == (1 if regrow else 0)
    progress = [log for log in logs if log["event"] == "epoch regrown"]  # no bar: an event each
    assert len(progress) == sum(log["epochs"] for log in kept)
    return fitted, validation


@pytest.fixture(scope="module")
def regrown() -> tuple[Fitted, TrainingData]:
    return fit(regrow=True)


@pytest.fixture(scope="module")
def stopped() -> tuple[Fitted, TrainingData]:
    return fit(regrow=False)


def tablet_score(scorer: Scorer) -> float:
    later = replay([purchase(10_000 + i, 40.0, "tablet") for i in range(20)])
    return sum(scorer.score(later)) / len(later)


def test_a_regrown_member_learns_what_only_the_latest_rows_show(regrown, stopped) -> None:
    assert tablet_score(regrown[0].scorer) > 0.5 > tablet_score(stopped[0].scorer)


def test_the_validation_rows_are_scored_by_the_member_before_it_learnt_from_them(
    regrown, stopped
) -> None:
    """The thresholds are chosen on these scores: the early-stopped member's, the very ones
    a member never regrown gives, not the regrown member's own (in-sample) scores."""
    (fitted, validation), (early, _) = regrown, stopped
    before = early.scorer.score(validation.features)
    assert fitted.validation_scores == pytest.approx(before, abs=1e-5)
    assert early.validation_scores == pytest.approx(before, abs=1e-5)
    frauds = [i for i, fraud in enumerate(validation.labels) if fraud]
    after = fitted.scorer.score(validation.features)
    assert sum(after[i] for i in frauds) > sum(before[i] for i in frauds) + 0.2 * len(frauds)
