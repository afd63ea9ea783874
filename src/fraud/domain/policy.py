"""The scoring policy: from a model score and the transaction's facts to a decision."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fraud.domain.assessment import Decision
from fraud.domain.features import FeatureVector
from fraud.domain.reasons import Reason, explain, rank
from fraud.domain.transaction import Transaction

MAX_REASONS = 3
# Said of an approval whose features, together, did not raise its risk above typical.
NOTHING_RAISED = "nothing raised the risk above a typical transaction's"
# Said of an approval none of whose facts stands out, though together they raised its risk a
# little: an approval always says why, so an empty list never reads as a missing answer.
NOTHING_STOOD_OUT = "nothing stood out: the risk stays below the review threshold"


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
        if not reasons:
            reasons = [self._nothing_found(score, decision)]
        return decision, tuple(reasons)

    def explain(
        self,
        score: float,
        transaction: Transaction,
        features: FeatureVector,
        attributions: Sequence[float],
    ) -> tuple[Decision, tuple[str, ...], tuple[Reason, ...]]:
        """The decision, its reasons and their shares, chosen and ordered by the model's own
        attribution: only facts whose features raised the score, the weightiest first. An
        approval whose features, together, did not raise the risk says so."""
        decision = self.decide(score)
        ranked = tuple(rank(transaction, features, attributions)[: self.max_reasons])
        reasons = [reason.text for reason in ranked]
        if not reasons:
            if decision is Decision.APPROVE and sum(attributions) <= 0.0:
                reasons = [NOTHING_RAISED]
            else:
                reasons = [self._nothing_found(score, decision)]
        return decision, tuple(reasons), ranked

    def _nothing_found(self, score: float, decision: Decision) -> str:
        """What a verdict says when no reason applies: the score against its threshold."""
        if decision is Decision.APPROVE:
            return NOTHING_STOOD_OUT
        line = self.thresholds.decline if decision is Decision.DECLINE else self.thresholds.review
        return f"model score {score:.2f} is at or above the {decision.value} threshold {line:.2f}"
