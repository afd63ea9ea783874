"""Read side: the figures the dashboard shows (single records are read from the port)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from fraud.domain.assessment import Decision, TransactionRecord
from fraud.domain.label_risk import LabelEvent
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


# The label loop: how many labels arrive, how late, and where confirmed fraud gathers.
LABEL_DAYS = 30
_EVER = datetime(1970, 1, 1, tzinfo=UTC)
MERCHANT_WINDOW = timedelta(days=7)
DELAY_BOUNDS_HOURS = (1, 6, 24, 72, 168, 720)  # then: later than 30 days
TOP_MERCHANTS = 10


@dataclass(frozen=True, slots=True)
class LabelsOnDay:
    day: date
    fraud: int
    legitimate: int


@dataclass(frozen=True, slots=True)
class RiskyMerchant:
    merchant: str
    transactions: int
    frauds: int

    @property
    def share(self) -> float:
        return self.frauds / self.transactions if self.transactions else 0.0


@dataclass(frozen=True, slots=True)
class LabelLoop:
    days: list[LabelsOnDay]  # the last LABEL_DAYS days, oldest first
    delay_bounds_hours: tuple[int, ...]
    delays: list[int]  # labels of those days per delay bucket; the last: later than all
    merchants: list[RiskyMerchant]  # the highest confirmed fraud share of the last 7 days


class LabelLoopFigures:
    """Labels per day and how long after the purchase each came (over the last 30 days), and
    the merchants whose purchases of the last 7 days are most often confirmed fraud."""

    def __init__(self, queries: VerdictQueries, clock: Clock) -> None:
        self.queries = queries
        self.clock = clock

    def __call__(self) -> LabelLoop:
        now = self.clock.now()
        first_day = (now - timedelta(days=LABEL_DAYS - 1)).date()
        given_since = datetime.combine(first_day, datetime.min.time(), UTC)
        recent = self.queries.label_events(_EVER, labelled_since=given_since)
        per_day = Counter((_day(e.labelled_at), e.is_fraud) for e in recent)
        days = [first_day + timedelta(days=n) for n in range(LABEL_DAYS)]
        delays = [0] * (len(DELAY_BOUNDS_HOURS) + 1)
        for event in recent:
            hours = (event.labelled_at - event.event_at) / 3600
            delays[sum(1 for bound in DELAY_BOUNDS_HOURS if hours >= bound)] += 1
        return LabelLoop(
            days=[LabelsOnDay(d, per_day[(d, True)], per_day[(d, False)]) for d in days],
            delay_bounds_hours=DELAY_BOUNDS_HOURS,
            delays=delays,
            merchants=self._riskiest(now),
        )

    def _riskiest(self, now: datetime) -> list[RiskyMerchant]:
        """Each purchase of the window counted as its latest label says."""
        latest: dict[str, LabelEvent] = {}
        for event in sorted(
            self.queries.label_events(now - MERCHANT_WINDOW), key=lambda e: e.labelled_at
        ):
            latest[event.transaction_id] = event
        frauds = Counter(e.merchant for e in latest.values() if e.is_fraud)
        if not frauds:
            return []
        counts = self.queries.merchant_counts(now - MERCHANT_WINDOW, list(frauds))
        risks = [RiskyMerchant(m, max(counts.get(m, 0), n), n) for m, n in frauds.items()]
        risks.sort(key=lambda r: (-r.share, -r.frauds, r.merchant))
        return risks[:TOP_MERCHANTS]


def _day(at: float) -> date:
    return datetime.fromtimestamp(at, UTC).date()
