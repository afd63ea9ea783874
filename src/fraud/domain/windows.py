"""Sliding windows over one user's recent transactions: the counts and sums features read.

Every transaction looks back over spans from 10 minutes to 30 days. Transactions
normally arrive in time order, and then each window is kept incrementally: an
event enters every window once and leaves it once, amortised constant work per
transaction however long the history. One that arrives after a later one is
answered by scanning the history instead, and the windows are rebuilt around it.
Both ways report the same :class:`WindowFigures`, so the features cannot tell
which way they were computed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR

HISTORY_SPAN = 30 * DAY
SMALL_AMOUNT = 5.0
# A user's history keeps at most this many events (the latest): a card used more than 33
# times a day for a month is anomalous already, and a late arrival rebuilds the windows
# over at most this many events, so its cost is bounded whatever one card does.
MAX_EVENTS_PER_USER = 1_000


@dataclass(slots=True)
class Event:
    """One transaction as the windows (and the features) see it."""

    at: float
    amount: float
    merchant: str
    device: str  # the device category: a known type or "other"
    merchant_type: str  # the merchant category: a known type or "other"
    mismatch: bool  # away from the card holder's location


@dataclass(slots=True, init=False)
class WindowFigures:
    """What a user's windows held just before one of their transactions.

    Filled field by field, by name, rather than through a constructor: this is
    built once per transaction, where 17 keyword arguments would cost a
    microsecond and positional ones could be passed in the wrong order.
    """

    previous_at: float  # -inf without history
    count_10m: int
    count_1h: int
    count_24h: int
    count_7d: int
    count_30d: int
    sum_1h: float
    sum_24h: float
    sum_30d: float
    max_30d: float
    count_settled: int  # older than an hour: a burst in progress is not its own baseline
    sum_settled: float
    mismatches_24h: int
    small_1h: int
    small_24h: int
    merchants_1h: int  # distinct merchants
    devices_24h: int  # distinct device categories


@dataclass(slots=True)
class RecentWindows:
    """One user's events of the last :data:`HISTORY_SPAN`, and sliding windows over them."""

    events: deque[Event] = field(default_factory=deque)  # the history span, oldest first
    last_at: float = -math.inf
    _last_10m: deque[float] = field(default_factory=deque)
    _last_hour: deque[Event] = field(default_factory=deque)
    _last_day: deque[Event] = field(default_factory=deque)
    _last_week: deque[float] = field(default_factory=deque)
    _maxima: deque[Event] = field(default_factory=deque)  # amounts falling: largest first
    _sum_30d: float = 0.0
    _sum_1h: float = 0.0
    _small_1h: int = 0
    _merchants_1h: dict[str, int] = field(default_factory=dict)
    _sum_24h: float = 0.0
    _small_24h: int = 0
    _mismatches_24h: int = 0
    _devices_24h: dict[str, int] = field(default_factory=dict)

    def slide_to(self, at: float) -> WindowFigures:
        """Drop from each window what is too old for it at ``at``; report what is left.

        ``at`` must not be earlier than :attr:`last_at`: see :meth:`figures_by_scan`.
        """
        self._slide_to(at)
        figures = WindowFigures()
        count_30d = len(self.events)
        count_1h = len(self._last_hour)
        figures.previous_at = self.events[-1].at if count_30d else -math.inf
        figures.count_10m = len(self._last_10m)
        figures.count_1h = count_1h
        figures.count_24h = len(self._last_day)
        figures.count_7d = len(self._last_week)
        figures.count_30d = count_30d
        figures.sum_1h = self._sum_1h
        figures.sum_24h = self._sum_24h
        figures.sum_30d = self._sum_30d
        figures.max_30d = self._maxima[0].amount if self._maxima else 0.0
        figures.count_settled = count_30d - count_1h
        figures.sum_settled = self._sum_30d - self._sum_1h
        figures.mismatches_24h = self._mismatches_24h
        figures.small_1h = self._small_1h
        figures.small_24h = self._small_24h
        figures.merchants_1h = len(self._merchants_1h)
        figures.devices_24h = len(self._devices_24h)
        return figures

    def add(self, event: Event) -> None:
        """Put an event into every window: it must be the latest (see :meth:`insert_late`)."""
        if len(self.events) == MAX_EVENTS_PER_USER:
            self._drop_oldest()
        small = event.amount < SMALL_AMOUNT
        self.events.append(event)
        self._sum_30d += event.amount
        while self._maxima and self._maxima[-1].amount <= event.amount:
            self._maxima.pop()
        self._maxima.append(event)
        self._last_week.append(event.at)
        self._last_day.append(event)
        self._sum_24h += event.amount
        self._small_24h += small
        self._mismatches_24h += event.mismatch
        self._devices_24h[event.device] = self._devices_24h.get(event.device, 0) + 1
        self._last_hour.append(event)
        self._sum_1h += event.amount
        self._small_1h += small
        self._merchants_1h[event.merchant] = self._merchants_1h.get(event.merchant, 0) + 1
        self._last_10m.append(event.at)
        self.last_at = event.at

    def figures_by_scan(self, at: float) -> WindowFigures:
        """The same figures from a walk over the history: for a moment before :attr:`last_at`."""
        count_10m = count_1h = count_24h = count_7d = count_30d = count_settled = 0
        sum_1h = sum_24h = sum_30d = max_30d = sum_settled = 0.0
        mismatches_24h = small_1h = small_24h = 0
        merchants_1h: set[str] = set()
        devices_24h: set[str] = set()
        previous_at = -math.inf
        for event in self.events:
            age = at - event.at
            if age < 0 or age >= HISTORY_SPAN:
                continue  # not in this one's past
            previous_at = max(previous_at, event.at)
            count_30d += 1
            sum_30d += event.amount
            max_30d = max(max_30d, event.amount)
            if age >= HOUR:
                count_settled += 1
                sum_settled += event.amount
            if age < 7 * DAY:
                count_7d += 1
            if age >= DAY:
                continue
            count_24h += 1
            sum_24h += event.amount
            mismatches_24h += event.mismatch
            devices_24h.add(event.device)
            small = event.amount < SMALL_AMOUNT
            small_24h += small
            if age < HOUR:
                count_1h += 1
                sum_1h += event.amount
                small_1h += small
                merchants_1h.add(event.merchant)
                if age < 10 * MINUTE:
                    count_10m += 1
        figures = WindowFigures()
        figures.previous_at = previous_at
        figures.count_10m = count_10m
        figures.count_1h = count_1h
        figures.count_24h = count_24h
        figures.count_7d = count_7d
        figures.count_30d = count_30d
        figures.sum_1h = sum_1h
        figures.sum_24h = sum_24h
        figures.sum_30d = sum_30d
        figures.max_30d = max_30d
        figures.count_settled = count_settled
        figures.sum_settled = sum_settled
        figures.mismatches_24h = mismatches_24h
        figures.small_1h = small_1h
        figures.small_24h = small_24h
        figures.merchants_1h = len(merchants_1h)
        figures.devices_24h = len(devices_24h)
        return figures

    def insert_late(self, late: Event) -> None:
        """Slot a late arrival into its place in time and rebuild the windows around it."""
        events = sorted([*self.events, late], key=lambda event: event.at)
        latest = self.last_at
        self._reset()
        for event in events:
            if event.at > latest - HISTORY_SPAN:
                self._slide_to(event.at)
                self.add(event)
        self._slide_to(latest)
        self.last_at = latest

    def snapshot(self) -> list[Any]:
        """Everything the windows hold, as plain values (for a state store), from which
        :meth:`from_snapshot` builds an equal object.

        Each window is a suffix of the history, so its length says what it holds; the
        running sums are kept as they are, because summing the same amounts again in
        another order can round differently, and the features must not change.
        """
        return [
            self.last_at,
            [
                [e.at, e.amount, e.merchant, e.device, e.merchant_type, e.mismatch]
                for e in self.events
            ],
            [len(self._last_10m), len(self._last_hour), len(self._last_day)],
            len(self._last_week),
            [self._sum_30d, self._sum_1h, self._sum_24h],
        ]

    @classmethod
    def from_snapshot(cls, data: list[Any]) -> RecentWindows:
        last_at, rows, (in_10m, in_hour, in_day), in_week, sums = data
        events = [Event(*row) for row in rows]
        windows = cls(deque(events), last_at)
        windows._sum_30d, windows._sum_1h, windows._sum_24h = sums
        if in_10m:
            windows._last_10m.extend(event.at for event in events[-in_10m:])
        if in_week:
            windows._last_week.extend(event.at for event in events[-in_week:])
        for event in events[-in_hour:] if in_hour else ():
            windows._last_hour.append(event)
            windows._small_1h += event.amount < SMALL_AMOUNT
            _count(windows._merchants_1h, event.merchant)
        for event in events[-in_day:] if in_day else ():
            windows._last_day.append(event)
            windows._small_24h += event.amount < SMALL_AMOUNT
            windows._mismatches_24h += event.mismatch
            _count(windows._devices_24h, event.device)
        # What :meth:`add` keeps: each event larger than every later one (a prefix gone
        # from the history leaves the rest of these as they were).
        largest = -math.inf
        maxima = []
        for event in reversed(events):
            if event.amount > largest:
                maxima.append(event)
                largest = event.amount
        windows._maxima.extend(reversed(maxima))
        return windows

    def _slide_to(self, at: float) -> None:
        horizon = at - 10 * MINUTE
        while self._last_10m and self._last_10m[0] <= horizon:
            self._last_10m.popleft()
        horizon = at - HOUR
        while self._last_hour and self._last_hour[0].at <= horizon:
            event = self._last_hour.popleft()
            self._sum_1h -= event.amount
            self._small_1h -= event.amount < SMALL_AMOUNT
            _forget(self._merchants_1h, event.merchant)
        horizon = at - DAY
        while self._last_day and self._last_day[0].at <= horizon:
            event = self._last_day.popleft()
            self._sum_24h -= event.amount
            self._small_24h -= event.amount < SMALL_AMOUNT
            self._mismatches_24h -= event.mismatch
            _forget(self._devices_24h, event.device)
        horizon = at - 7 * DAY
        while self._last_week and self._last_week[0] <= horizon:
            self._last_week.popleft()
        horizon = at - HISTORY_SPAN
        while self.events and self.events[0].at <= horizon:
            self._sum_30d -= self.events.popleft().amount
        while self._maxima and self._maxima[0].at <= horizon:
            self._maxima.popleft()
        # Sums of what left and came back drift by rounding; an empty window is exactly 0.
        if not self._last_hour:
            self._sum_1h = 0.0
        if not self._last_day:
            self._sum_24h = 0.0
        if not self.events:
            self._sum_30d = 0.0

    def _drop_oldest(self) -> None:
        """Forget the oldest event, from the history and from every window still holding it
        (each window is a suffix of the history, so it holds it at its front)."""
        event = self.events.popleft()
        self._sum_30d -= event.amount
        kept = len(self.events)
        if self._maxima and self._maxima[0] is event:
            self._maxima.popleft()
        if len(self._last_week) > kept:
            self._last_week.popleft()
        if len(self._last_day) > kept:
            self._last_day.popleft()
            self._sum_24h -= event.amount
            self._small_24h -= event.amount < SMALL_AMOUNT
            self._mismatches_24h -= event.mismatch
            _forget(self._devices_24h, event.device)
        if len(self._last_hour) > kept:
            self._last_hour.popleft()
            self._sum_1h -= event.amount
            self._small_1h -= event.amount < SMALL_AMOUNT
            _forget(self._merchants_1h, event.merchant)
        if len(self._last_10m) > kept:
            self._last_10m.popleft()

    def _reset(self) -> None:
        for window in (
            self.events,
            self._last_10m,
            self._last_hour,
            self._last_day,
            self._last_week,
            self._maxima,
        ):
            window.clear()
        self._merchants_1h.clear()
        self._devices_24h.clear()
        self._sum_30d = self._sum_1h = self._sum_24h = 0.0
        self._small_1h = self._small_24h = self._mismatches_24h = 0


def _count(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _forget(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]
