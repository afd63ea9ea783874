"""Fraud models: scoring a batch, training one, where a saved one is kept, and the registry
of every trained model with the roles they hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fraud.domain.canary import CanaryStep
from fraud.domain.features import FeatureVector
from fraud.domain.model import ModelInfo
from fraud.domain.registry import (
    ModelRole,
    RegisteredModel,
    RoleChange,
    Roles,
    SignatureCheck,
    StoredArchive,
    ThresholdsChange,
)


@dataclass(frozen=True, slots=True)
class Attributed:
    """A batch's scores, and each feature's part in each: how far it moved the score's
    log-odds from the model's baseline of typical behaviour (FEATURE_NAMES order)."""

    scores: list[float]
    attributions: list[list[float]]


class FraudModel(Protocol):
    @property
    def info(self) -> ModelInfo: ...

    def score(self, features: Sequence[FeatureVector]) -> list[float]:
        """Fraud probability (0..1) of each vector, in one call for the whole batch."""

    def attribute(self, features: Sequence[FeatureVector]) -> Attributed | None:
        """The scores and each feature's part in them, in one call for the whole batch (the
        same scores ``score`` gives); None from a model that cannot say (one whose card has
        no baseline: trained before attribution)."""


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Feature vectors and their labels, in time order."""

    features: Sequence[FeatureVector]
    labels: Sequence[bool]


class Scorer(Protocol):
    def score(self, features: Sequence[FeatureVector]) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class Fitted:
    """A trained model, and the validation rows' scores by the model as it stood before it
    learnt from those rows: out-of-sample scores, the only fair ones to choose thresholds on
    (a model that went on to learn from the rows scores their frauds far higher than it
    will score the next weeks' frauds, and its thresholds come out far too low)."""

    scorer: Scorer
    validation_scores: list[float]


class ModelTrainer(Protocol):
    def fit(self, train: TrainingData, validation: TrainingData, *, epochs: int) -> Fitted:
        """Train a new model, stopping early on the validation data's PR-AUC; it may then
        learn from the validation rows too, after scoring them."""


class ModelStore(Protocol):
    """A model directory: saved with its card, loaded for a replay, archived for the registry."""

    def exists(self) -> bool: ...

    def save(self, scorer: Scorer, info: ModelInfo) -> None: ...

    def load(self) -> FraudModel: ...

    def card(self) -> ModelInfo | None:
        """The saved model's card, read without loading the model; None: nothing saved."""

    def archive(self) -> bytes:
        """The saved model's files as one archive, checked against their manifest first."""


class ModelArchives(Protocol):
    def unpack(self, archive: bytes) -> FraudModel:
        """The model in an archive made by ``ModelStore.archive``, checked and loaded."""


class ArchiveSeal(Protocol):
    """Signs a registered model's archive with the archive key, which the database never
    holds (so whoever can write the database cannot make a signature), and checks one."""

    def sign(self, version: str, archive: bytes) -> str:
        """The signature of ``archive`` as the files of model ``version``."""

    def check(self, version: str, archive: bytes, signature: str) -> SignatureCheck:
        """Whether ``signature`` is this key's over ``archive`` for ``version``."""


class ModelRegistry(Protocol):
    """The write side of the registry, in a unit of work."""

    def add(self, model: RegisteredModel, archive: bytes, signature: str) -> bool:
        """Register a model with its archive's signature; False when its version is
        registered already."""

    def sign(self, version: str, signature: str) -> bool:
        """Give an archive registered before signing its signature; False when it has one
        already (it is never replaced) or no such model is registered."""

    def model(self, version: str) -> RegisteredModel | None: ...

    def roles(self) -> Roles: ...

    def change_role(
        self, role: ModelRole, version: str | None, by: str, at: datetime
    ) -> RoleChange:
        """Give ``role`` to ``version`` (None: to nobody), after whoever holds it now."""

    def set_thresholds(self, change: ThresholdsChange) -> ThresholdsChange:
        """Put thresholds in force for a model; returned with the id the store gave it."""

    def set_canary(self, step: CanaryStep) -> CanaryStep:
        """Put a canary's step in force; returned with the id the store gave it."""


class ModelQueries(Protocol):
    """What the API, the dashboard and the scoring workers read of the registry."""

    def roles(self) -> Roles:
        """Who holds each role now, and the registry's revision: one indexed query."""

    def models(self) -> list[RegisteredModel]:
        """Every registered model, newest first."""

    def model(self, version: str) -> RegisteredModel | None: ...

    def archive(self, version: str) -> StoredArchive | None:
        """The model's files, as registered, with their signature."""

    def role_history(self) -> list[RoleChange]:
        """Every change of role, oldest first."""

    def thresholds(self, version: str) -> ThresholdsChange | None:
        """The thresholds set for the model after training, if any: the latest."""

    def canary_history(self) -> list[CanaryStep]:
        """Every step of every canary, oldest first."""
