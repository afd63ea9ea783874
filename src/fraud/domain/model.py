"""What the core knows about a fraud model: its identity, thresholds and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fraud.domain.features import FEATURE_NAMES
from fraud.domain.policy import Thresholds
from fraud.domain.transaction import Transaction


@dataclass(frozen=True, slots=True)
class LabelledTransaction:
    """A transaction and its verdict; ``labelled_at``, when known, is when the verdict
    became known (else a training run assumes it came a label delay after the purchase)."""

    transaction: Transaction
    is_fraud: bool
    labelled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """The card saved beside a model: enough to know what it is and how it was judged."""

    version: str
    thresholds: Thresholds
    trained_at: str
    metrics: dict[str, Any] = field(default_factory=dict)
    feature_names: tuple[str, ...] = FEATURE_NAMES
    data_fingerprint: str = ""
    training_rows: int = 0
    # The span of the transactions it learnt from (ISO 8601), when known.
    trained_from: str | None = None
    trained_until: str | None = None
    # What the metrics and thresholds were measured on ("a later simulated period ..."), when
    # known: the card's figures mean little without it.
    judged_on: str | None = None
    # Typical behaviour (each feature's median in training): what its reasons are measured
    # from. None for a model trained before attribution.
    baseline: tuple[float, ...] | None = None
    # Each feature's and the score's distribution in training (a DriftReference's dict):
    # what drift is measured against. None for a model trained before drift monitoring.
    reference: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "thresholds": {"review": self.thresholds.review, "decline": self.thresholds.decline},
            "trained_at": self.trained_at,
            "metrics": self.metrics,
            "feature_names": list(self.feature_names),
            "data_fingerprint": self.data_fingerprint,
            "training_rows": self.training_rows,
            "trained_from": self.trained_from,
            "trained_until": self.trained_until,
            "judged_on": self.judged_on,
            "baseline": None if self.baseline is None else list(self.baseline),
            "reference": self.reference,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            version=str(data["version"]),
            thresholds=Thresholds(**data["thresholds"]),
            trained_at=str(data["trained_at"]),
            metrics=dict(data.get("metrics", {})),
            feature_names=tuple(data.get("feature_names", FEATURE_NAMES)),
            data_fingerprint=str(data.get("data_fingerprint", "")),
            training_rows=int(data.get("training_rows", 0)),
            trained_from=data.get("trained_from"),
            trained_until=data.get("trained_until"),
            judged_on=data.get("judged_on"),
            baseline=None if data.get("baseline") is None else tuple(map(float, data["baseline"])),
            reference=data.get("reference"),
        )
