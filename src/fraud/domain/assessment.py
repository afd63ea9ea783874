"""What the service concludes about a transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fraud.domain.transaction import Transaction


class Decision(StrEnum):
    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


class Status(StrEnum):
    PENDING = "pending"
    SCORED = "scored"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one transaction: a score, a decision and why."""

    transaction_id: str
    fraud_score: float
    decision: Decision
    reasons: tuple[str, ...]
    model_version: str
    scored_at: datetime


@dataclass(frozen=True, slots=True)
class AnalystLabel:
    """An analyst's verdict on a transaction: fraud or not, who said so and when."""

    is_fraud: bool
    analyst: str
    labelled_at: datetime


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """A transaction as stored: pending until its assessment arrives."""

    transaction: Transaction
    received_at: datetime
    status: Status = Status.PENDING
    assessment: Assessment | None = None
    features: dict[str, float] | None = None
    error: str | None = None
    label: AnalystLabel | None = None
    # When it went through the stages before and after scoring (the timeline analysts see).
    preprocessed_at: datetime | None = None
    recorded_at: datetime | None = None

    @property
    def latency_ms(self) -> float | None:
        """Time from receipt to verdict, the end-to-end latency of the pipeline."""
        if self.assessment is None:
            return None
        return (self.assessment.scored_at - self.received_at).total_seconds() * 1000.0
