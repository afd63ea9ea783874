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
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fraud.domain.transaction import (
    DEVICE_CODE,
    DEVICE_TYPES,
    MERCHANT_TYPE_CODE,
    MERCHANT_TYPES,
    OTHER,
)

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
    sum_7d: float
    sum_30d: float
    max_30d: float
    count_settled: int  # older than an hour: a burst in progress is not its own baseline
    sum_settled: float
    mismatches_24h: int
    small_1h: int
    small_24h: int
    merchants_1h: int  # distinct merchants
    devices_24h: int  # distinct device categories


def _no_figures() -> WindowFigures:
    """Figures of an empty history, to count into."""
    figures = WindowFigures()
    figures.previous_at = -math.inf
    figures.count_10m = figures.count_1h = figures.count_24h = figures.count_7d = 0
    figures.count_30d = figures.count_settled = 0
    figures.sum_1h = figures.sum_24h = figures.sum_7d = figures.sum_30d = 0.0
    figures.max_30d = figures.sum_settled = 0.0
    figures.mismatches_24h = figures.small_1h = figures.small_24h = 0
    figures.merchants_1h = figures.devices_24h = 0
    return figures


@dataclass(slots=True, eq=False)
class RecentWindows:
    """One user's events of the last :data:`HISTORY_SPAN`, and sliding windows over them.

    The history is kept in columns, oldest first: time, amount, merchant, and one
    byte for the device, the merchant type and the location mismatch together
    (:func:`kind_of`). That is 25 bytes an event where an object per event costs
    over a hundred, and most of what a worker holds per user is its history.

    Each window is a suffix of the history, so a window is only the position where
    it starts; positions before :attr:`_first` have left the history and are cut
    off together once they are half of it.
    """

    last_at: float = -math.inf
    _at: array[float] = field(default_factory=lambda: array("d"))
    _amount: array[float] = field(default_factory=lambda: array("d"))
    _merchant: list[str] = field(default_factory=list)
    _kind: bytearray = field(default_factory=bytearray)  # device, merchant type, mismatch
    # Where each window starts: _first <= _week <= _day <= _hour <= _recent (10 minutes).
    _first: int = 0
    _week: int = 0
    _day: int = 0
    _hour: int = 0
    _recent: int = 0
    # Positions of the amounts each larger than every later one, from _maxima_first on:
    # the largest of the history first.
    _maxima: array[int] = field(default_factory=lambda: array("q"))
    _maxima_first: int = 0
    _sum_30d: float = 0.0
    _sum_7d: float = 0.0
    _sum_1h: float = 0.0
    _small_1h: int = 0
    _sum_24h: float = 0.0
    _small_24h: int = 0
    _mismatches_24h: int = 0
    # Uses per merchant in the hour and per device in the day; None while the window is empty.
    _merchants_1h: dict[str, int] | None = None
    _devices_24h: dict[str, int] | None = None

    def __eq__(self, other: object) -> bool:
        """Equal when they hold the same history and windows, wherever their columns start."""
        if not isinstance(other, RecentWindows):
            return NotImplemented
        return self.snapshot() == other.snapshot()

    def slide_to(self, at: float) -> WindowFigures:
        """Drop from each window what is too old for it at ``at``; report what is left.

        ``at`` must not be earlier than :attr:`last_at`: see :meth:`figures_by_scan`.
        """
        self._slide_to(at)
        figures = WindowFigures()
        end = len(self._at)
        count_30d = end - self._first
        count_1h = end - self._hour
        figures.previous_at = self._at[-1] if count_30d else -math.inf
        figures.count_10m = end - self._recent
        figures.count_1h = count_1h
        figures.count_24h = end - self._day
        figures.count_7d = end - self._week
        figures.count_30d = count_30d
        figures.sum_1h = self._sum_1h
        figures.sum_24h = self._sum_24h
        figures.sum_7d = self._sum_7d
        figures.sum_30d = self._sum_30d
        figures.max_30d = (
            self._amount[self._maxima[self._maxima_first]]
            if len(self._maxima) > self._maxima_first
            else 0.0
        )
        figures.count_settled = count_30d - count_1h
        figures.sum_settled = self._sum_30d - self._sum_1h
        figures.mismatches_24h = self._mismatches_24h
        figures.small_1h = self._small_1h
        figures.small_24h = self._small_24h
        figures.merchants_1h = len(self._merchants_1h) if self._merchants_1h else 0
        figures.devices_24h = len(self._devices_24h) if self._devices_24h else 0
        return figures

    def add(self, event: Event) -> None:
        """Put an event into every window: it must be the latest (see :meth:`insert_late`)."""
        if len(self._at) - self._first == MAX_EVENTS_PER_USER:
            self._drop_oldest()
        amount = event.amount
        small = amount < SMALL_AMOUNT
        amounts = self._amount
        maxima = self._maxima
        while len(maxima) > self._maxima_first and amounts[maxima[-1]] <= amount:
            maxima.pop()
        maxima.append(len(amounts))
        self._at.append(event.at)
        amounts.append(amount)
        self._merchant.append(event.merchant)
        self._kind.append(kind_of(event))
        self._sum_30d += amount
        self._sum_7d += amount
        self._sum_24h += amount
        self._small_24h += small
        self._mismatches_24h += event.mismatch
        self._devices_24h = _count(self._devices_24h, event.device)
        self._sum_1h += amount
        self._small_1h += small
        self._merchants_1h = _count(self._merchants_1h, event.merchant)
        self.last_at = event.at

    def figures_by_scan(self, at: float) -> WindowFigures:
        """The same figures from a walk over the history: for a moment before :attr:`last_at`."""
        found = _no_figures()
        merchants_1h: set[str] = set()
        devices_24h: set[str] = set()
        for event in self._events():
            age = at - event.at
            if age < 0 or age >= HISTORY_SPAN:
                continue  # not in this one's past
            found.previous_at = max(found.previous_at, event.at)
            found.count_30d += 1
            found.sum_30d += event.amount
            found.max_30d = max(found.max_30d, event.amount)
            if age >= HOUR:
                found.count_settled += 1
                found.sum_settled += event.amount
            if age < 7 * DAY:
                found.count_7d += 1
                found.sum_7d += event.amount
            if age >= DAY:
                continue
            found.count_24h += 1
            found.sum_24h += event.amount
            found.mismatches_24h += event.mismatch
            devices_24h.add(event.device)
            small = event.amount < SMALL_AMOUNT
            found.small_24h += small
            if age < HOUR:
                found.count_1h += 1
                found.sum_1h += event.amount
                found.small_1h += small
                merchants_1h.add(event.merchant)
                if age < 10 * MINUTE:
                    found.count_10m += 1
        found.merchants_1h = len(merchants_1h)
        found.devices_24h = len(devices_24h)
        return found

    def insert_late(self, late: Event) -> None:
        """Slot a late arrival into its place in time and rebuild the windows around it."""
        events = sorted([*self._events(), late], key=lambda event: event.at)
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
        end = len(self._at)
        return [
            self.last_at,
            [
                [e.at, e.amount, e.merchant, e.device, e.merchant_type, e.mismatch]
                for e in self._events()
            ],
            [end - self._recent, end - self._hour, end - self._day],
            end - self._week,
            [self._sum_30d, self._sum_1h, self._sum_24h, self._sum_7d],
        ]

    @classmethod
    def from_snapshot(cls, data: list[Any]) -> RecentWindows:
        last_at, rows, (in_10m, in_hour, in_day), in_week, sums = data
        windows = cls(last_at)
        for row in rows:
            windows._append(Event(*row))
        end = len(rows)
        windows._recent, windows._hour = end - in_10m, end - in_hour
        windows._day, windows._week = end - in_day, end - in_week
        windows._sum_30d, windows._sum_1h, windows._sum_24h = sums[:3]
        # A snapshot from before the week's sum was kept: summed from the week's events.
        windows._sum_7d = sums[3] if len(sums) > 3 else sum(windows._amount[windows._week :])
        for position in range(windows._hour, end):
            windows._small_1h += windows._amount[position] < SMALL_AMOUNT
            windows._merchants_1h = _count(windows._merchants_1h, windows._merchant[position])
        for position in range(windows._day, end):
            windows._small_24h += windows._amount[position] < SMALL_AMOUNT
            kind = windows._kind[position]
            windows._mismatches_24h += kind & 1
            windows._devices_24h = _count(windows._devices_24h, _DEVICE_OF[kind])
        # What :meth:`add` keeps: each event larger than every later one (a prefix gone
        # from the history leaves the rest of these as they were).
        largest = -math.inf
        maxima = []
        for position in range(end - 1, -1, -1):
            if windows._amount[position] > largest:
                maxima.append(position)
                largest = windows._amount[position]
        windows._maxima.extend(reversed(maxima))
        return windows

    def _events(self) -> Iterator[Event]:
        """The history's events, oldest first."""
        for position in range(self._first, len(self._at)):
            kind = self._kind[position]
            yield Event(
                self._at[position],
                self._amount[position],
                self._merchant[position],
                _DEVICE_OF[kind],
                _MERCHANT_TYPE_OF[kind],
                bool(kind & 1),
            )

    def _append(self, event: Event) -> None:
        self._at.append(event.at)
        self._amount.append(event.amount)
        self._merchant.append(event.merchant)
        self._kind.append(kind_of(event))

    def _slide_to(self, at: float) -> None:
        times, amounts = self._at, self._amount
        end = len(times)
        horizon = at - 10 * MINUTE
        position = self._recent
        while position < end and times[position] <= horizon:
            position += 1
        self._recent = position
        horizon = at - HOUR
        position = self._hour
        while position < end and times[position] <= horizon:
            amount = amounts[position]
            self._sum_1h -= amount
            self._small_1h -= amount < SMALL_AMOUNT
            _forget(self._merchants_1h, self._merchant[position])
            position += 1
        self._hour = position
        horizon = at - DAY
        position = self._day
        while position < end and times[position] <= horizon:
            amount = amounts[position]
            self._sum_24h -= amount
            self._small_24h -= amount < SMALL_AMOUNT
            kind = self._kind[position]
            self._mismatches_24h -= kind & 1
            _forget(self._devices_24h, _DEVICE_OF[kind])
            position += 1
        self._day = position
        horizon = at - 7 * DAY
        position = self._week
        while position < end and times[position] <= horizon:
            self._sum_7d -= amounts[position]
            position += 1
        self._week = position
        horizon = at - HISTORY_SPAN
        position = self._first
        while position < end and times[position] <= horizon:
            self._sum_30d -= amounts[position]
            position += 1
        self._first = position
        maxima = self._maxima
        while len(maxima) > self._maxima_first and times[maxima[self._maxima_first]] <= horizon:
            self._maxima_first += 1
        self._settle_empty(end)
        if self._first and 2 * self._first >= end:
            self._cut()

    def _settle_empty(self, end: int) -> None:
        """Sums of what left and came back drift by rounding; an empty window is exactly 0."""
        if self._hour == end:
            self._sum_1h = 0.0
            self._merchants_1h = None
        if self._day == end:
            self._sum_24h = 0.0
            self._devices_24h = None
        if self._week == end:
            self._sum_7d = 0.0
        if self._first == end:
            self._sum_30d = 0.0

    def _drop_oldest(self) -> None:
        """Forget the oldest event, from the history and from every window still holding it."""
        oldest = self._first
        amount = self._amount[oldest]
        self._first += 1
        self._sum_30d -= amount
        if len(self._maxima) > self._maxima_first and self._maxima[self._maxima_first] == oldest:
            self._maxima_first += 1
        if self._week == oldest:
            self._week += 1
            self._sum_7d -= amount
        if self._day == oldest:
            self._day += 1
            self._sum_24h -= amount
            self._small_24h -= amount < SMALL_AMOUNT
            kind = self._kind[oldest]
            self._mismatches_24h -= kind & 1
            _forget(self._devices_24h, _DEVICE_OF[kind])
        if self._hour == oldest:
            self._hour += 1
            self._sum_1h -= amount
            self._small_1h -= amount < SMALL_AMOUNT
            _forget(self._merchants_1h, self._merchant[oldest])
        self._recent = max(self._recent, self._first)

    def _cut(self) -> None:
        """Cut off the positions that left the history, from every column at once."""
        cut = self._first
        del self._at[:cut]
        del self._amount[:cut]
        del self._merchant[:cut]
        del self._kind[:cut]
        self._first = 0
        self._week -= cut
        self._day -= cut
        self._hour -= cut
        self._recent -= cut
        self._maxima = array("q", [p - cut for p in self._maxima[self._maxima_first :]])
        self._maxima_first = 0

    def _reset(self) -> None:
        for column in (self._at, self._amount, self._maxima):
            del column[:]
        self._merchant.clear()
        self._kind.clear()
        self._first = self._week = self._day = self._hour = self._recent = 0
        self._maxima_first = 0
        self._merchants_1h = self._devices_24h = None
        self._sum_30d = self._sum_7d = self._sum_1h = self._sum_24h = 0.0
        self._small_1h = self._small_24h = self._mismatches_24h = 0


