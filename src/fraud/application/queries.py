"""Read side: the figures the dashboard shows (single records are read from the port)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from fraud.domain.assessment import Decision, TransactionRecord
from fraud.domain.ports import Clock, VerdictQueries

# How far back the analysts' confirmations of reviews and declines are counted.
PRECISION_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class DashboardStats:
    counts: dict[str, int]
    recent: list[TransactionRecord]
    flagged: list[TransactionRecord]
    # Per flagged decision: {"confirmed", "cleared", "unlabelled"} counts over the window.
    label_precision: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class DashboardFigures:
    """Counts by decision and status, the latest and the latest flagged transactions, and the
    analysts' confirmations of the reviews and declines received over ``window``."""

    def __init__(
        self, queries: VerdictQueries, clock: Clock, window: timedelta = PRECISION_WINDOW
    ) -> None:
        self.queries = queries
        self.clock = clock
        self.window = window

    def __call__(self, limit: int = 20) -> DashboardStats:
        queries = self.queries
        return DashboardStats(
            counts=queries.status_counts(),
            recent=queries.recent(limit),
            flagged=queries.recent(limit, decisions={Decision.REVIEW, Decision.DECLINE}),
            label_precision=queries.label_precision(self.clock.now() - self.window),
        )
