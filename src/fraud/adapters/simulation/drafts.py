"""A simulated purchase before it becomes a transaction: time as seconds into the period.

Ids follow the final timestamp order, so drafts carry no id; the simulator turns
them into :class:`~fraud.domain.model.LabelledTransaction` once all are sorted.
"""

from __future__ import annotations

from dataclasses import dataclass

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR


@dataclass(frozen=True, slots=True)
class Draft:
    at: float
    user_id: str
    amount: float
    merchant: str
    merchant_type: str
    device_type: str
    location_match: bool
    currency: str
    is_fraud: bool = False


def money(amount: float) -> float:
    """Round to cents, never below one cent: the contract wants amounts above zero."""
    return max(0.01, round(amount, 2))
