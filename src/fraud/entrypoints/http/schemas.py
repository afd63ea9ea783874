"""The JSON the REST API reads and writes, as the OpenAPI document describes it.

Every limit and every list of values comes from the domain's own constants, so the
document cannot promise what the validation refuses. Where the domain is more
lenient than a schema can say (case, surrounding spaces, printable characters), the
schema is the looser of the two and its description says the rest.
"""

from __future__ import annotations

from typing import Any

from fraud.domain.assessment import Decision, Status
from fraud.domain.currencies import ISO_4217_CODES
from fraud.domain.labels import ANALYST_MAX_LENGTH, ANONYMOUS
from fraud.domain.transaction import (
    DEFAULT_CURRENCY,
    FIELDS,
    KNOWN_DEVICE_TYPES,
    KNOWN_MERCHANT_TYPES,
    MAX_AMOUNT,
    MAX_CATEGORY_LENGTH,
    MAX_ID_LENGTH,
    MAX_MERCHANT_LENGTH,
    OTHER,
)
from fraud.entrypoints.http.openapi import ERROR, Schema, reply

INSTANT = {"type": "string", "format": "date-time", "description": "ISO 8601 in UTC (Z)"}
IDENTIFIER = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    "pattern": r"^\S(.*\S)?$",
    "description": "printable characters, without surrounding spaces",
}
ANALYST = {
    "type": "string",
    "minLength": 1,
    "maxLength": ANALYST_MAX_LENGTH,
    "description": "printable characters",
}
_NOT_BLANK = r"\S"

EXAMPLE_TRANSACTION = {
    "user_id": "user123",
    "amount": 1500.00,
    "merchant": "ElectronicsStore",
    "timestamp": "2023-10-05T14:30:00Z",
    "merchant_type": "online",
    "device_type": "mobile",
    "location_match": 0,
}


def _category(known: tuple[str, ...], what: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_CATEGORY_LENGTH,
        "pattern": _NOT_BLANK,
        "examples": list(known),
        "description": (
            f"the {what}, lower-cased on receipt; known: {', '.join(known)}. "
            f"Anything else is kept and scored as {OTHER!r}"
        ),
    }


TRANSACTION = Schema(
    "Transaction",
    {
        "description": "A card payment to score.",
        "type": "object",
        "required": [
            "user_id",
            "amount",
            "merchant",
            "timestamp",
            "merchant_type",
            "device_type",
            "location_match",
        ],
        "properties": {
            "transaction_id": {
                **IDENTIFIER,
                "type": ["string", "null"],
                "description": (
                    "the client's idempotency key, generated when absent: resubmitting "
                    "the same transaction with it never creates a second record"
                ),
            },
            "user_id": {**IDENTIFIER, "description": "the card holder"},
            "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_AMOUNT},
            "currency": {
                "type": ["string", "null"],
                "enum": [*sorted(ISO_4217_CODES), None],
                "default": DEFAULT_CURRENCY,
                "description": "ISO 4217 (case and surrounding spaces do not matter)",
            },
            "merchant": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_MERCHANT_LENGTH,
                "pattern": _NOT_BLANK,
                "description": "surrounding spaces are trimmed",
            },
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "ISO 8601 with a time zone (Z or an offset); stored in UTC",
            },
            "merchant_type": _category(KNOWN_MERCHANT_TYPES, "merchant's type"),
            "device_type": _category(KNOWN_DEVICE_TYPES, "device paid with"),
            "location_match": {
                "enum": [0, 1, False, True],
                "description": "1 (or true) when the payment happens where the card holder is",
            },
        },
        "examples": [EXAMPLE_TRANSACTION],
    },
)

