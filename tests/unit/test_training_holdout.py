"""What a model trained on simulated data learns from and is judged on: training rows rich
in fraud, and a later period drawn apart with another seed at the usual share of fraud."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from fraud.adapters.simulation.simulator import Simulator
from fraud.application.training import (
    HOLDOUT_FRAUD_RATE,
    HOLDOUT_RATIO,
    TRAINING_FRAUD_RATE,
    HeldOut,
    TrainingPlan,
    TrainModel,
    simulated,
)
from fraud.domain.model import ModelInfo
from fraud.domain.ports import Scorer, TrainingData
from tests.fakes import FixedClock, RuleModel

SAMPLES = 1_000


class FixedTrainer:
    """A trainer that learns nothing: every fit gives the same transparent model."""

    def __init__(self) -> None:
        self.fitted: list[tuple[int, int]] = []

    def fit(self, train: TrainingData, validation: TrainingData, *, epochs: int) -> Scorer:
        self.fitted.append((len(train.features), len(validation.features)))
        return RuleModel()


class SavedCards:
    """A model store that keeps the cards it is given."""

    def __init__(self) -> None:
        self.cards: list[ModelInfo] = []

    def save(self, scorer: Scorer, info: ModelInfo) -> None:
        self.cards.append(info)


@pytest.fixture(scope="module")
def drawn():
    return simulated(Simulator(), SAMPLES, seed=7)


def frauds(rows: Sequence) -> int:
    return sum(row.is_fraud for row in rows)


def test_training_rows_hold_enough_fraud_to_learn_from(drawn) -> None:
    examples, _ = drawn
    assert len(examples) == SAMPLES
    assert frauds(examples) == round(SAMPLES * TRAINING_FRAUD_RATE)


def test_the_held_out_period_comes_later_from_another_seed_at_the_usual_share(drawn) -> None:
    examples, holdout = drawn
    assert len(holdout.examples) == SAMPLES * HOLDOUT_RATIO
    assert frauds(holdout.examples) == round(SAMPLES * HOLDOUT_RATIO * HOLDOUT_FRAUD_RATE)
    trained_until = max(row.transaction.timestamp for row in examples)
    assert min(row.transaction.timestamp for row in holdout.examples) > trained_until
    assert {row.transaction.transaction_id[:8] for row in holdout.examples} == {"sim-1007"}
    assert "seed 1007" in holdout.description


def test_a_model_is_judged_and_its_thresholds_chosen_on_the_held_out_period(drawn) -> None:
    examples, holdout = drawn
    trainer, store = FixedTrainer(), SavedCards()
    info = TrainModel(trainer, store, FixedClock())(examples, TrainingPlan(epochs=1), holdout)

    # It learns from every training row (the latest fifth stops the fitting in time)...
    assert trainer.fitted == [(SAMPLES * 4 // 5, SAMPLES // 5)]
    # ...and its card's figures rest on the held-out period's rows and frauds.
    assert info.metrics["rows"] == len(holdout.examples)
    assert info.metrics["frauds"] == frauds(holdout.examples)
    assert info.judged_on == holdout.description
    assert store.cards == [info]
    assert ModelInfo.from_dict(info.to_dict()).judged_on == holdout.description


def test_without_a_held_out_period_the_latest_part_of_the_data_judges(drawn) -> None:
    examples, _ = drawn
    info = TrainModel(FixedTrainer(), SavedCards(), FixedClock())(examples, TrainingPlan())
    assert info.metrics["rows"] == SAMPLES // 5
    assert info.judged_on == (
        "the latest 20% of its data, which also stopped and finished its training"
    )


def test_a_held_out_period_without_fraud_is_still_judged_without_failing(drawn) -> None:
    examples, holdout = drawn
    legitimate = HeldOut([row for row in holdout.examples if not row.is_fraud], "no fraud")
    info = TrainModel(FixedTrainer(), SavedCards(), FixedClock())(
        examples, TrainingPlan(), legitimate
    )
    assert info.metrics["frauds"] == 0
    assert info.metrics["average_precision"] == 0.0