# One byte for an event's categories: (device * merchant types + merchant type) * 2 + mismatch.
_DEVICE_OF = [
    DEVICE_TYPES[kind // 2 // len(MERCHANT_TYPES)]
    for kind in range(2 * len(DEVICE_TYPES) * len(MERCHANT_TYPES))
]
_MERCHANT_TYPE_OF = [
    MERCHANT_TYPES[kind // 2 % len(MERCHANT_TYPES)] for kind in range(len(_DEVICE_OF))
]


def kind_of(event: Event) -> int:
    """The byte :class:`RecentWindows` keeps of an event's device, merchant type and
    mismatch; a category it does not know (from an older state store) counts as other."""
    device = DEVICE_CODE.get(event.device, DEVICE_CODE[OTHER])
    merchant_type = MERCHANT_TYPE_CODE.get(event.merchant_type, MERCHANT_TYPE_CODE[OTHER])
    return (device * len(MERCHANT_TYPES) + merchant_type) * 2 + event.mismatch


def _count(counts: dict[str, int] | None, key: str) -> dict[str, int]:
    if counts is None:
        return {key: 1}
    counts[key] = counts.get(key, 0) + 1
    return counts


def _forget(counts: dict[str, int] | None, key: str) -> None:
    assert counts is not None, "a window that holds an event counts its key"
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]