RECORDED_TRANSACTION = Schema(
    "RecordedTransaction",
    {
        "description": "A transaction as stored: every field present and normalised.",
        "type": "object",
        "additionalProperties": False,
        "required": list(FIELDS),
        "properties": {
            "transaction_id": IDENTIFIER,
            "user_id": IDENTIFIER,
            "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_AMOUNT},
            "currency": {"type": "string", "enum": sorted(ISO_4217_CODES)},
            "merchant": {"type": "string", "minLength": 1},
            "timestamp": INSTANT,
            "merchant_type": {"type": "string", "minLength": 1},
            "device_type": {"type": "string", "minLength": 1},
            "location_match": {"type": "integer", "enum": [0, 1]},
        },
    },
)

ACCEPTED = Schema(
    "Accepted",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["transaction_id", "status", "duplicate"],
        "properties": {
            "transaction_id": IDENTIFIER,
            "status": {"enum": [status.value for status in Status]},
            "duplicate": {
                "type": "boolean",
                "description": "true when this id was already stored: nothing new was published",
            },
        },
    },
)

LABEL = Schema(
    "Label",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["is_fraud", "analyst", "labelled_at"],
        "properties": {
            "is_fraud": {"type": "boolean"},
            "analyst": ANALYST,
            "labelled_at": INSTANT,
        },
    },
)

VERDICT = Schema(
    "Verdict",
    {
        "description": (
            "The transaction, its status and, once scored, the verdict; the error when a "
            "stage could not handle it; the analyst's label once there is one."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["transaction_id", "status", "transaction", "received_at"],
        "dependentRequired": {
            "fraud_score": ["decision", "reasons", "model_version", "scored_at", "latency_ms"]
        },
        "properties": {
            "transaction_id": IDENTIFIER,
            "status": {"enum": [status.value for status in Status]},
            "transaction": RECORDED_TRANSACTION,
            "received_at": INSTANT,
            "fraud_score": {"type": "number", "minimum": 0, "maximum": 1},
            "decision": {"enum": [decision.value for decision in Decision]},
            "reasons": {
                "type": "array",
                "items": {"type": "string"},
                "description": "what drove the score, for a person",
            },
            "model_version": {"type": "string"},
            "scored_at": INSTANT,
            "preprocessed_at": {**INSTANT, "description": "when its features were computed"},
            "recorded_at": {**INSTANT, "description": "when its verdict was stored"},
            "latency_ms": {"type": "number", "description": "from receipt to verdict"},
            "features": {
                "type": "object",
                "additionalProperties": {"type": "number"},
                "description": "the behaviour features the model saw",
            },
            "error": {"type": "string", "description": "why the transaction failed"},
            "label": LABEL,
        },
    },
)

LABEL_REQUEST = Schema(
    "LabelRequest",
    {
        "type": "object",
        "required": ["is_fraud"],
        "properties": {
            "is_fraud": {"type": "boolean"},
            "analyst": {
                **ANALYST,
                "type": ["string", "null"],
                "description": f"printable; when absent, the X-Analyst header, then {ANONYMOUS!r}",
            },
        },
        "examples": [{"is_fraud": True, "analyst": "alice"}],
    },
)

HEALTH = Schema(
    "Health",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "checks"],
        "properties": {
            "status": {"enum": ["ok", "unhealthy"]},
            "checks": {
                "type": "object",
                "additionalProperties": False,
                "required": ["database"],
                "properties": {
                    "database": {"type": "string", "description": "ok, or the error's type"},
                    "pipeline": {
                        "enum": ["ok", "stopped"],
                        "description": "only when the stages run in this process",
                    },
                },
            },
        },
    },
)

LOCATION = {
    "description": "where to read the verdict",
    "required": True,
    "schema": {"type": "string"},
}
RETRY_AFTER = {
    "description": "seconds to wait before retrying",
    "schema": {"type": "integer", "minimum": 0},
}

BAD_BODY = reply("The body is empty or not JSON (RFC 8259, in UTF-8)", ERROR)
UNKNOWN_TRANSACTION = reply("No transaction with this id", ERROR)
UNAVAILABLE = reply(
    "Storage or the broker is briefly unavailable: retry shortly, nothing was lost",
    ERROR,
    headers={"Retry-After": RETRY_AFTER},
)
