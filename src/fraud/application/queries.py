"""Read side: one transaction, and the figures the dashboard shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fraud.domain.assessment import Decision, TransactionRecord
from fraud.domain.ports import UnitOfWorkFactory


def get_transaction(
    unit_of_work: UnitOfWorkFactory, transaction_id: str
) -> TransactionRecord | None:
    with unit_of_work() as uow:
        return uow.verdicts.get(transaction_id)


@dataclass(frozen=True, slots=True)
class DashboardStats:
    counts: dict[str, int]
    recent: list[TransactionRecord]
    flagged: list[TransactionRecord]
    # Per flagged decision: {"confirmed", "cleared", "unlabelled"} counts since a date.
    label_precision: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def dashboard_stats(
    unit_of_work: UnitOfWorkFactory, limit: int = 20, since: datetime | None = None
) -> DashboardStats:
    """The dashboard's figures; with ``since``, also the analysts' confirmations of the
    review and decline decisions received since then (otherwise left empty)."""
    with unit_of_work() as uow:
        return DashboardStats(
            counts=uow.verdicts.status_counts(),
            recent=uow.verdicts.recent(limit),
            flagged=uow.verdicts.recent(limit, decisions={Decision.REVIEW, Decision.DECLINE}),
            label_precision={} if since is None else uow.verdicts.label_precision(since),
        )
