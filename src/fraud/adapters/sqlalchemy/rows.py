"""Explicit translation between ``transactions`` rows and domain records.

Kept apart from the repository so the mapping is read (and changed) in one
place, and so no SQLAlchemy row ever reaches the core.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fraud.domain.assessment import (
    AnalystLabel,
    Assessment,
    Decision,
    LabelChange,
    Status,
    TransactionRecord,
)
from fraud.domain.monitoring import Bucket
from fraud.domain.reasons import Reason
from fraud.domain.rules import Rule, RuleAction, RuleFault, RuleHit, RuleMode, RuleOnError
from fraud.domain.transaction import Transaction


def to_row(
    record: TransactionRecord, updated_at: datetime, *, published_at: datetime | None
) -> dict[str, Any]:
    """Every column of the record's row, ready to insert or to fill a stored one."""
    transaction = record.transaction
    assessment = record.assessment
    return {
        "transaction_id": transaction.transaction_id,
        "user_id": transaction.user_id,
        "amount": transaction.amount,
        "currency": transaction.currency,
        "merchant": transaction.merchant,
        "timestamp": transaction.timestamp,
        "merchant_type": transaction.merchant_type,
        "device_type": transaction.device_type,
        "location_match": transaction.location_match,
        "received_at": record.received_at,
        "status": record.status.value,
        "fraud_score": None if assessment is None else assessment.fraud_score,
        "decision": None if assessment is None else assessment.decision.value,
        "reasons": None if assessment is None else list(assessment.reasons),
        "model_version": None if assessment is None else assessment.model_version,
        "scored_at": None if assessment is None else assessment.scored_at,
        "latency_ms": record.latency_ms,
        "features": None if record.features is None else dict(record.features),
        **rule_columns(assessment),
        "error": record.error,
        **label_columns(record.label),
        "preprocessed_ms": _after(record.received_at, record.preprocessed_at),
        "recorded_ms": _after(record.received_at, record.recorded_at),
        "published_at": published_at,
        "submitted_by": record.submitted_by,
        "traceparent": record.trace,
        "updated_at": updated_at,
    }


def version_row(record: TransactionRecord, recorded_at: datetime) -> dict[str, Any]:
    """A later scoring of a decided transaction, as a ``verdict_versions`` row."""
    assessment = record.assessment
    assert assessment is not None, "only scored records have versions"
    return {
        "transaction_id": record.transaction.transaction_id,
        "fraud_score": assessment.fraud_score,
        "decision": assessment.decision.value,
        "reasons": list(assessment.reasons),
        "model_version": assessment.model_version,
        "scored_at": assessment.scored_at,
        "recorded_at": record.recorded_at or recorded_at,
        **rule_columns(assessment),
    }


def rule_columns(assessment: Assessment | None) -> dict[str, Any]:
    """The rules that hit a verdict and the rule set's version, and the model's reasons with
    their shares, as its columns."""
    explanation = (
        [reason.to_dict() for reason in assessment.explanation]
        if assessment is not None and assessment.explanation
        else None
    )
    if assessment is None or assessment.rules_version is None:
        return {
            "rule_hits": None,
            "rules_version": None,
            "explanation": explanation,
            "rule_faults": None,
        }
    return {
        "rule_hits": [hit.to_dict() for hit in assessment.rule_hits],
        "rules_version": assessment.rules_version,
        "explanation": explanation,
        "rule_faults": [fault.to_dict() for fault in assessment.rule_faults] or None,
    }


def to_rule(row: Mapping[Any, Any]) -> Rule:
    return Rule(
        name=row["name"],
        expression=row["expression"],
        action=RuleAction(row["action"]),
        reason=row["reason"],
        mode=RuleMode(row["mode"]),
        version=row["version"],
        on_error=RuleOnError(row["on_error"]),
    )


def rule_row(rule: Rule, at: datetime, by: str) -> dict[str, Any]:
    return {
        "name": rule.name,
        "expression": rule.expression,
        "action": rule.action.value,
        "reason": rule.reason,
        "mode": rule.mode.value,
        "version": rule.version,
        "on_error": rule.on_error.value,
        "changed_at": at,
        "changed_by": by,
    }


