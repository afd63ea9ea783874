"""Builders of valid domain objects for tests, overridable field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fraud.adapters.serialization.json import JsonSerializer
from fraud.application.stream.envelopes import Envelopes
from fraud.domain.ports import Message, OutgoingMessage
from fraud.domain.transaction import Transaction

ENVELOPES = Envelopes(JsonSerializer())

EXAMPLE = {
    "user_id": "user123",
    "amount": 1500.00,
    "merchant": "ElectronicsStore",
    "timestamp": "2023-10-05T14:30:00Z",
    "merchant_type": "online",
    "device_type": "mobile",
    "location_match": 0,
}

T0 = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)  # before the test clock: no future transactions


def payload(**overrides: Any) -> dict[str, Any]:
    return {**EXAMPLE, **overrides}


def txn(n: int = 0, *, minutes: float = 0.0, **overrides: Any) -> Transaction:
    """Transaction number ``n`` of a user, ``minutes`` after T0."""
    fields = {
        "transaction_id": f"t{n}",
        "user_id": "alice",
        "amount": 40.0,
        "merchant": "Corner Grocery",
        "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
        "merchant_type": "grocery",
        "device_type": "mobile",
        "location_match": 1,
        **overrides,
    }
    return Transaction.parse(fields)


def consumed(outgoing: OutgoingMessage, topic: str, offset: int = 0) -> Message:
    """A published message as a consumer of ``topic`` receives it."""
    return Message(topic, 0, offset, outgoing.key, outgoing.value, outgoing.headers)
