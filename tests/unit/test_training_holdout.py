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
    choose_thresholds,
    held_out,
    simulated,
)
from fraud.domain.evaluation import summarize
from fraud.domain.features import FeatureVector
from fraud.domain.model import ModelInfo
from fraud.domain.ports import Fitted, Scorer, TrainingData
from tests.fakes import FixedClock, RuleModel, RuleTrainer

SAMPLES = 1_000


class LearntTheValidationTrainer:
    """A trainer whose saved model went on to learn the validation rows by heart, as
    ``KerasTrainer`` regrows its members on them: its own scores of those rows are perfect
    (in-sample), and only the scores from before it learnt them (``RuleModel``'s) are fair."""

    def __init__(self) -> None:
        self.validation = TrainingData([], [])

    def fit(self, train: TrainingData, validation: TrainingData, *, epochs: int) -> Fitted:
        self.validation = validation
        learnt = {
            vector.values: float(label)
            for vector, label in zip(validation.features, validation.labels, strict=True)
        }
        before = RuleModel()
        return Fitted(ByHeart(learnt, before), before.score(validation.features))


class ByHeart:
    """Scores the rows it learnt by their labels, any other row as ``otherwise`` does."""

    def __init__(self, learnt: dict[tuple[float, ...], float], otherwise: Scorer) -> None:
        self.learnt = learnt
        self.otherwise = otherwise

    def score(self, features: Sequence[FeatureVector]) -> list[float]:
        unknown = self.otherwise.score(features)
        return [
            self.learnt.get(vector.values, score)
            for vector, score in zip(features, unknown, strict=True)
        ]


class SavedCards:
    """A model store that keeps the cards it is given."""

    def __init__(self) -> None:
        self.cards: list[ModelInfo] = []
        self.scorers: list[Scorer] = []

    def save(self, scorer: Scorer, info: ModelInfo) -> None:
        self.cards.append(info)
        self.scorers.append(scorer)


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
    trainer, store = RuleTrainer(), SavedCards()
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
    info = TrainModel(RuleTrainer(), SavedCards(), FixedClock())(examples, TrainingPlan())
    assert info.metrics["rows"] == SAMPLES // 5
    assert info.judged_on == (
        "the latest 20% of its data, scored by its networks before they learnt from those "
        "rows (the rows stopped their training, and the saved model then learnt from them too)"
    )


def test_without_a_held_out_period_thresholds_come_from_scores_before_the_model_learnt_them(
    drawn,
) -> None:
    """The saved model's own scores of the latest rows are in-sample (here perfect): every
    fraud above every genuine purchase, thresholds that flag almost nothing in training and
    far more than the planned share once the frauds are new ones."""
    examples, _ = drawn
    trainer, plan = LearntTheValidationTrainer(), TrainingPlan()
    info = TrainModel(trainer, SavedCards(), FixedClock())(examples, plan)

    labels = trainer.validation.labels
    out_of_sample = RuleModel().score(trainer.validation.features)
    assert info.thresholds == choose_thresholds(labels, out_of_sample, plan)
    in_sample = [float(label) for label in labels]
    assert info.thresholds != choose_thresholds(labels, in_sample, plan)
    assert (
        info.metrics["average_precision"] == summarize(labels, out_of_sample)["average_precision"]
    )
    assert info.metrics["average_precision"] < 1.0


def test_with_a_held_out_period_thresholds_come_from_the_saved_models_scores(drawn) -> None:
    examples, holdout = drawn
    trainer, plan = LearntTheValidationTrainer(), TrainingPlan()
    store = SavedCards()
    info = TrainModel(trainer, store, FixedClock())(examples, plan, holdout)

    judged, _ = held_out(holdout, plan.label_delay)
    saved = store.scorers[0].score(judged.features)
    assert info.thresholds == choose_thresholds(judged.labels, saved, plan)


def test_a_held_out_period_without_fraud_is_still_judged_without_failing(drawn) -> None:
    examples, holdout = drawn
    legitimate = HeldOut([row for row in holdout.examples if not row.is_fraud], "no fraud")
    info = TrainModel(RuleTrainer(), SavedCards(), FixedClock())(
        examples, TrainingPlan(), legitimate
    )
    assert info.metrics["frauds"] == 0
    assert info.metrics["average_precision"] == 0.0
