"""The scoring policy: from a model score and the transaction's facts to a decision."""

from __future__ import annotations

from dataclasses import dataclass

from fraud.domain.assessment import Decision
from fraud.domain.features import FeatureVector
from fraud.domain.reasons import explain
from fraud.domain.transaction import Transaction

MAX_REASONS = 3


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Scores at or above ``review`` go to an analyst; at or above ``decline`` are refused."""

    review: float = 0.5
    decline: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 <= self.review <= self.decline <= 1.0:
            raise ValueError(
                f"thresholds must satisfy 0 <= review <= decline <= 1, "
                f"got review={self.review}, decline={self.decline}"
            )


@dataclass(frozen=True, slots=True)
class ScoringPolicy:
    thresholds: Thresholds = Thresholds()
    max_reasons: int = MAX_REASONS

    def decide(self, score: float) -> Decision:
        if score >= self.thresholds.decline:
            return Decision.DECLINE
        if score >= self.thresholds.review:
            return Decision.REVIEW
        return Decision.APPROVE

    def assess(
        self, score: float, transaction: Transaction, features: FeatureVector
    ) -> tuple[Decision, tuple[str, ...]]:
        """The decision and up to ``max_reasons`` reasons, strongest first.

        Approved transactions carry reasons too when something stood out, so an
        analyst can see what the model weighed even below the review line.
        """
        decision = self.decide(score)
        reasons = explain(transaction, features)[: self.max_reasons]
        if not reasons and decision is not Decision.APPROVE:
            line = (
                self.thresholds.decline if decision is Decision.DECLINE else self.thresholds.review
            )
            reasons = [
                f"model score {score:.2f} is at or above the {decision.value} threshold {line:.2f}"
            ]
        return decision, tuple(reasons)
