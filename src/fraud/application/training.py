"""Train: replay labelled transactions through the stream's own features, fit, judge, save."""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import structlog

from fraud.domain.drift import DriftReference
from fraud.domain.evaluation import summarize, threshold_at_fpr
from fraud.domain.features import FEATURE_NAMES, FeatureVector, replay
from fraud.domain.label_risk import LabelEvent
from fraud.domain.model import LabelledTransaction, ModelInfo
from fraud.domain.policy import Thresholds
from fraud.domain.ports import Clock, ModelStore, ModelTrainer, TrainingData

log = structlog.get_logger(__name__)


DEFAULT_LABEL_DELAY = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    epochs: int = 20
    # When a row's label became known, where the data does not say (``labelled_at``).
    label_delay: timedelta = DEFAULT_LABEL_DELAY
    validation_fraction: float = 0.2
    review_fpr: float = 0.01
    decline_fpr: float = 0.001


class TrainModel:
    """Fit on the earlier part of the data, choose thresholds and judge on the later part,
    then save the model with its card.

    The split is by time, never random: a model is always used on transactions
    that come after the ones it learnt from.
    """

    def __init__(self, trainer: ModelTrainer, store: ModelStore, clock: Clock) -> None:
        self.trainer = trainer
        self.store = store
        self.clock = clock

    def __call__(
        self, examples: Sequence[LabelledTransaction], plan: TrainingPlan = TrainingPlan()
    ) -> ModelInfo:
        if len(examples) < 10:
            raise ValueError(
                f"need at least 10 labelled transactions to train, got {len(examples)}"
            )
        ordered = sorted(examples, key=lambda example: example.transaction.timestamp)
        features = replay(
            [example.transaction for example in ordered], known_labels(ordered, plan.label_delay)
        )
        labels = [example.is_fraud for example in ordered]
        cut = int(len(ordered) * (1 - plan.validation_fraction))
        train = TrainingData(features[:cut], labels[:cut])
        validation = TrainingData(features[cut:], labels[cut:])
        log.info(
            "training started",
            rows=len(ordered),
            train_rows=cut,
            validation_rows=len(ordered) - cut,
            train_frauds=sum(train.labels),
            validation_frauds=sum(validation.labels),
            epochs=plan.epochs,
        )

        scorer = self.trainer.fit(train, validation, epochs=plan.epochs)
        scores = scorer.score(validation.features)
        metrics = summarize(validation.labels, scores)
        thresholds = choose_thresholds(validation.labels, scores, plan)
        metrics["review_threshold_fpr"] = plan.review_fpr
        metrics["decline_threshold_fpr"] = plan.decline_fpr

        fingerprint = fingerprint_of(ordered)
        trained_at = self.clock.now()
        info = ModelInfo(
            version=f"{trained_at:%Y%m%d-%H%M%S}-{fingerprint[:8]}",
            thresholds=thresholds,
            trained_at=trained_at.isoformat(),
            metrics=metrics,
            data_fingerprint=fingerprint,
            training_rows=len(ordered),
            trained_from=ordered[0].transaction.timestamp.isoformat(),
            trained_until=ordered[-1].transaction.timestamp.isoformat(),
            baseline=typical(train.features),
            reference=DriftReference.fit([vector.values for vector in features], scores).to_dict(),
        )
        self.store.save(scorer, info)
        log.info(
            "model saved",
            version=info.version,
            average_precision=round(metrics["average_precision"], 4),
            roc_auc=round(metrics["roc_auc"], 4),
            recall_at_1pct_fpr=round(metrics["recall_at_1pct_fpr"], 4),
            review_threshold=round(thresholds.review, 4),
            decline_threshold=round(thresholds.decline, 4),
        )
        return info


def typical(features: Sequence[FeatureVector]) -> tuple[float, ...]:
    """Typical behaviour: each feature's median over the training rows, the baseline a
    verdict's reasons are measured from (a median, not a mean: a few huge amounts or bursts
    would otherwise make the typical purchase one nobody makes)."""
    columns = zip(*(vector.values for vector in features), strict=True)
    return tuple(float(statistics.median(column)) for column in columns) or tuple(
        0.0 for _ in FEATURE_NAMES
    )


def known_labels(
    examples: Sequence[LabelledTransaction], label_delay: timedelta
) -> list[LabelEvent]:
    """Each row's label as the stream would have learnt it: at its ``labelled_at``, or a
    label delay after the purchase. A row's features never see its own label (the
    merchant's figures stop at the day before; the card's, at its earlier purchases)."""
    return [
        LabelEvent.of(
            example.transaction,
            example.is_fraud,
            example.labelled_at or example.transaction.timestamp + label_delay,
        )
        for example in examples
    ]


def choose_thresholds(
    labels: Sequence[bool], scores: Sequence[float], plan: TrainingPlan
) -> Thresholds:
    """Thresholds that flag at most the planned share of legitimate transactions."""
    if not any(labels) or all(labels):
        return Thresholds()
    review = threshold_at_fpr(labels, scores, plan.review_fpr)
    decline = threshold_at_fpr(labels, scores, plan.decline_fpr)
    return Thresholds(review=min(review, decline), decline=decline)


def fingerprint_of(examples: Sequence[LabelledTransaction]) -> str:
    """A digest of the training data, so a model can be traced to what it learnt from."""
    digest = hashlib.sha256()
    for example in examples:
        t = example.transaction
        digest.update(
            f"{t.transaction_id}|{t.user_id}|{t.amount!r}|{t.currency}|{t.merchant}|"
            f"{t.timestamp.isoformat()}|{t.merchant_type}|{t.device_type}|"
            f"{int(t.location_match)}|{int(example.is_fraud)}\n".encode()
        )
    return digest.hexdigest()
