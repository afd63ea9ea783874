"""Fraud models: scoring a batch, training one, and where the one in use is kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fraud.domain.features import FeatureVector
from fraud.domain.model import ModelInfo


class FraudModel(Protocol):
    @property
    def info(self) -> ModelInfo: ...

    def score(self, features: Sequence[FeatureVector]) -> list[float]:
        """Fraud probability (0..1) of each vector, in one call for the whole batch."""


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Feature vectors and their labels, in time order."""

    features: Sequence[FeatureVector]
    labels: Sequence[bool]


class Scorer(Protocol):
    def score(self, features: Sequence[FeatureVector]) -> list[float]: ...


class ModelTrainer(Protocol):
    def fit(self, train: TrainingData, validation: TrainingData, *, epochs: int) -> Scorer:
        """Train a new model, stopping early on the validation data's PR-AUC."""


class ModelStore(Protocol):
    """Where the model in use lives: saved with its card, loaded for serving."""

    def exists(self) -> bool: ...

    def save(self, scorer: Scorer, info: ModelInfo) -> None: ...

    def load(self) -> FraudModel: ...
