"""A transaction's way through the stages, as its page shows it to an analyst."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fraud.domain.assessment import TransactionRecord
from fraud.domain.transaction import format_instant


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
