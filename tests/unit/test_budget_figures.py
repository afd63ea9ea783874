"""What a fraud team counts, on a model's card and in `fraud evaluate`: precision at a
review budget of the top N scores a day, and the money of the frauds caught and missed."""

from __future__ import annotations

from datetime import timedelta

from fraud.adapters.simulation.simulator import Simulator
from fraud.application.replay import EvaluateModel
from fraud.application.training import TrainingPlan, TrainModel
from fraud.domain.evaluation import at_review_budget
from fraud.domain.model import LabelledTransaction, ModelInfo
from fraud.domain.policy import ScoringPolicy
from fraud.domain.ports import Scorer
from tests.factories import txn
from tests.fakes import FixedClock, RuleModel, RuleTrainer


class SavedCards:
    def __init__(self) -> None:
        self.cards: list[ModelInfo] = []

    def save(self, scorer: Scorer, info: ModelInfo) -> None:
        self.cards.append(info)


def test_a_cards_figures_include_precision_and_money_at_the_review_budget() -> None:
    examples = Simulator().simulate(2_000, seed=3, fraud_rate=0.05)
    plan = TrainingPlan(review_budget=5)
    info = TrainModel(RuleTrainer(), SavedCards(), FixedClock())(examples, plan)
    metrics = info.metrics
    assert metrics["review_budget_per_day"] == 5
    judged = sorted(examples, key=lambda e: e.transaction.timestamp)[len(examples) * 4 // 5 :]
    days = {e.transaction.timestamp.date() for e in judged}
    assert metrics["reviewed"] == sum(
        min(5, sum(1 for e in judged if e.transaction.timestamp.date() == day)) for day in days
    )
    assert 0.0 <= metrics["precision_at_budget"] <= 1.0
    lost = sum(e.transaction.amount for e in judged if e.is_fraud)
    caught, missed = metrics["fraud_money_caught"], metrics["fraud_money_missed"]
    assert abs(sum(caught.values()) + sum(missed.values()) - lost) < 0.01  # rounded to cents
    assert ModelInfo.from_dict(info.to_dict()).metrics == metrics


def test_evaluate_counts_the_frauds_money_by_what_the_policy_decided() -> None:
    # RuleModel: away from home and far above the user's habit is declined; at home, approved.
    home = [txn(i, minutes=i, user_id=f"u{i}", amount=40.0) for i in range(3)]
    away = [
        txn(10 + i, minutes=10 + i, user_id=f"v{i}", amount=5_000.0, location_match=False)
        for i in range(2)
    ]
    examples = [
        LabelledTransaction(home[0], True),
        LabelledTransaction(home[1], False),
        LabelledTransaction(home[2], False),
        LabelledTransaction(away[0], True),
        LabelledTransaction(away[1], False),
    ]
    result = EvaluateModel(RuleModel(), ScoringPolicy(), FixedClock())(examples, review_budget=1)
    assert result.fraud_money == {"decline": {"USD": 5_000.0}, "approve": {"USD": 40.0}}
    # One review a day: the highest score, the fraud away from home.
    assert result.metrics["precision_at_budget"] == 1.0
    assert result.metrics["fraud_money_caught"] == {"USD": 5_000.0}
    assert result.metrics["fraud_money_missed"] == {"USD": 40.0}


def test_the_budget_is_counted_per_day_of_the_transactions_time() -> None:
    late_evening = [txn(i, minutes=14 * 60 + i) for i in range(3)]  # 23:00 UTC onwards
    next_day = [txn(9, minutes=15 * 60 + 30)]  # 00:30 UTC the day after
    rows = [*late_evening, *next_day]
    assert rows[-1].timestamp - rows[0].timestamp < timedelta(hours=2)
    figures = at_review_budget([False, False, False, True], [0.9, 0.8, 0.7, 0.1], rows, 1)
    assert figures["reviewed"] == 2
    assert figures["recall_at_budget"] == 1.0