def to_assessment(row: Mapping[Any, Any]) -> Assessment:
    """The verdict columns of a ``transactions`` row, or a ``verdict_versions`` row."""
    return Assessment(
        transaction_id=row["transaction_id"],
        fraud_score=float(row["fraud_score"]),
        decision=Decision(row["decision"]),
        reasons=tuple(row["reasons"] or ()),
        model_version=row["model_version"],
        scored_at=row["scored_at"],
        rule_hits=tuple(map(RuleHit.from_dict, row["rule_hits"] or ())),
        rules_version=row["rules_version"],
        explanation=tuple(map(Reason.from_dict, row.get("explanation") or ())),
        rule_faults=tuple(map(RuleFault.from_dict, row.get("rule_faults") or ())),
    )


def to_label_change(row: Mapping[Any, Any]) -> LabelChange:
    previous = row["previous_is_fraud"]
    return LabelChange(
        AnalystLabel(bool(row["is_fraud"]), row["analyst"], row["labelled_at"]),
        None if previous is None else bool(previous),
    )


def label_columns(label: AnalystLabel | None) -> dict[str, Any]:
    """The label's columns of a row: all None when there is no label."""
    return {
        "label_is_fraud": None if label is None else label.is_fraud,
        "label_analyst": None if label is None else label.analyst,
        "labelled_at": None if label is None else label.labelled_at,
    }


# The columns of the transaction itself, as the client sent it: all that to_transaction reads.
TRANSACTION_COLUMNS = (
    "transaction_id",
    "user_id",
    "amount",
    "currency",
    "merchant",
    "timestamp",
    "merchant_type",
    "device_type",
    "location_match",
)


def to_transaction(row: Mapping[Any, Any]) -> Transaction:
    """The transaction a stored row holds (validated when it was written)."""
    return Transaction(
        transaction_id=row["transaction_id"],
        user_id=row["user_id"],
        amount=float(row["amount"]),
        currency=row["currency"],
        merchant=row["merchant"],
        timestamp=row["timestamp"],
        merchant_type=row["merchant_type"],
        device_type=row["device_type"],
        location_match=bool(row["location_match"]),
    )


def to_record(row: Mapping[Any, Any]) -> TransactionRecord:
    """The domain record a stored row describes (rows were validated when written)."""
    transaction = to_transaction(row)
    assessment = None if row["decision"] is None else to_assessment(row)
    features = row["features"]
    label = None
    if row["label_is_fraud"] is not None:
        label = AnalystLabel(
            is_fraud=bool(row["label_is_fraud"]),
            analyst=row["label_analyst"],
            labelled_at=row["labelled_at"],
        )
    return TransactionRecord(
        transaction=transaction,
        received_at=row["received_at"],
        status=Status(row["status"]),
        assessment=assessment,
        # Written as floats (JSON keeps "2.0" a float): read back as they are, not converted
        # again one by one (a backtest reads them for every verdict of a period).
        features=None if features is None else dict(features),
        error=row["error"],
        label=label,
        preprocessed_at=_at(row["received_at"], row["preprocessed_ms"]),
        recorded_at=_at(row["received_at"], row["recorded_ms"]),
        submitted_by=row["submitted_by"],
        trace=row["traceparent"],
    )


def _after(received_at: datetime, instant: datetime | None) -> float | None:
    """Milliseconds from receipt to ``instant`` (exact to the microsecond in a double)."""
    return None if instant is None else (instant - received_at) / _MILLISECOND


def _at(received_at: datetime, milliseconds: float | None) -> datetime | None:
    return None if milliseconds is None else received_at + timedelta(milliseconds=milliseconds)


_MILLISECOND = timedelta(milliseconds=1)


def activity_row(second: datetime, bucket: Bucket) -> dict[str, Any]:
    """A second's tally as a ``verdict_activity`` row: counts by decision, sparse histograms."""
    latency, scores = bucket.sparse_counts()
    return {
        "second": second,
        **{decision.value: n for decision, n in bucket.decisions.items()},
        "latency_counts": {str(i): n for i, n in latency.items()},
        "score_counts": {str(i): n for i, n in scores.items()},
    }


def activity_bucket(row: Mapping[Any, Any]) -> Bucket:
    return Bucket.from_counts(
        {decision: row[decision.value] for decision in Decision},
        {int(i): n for i, n in row["latency_counts"].items()},
        {int(i): n for i, n in row["score_counts"].items()},
    )
