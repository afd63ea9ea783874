"""The JSON the dashboard polls, as the OpenAPI document describes it."""

from __future__ import annotations

from typing import Any

from fraud.domain.assessment import Decision
from fraud.entrypoints.http.openapi import Schema
from fraud.entrypoints.http.schemas import INSTANT, VERDICT


def _counts(names: list[str], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": names,
        "properties": {name: {"type": "integer", "minimum": 0} for name in names},
    }
    if description:
        schema["description"] = description
    return schema


DECISIONS = [decision.value for decision in Decision]
SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
MILLISECONDS = {"type": ["number", "null"], "minimum": 0}

DASHBOARD = Schema(
    "Dashboard",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["total", "counts", "recent", "flagged", "label_precision"],
        "properties": {
            "total": {"type": "integer", "minimum": 0},
            "counts": _counts([*DECISIONS, "pending", "failed"], "records by decision or status"),
            "recent": {"type": "array", "items": VERDICT, "description": "newest first"},
            "flagged": {"type": "array", "items": VERDICT, "description": "reviews and declines"},
            "label_precision": {
                "type": "object",
                "description": "per flagged decision of the last 7 days: the analysts' labels",
                "additionalProperties": _counts(["confirmed", "cleared", "unlabelled"]),
            },
        },
    },
)

ACTIVITY_POINT = Schema(
    "ActivityPoint",
    {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "start",
            "decisions",
            "throughput",
            "flagged_rate",
            "decline_rate",
            "latency_ms",
        ],
        "properties": {
            "start": INSTANT,
            "decisions": _counts(DECISIONS),
            "throughput": {"type": "number", "minimum": 0, "description": "verdicts per second"},
            "flagged_rate": {**SHARE, "description": "share reviewed or declined; null if none"},
            "decline_rate": SHARE,
            "latency_ms": {
                "type": "object",
                "additionalProperties": False,
                "required": ["p50", "p95", "p99"],
                "properties": {name: MILLISECONDS for name in ("p50", "p95", "p99")},
                "description": "receipt to verdict; null without verdicts",
            },
        },
    },
)

ACTIVITY = Schema(
    "Activity",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["bucket_seconds", "span_seconds", "points", "totals", "scores"],
        "properties": {
            "bucket_seconds": {"type": "integer", "minimum": 1},
            "span_seconds": {"type": "integer", "minimum": 1},
            "points": {
                "type": "array",
                "items": ACTIVITY_POINT,
                "description": "one per complete bucket of the span, oldest first",
            },
            "totals": {
                **ACTIVITY_POINT.definition,
                "description": "the whole span; throughput over its last 10 seconds",
            },
            "scores": {
                "type": "object",
                "additionalProperties": False,
                "required": ["upper_bounds", "counts"],
                "description": "the score distribution over the span, in log-spaced bins",
                "properties": {
                    "upper_bounds": {"type": "array", "items": {"type": "number"}},
                    "counts": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                },
            },
        },
    },
)

MODEL_CARD = Schema(
    "ModelCard",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["model"],
        "properties": {
            "model": {
                "description": "the model on disk; null before one is trained",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["version", "thresholds", "trained_at", "metrics"],
                        "properties": {
                            "version": {"type": "string"},
                            "thresholds": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["review", "decline"],
                                "properties": {
                                    "review": {"type": "number"},
                                    "decline": {"type": "number"},
                                },
                            },
                            "trained_at": {"type": "string"},
                            "metrics": {
                                "type": "object",
                                "description": "validation figures: average_precision, ...",
                            },
                            "data_fingerprint": {"type": "string"},
                            "training_rows": {"type": "integer", "minimum": 0},
                            "features": {"type": "integer", "minimum": 0},
                        },
                    },
                ],
            }
        },
    },
)

PIPELINE_HEALTH = Schema(
    "PipelineHealth",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["running", "stages", "dead_letters"],
        "properties": {
            "running": {
                "type": ["boolean", "null"],
                "description": "whether this process's stages run; null when they run elsewhere",
            },
            "stages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["stage", "group", "lag"],
                    "properties": {
                        "stage": {"type": "string"},
                        "group": {"type": "string", "description": "its consumer group"},
                        "lag": {
                            "type": "object",
                            "description": "messages not yet committed, by topic; null if unknown",
                            "additionalProperties": {"type": ["integer", "null"], "minimum": 0},
                        },
                    },
                },
            },
            "dead_letters": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "messages on fraud-dlq; null when the bus cannot say",
            },
        },
    },
)
