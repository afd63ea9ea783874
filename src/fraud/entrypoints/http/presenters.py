"""Domain objects shaped as the API's JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fraud.application.monitoring import PipelineHealth
from fraud.domain.assessment import TransactionRecord
from fraud.domain.model import ModelInfo
from fraud.domain.monitoring import SCORE_BOUNDS, ActivityPoint, ActivitySnapshot
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
    for stage, at in (
        ("preprocessed_at", record.preprocessed_at),
        ("recorded_at", record.recorded_at),
    ):
        if at is not None:
            view[stage] = format_instant(at)
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


def timeline(record: TransactionRecord) -> list[dict[str, Any]]:
    """The moments a transaction went through, in order, each with the time since receipt."""
    assessment, label = record.assessment, record.label
    stages: list[tuple[str, datetime | None]] = [
        ("received by the API", record.received_at),
        ("preprocessed: behaviour features", record.preprocessed_at),
        ("scored: model and policy", assessment.scored_at if assessment else None),
        ("recorded: verdict stored", record.recorded_at),
    ]
    if label is not None:
        stages.append((f"labelled by {label.analyst}", label.labelled_at))
    return [
        {
            "step": step,
            "at": format_instant(at),
            "since_received_ms": round((at - record.received_at).total_seconds() * 1000, 3),
            "after": elapsed((at - record.received_at).total_seconds()),
        }
        for step, at in stages
        if at is not None
    ]


def elapsed(seconds: float) -> str:
    """A delay for a person: milliseconds for the pipeline, larger units for an analyst."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if seconds >= size:
            return f"+{seconds / size:.1f} {unit}"
    return f"+{seconds * 1000:.1f} ms"


def _point_view(point: ActivityPoint) -> dict[str, Any]:
    return {
        "start": format_instant(point.start),
        "decisions": point.decisions,
        "throughput": round(point.throughput, 3),
        "flagged_rate": point.flagged_rate,
        "decline_rate": point.decline_rate,
        "latency_ms": {
            name: None if value is None else round(value, 3)
            for name, value in point.latency_ms.items()
        },
    }


def activity_view(snapshot: ActivitySnapshot) -> dict[str, Any]:
    return {
        "bucket_seconds": snapshot.bucket_seconds,
        "span_seconds": snapshot.span_seconds,
        "points": [_point_view(point) for point in snapshot.points],
        "totals": _point_view(snapshot.totals),
        "scores": {"upper_bounds": list(SCORE_BOUNDS), "counts": snapshot.score_counts},
    }


def model_view(card: ModelInfo | None) -> dict[str, Any]:
    if card is None:
        return {"model": None}
    view = card.to_dict()
    view.pop("feature_names")
    view["features"] = len(card.feature_names)
    return {"model": view}


def pipeline_view(health: PipelineHealth, running: bool | None) -> dict[str, Any]:
    return {
        "running": running,
        "stages": [
            {"stage": stage.stage, "group": stage.group, "lag": stage.lag}
            for stage in health.stages
        ],
        "dead_letters": health.dead_letters,
    }
