"""Domain records shaped as the API's JSON."""

from __future__ import annotations

from typing import Any

from fraud.domain.assessment import TransactionRecord
from fraud.domain.transaction import format_instant


def record_view(record: TransactionRecord) -> dict[str, Any]:
    """DESIGN.md's verdict contract: the transaction, its status and, once scored, the verdict."""
    view: dict[str, Any] = {
        "transaction_id": record.transaction.transaction_id,
        "status": record.status.value,
        "transaction": record.transaction.to_dict(),
        "received_at": format_instant(record.received_at),
    }
    assessment = record.assessment
    if assessment is not None:
        view.update(
            fraud_score=round(assessment.fraud_score, 6),
            decision=assessment.decision.value,
            reasons=list(assessment.reasons),
            model_version=assessment.model_version,
            scored_at=format_instant(assessment.scored_at),
            latency_ms=round(record.latency_ms or 0.0, 3),
        )
    if record.features:
        view["features"] = record.features
    if record.error:
        view["error"] = record.error
    if record.label is not None:
        view["label"] = {
            "is_fraud": record.label.is_fraud,
            "analyst": record.label.analyst,
            "labelled_at": format_instant(record.label.labelled_at),
        }
    return view
