"""Per-user behaviour features: the one implementation used online and offline.

The streaming preprocess stage and offline replay (training, evaluation,
``fraud score``) both call :meth:`BehaviourProfiles.observe`, so a transaction
gets the same features wherever it is computed. Each transaction sees only the
user's strictly earlier transactions; history expires after
:data:`HISTORY_SPAN` so the state stays bounded.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from fraud.domain.transaction import (
    KNOWN_DEVICE_TYPES,
    KNOWN_MERCHANT_TYPES,
    OTHER,
    Transaction,
)

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR

HISTORY_SPAN = 30 * DAY
NOVELTY_SPAN = 90 * DAY
MAX_REMEMBERED_PER_KIND = 256
SMALL_AMOUNT = 5.0
MAX_REMEMBERED_IDS = 200_000


class Scale(Enum):
    """How the model should prepare a feature before normalising it."""

    LINEAR = "linear"
    LOG = "log"  # heavy-tailed, non-negative: counts, sums, gaps, ratios
    CATEGORY = "category"  # an index into ``Feature.vocabulary``


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    scale: Scale
    description: str
    vocabulary: tuple[str, ...] = ()


FEATURES: tuple[Feature, ...] = (
    Feature("amount", Scale.LOG, "transaction amount"),
    Feature("hour_sin", Scale.LINEAR, "time of day (UTC), sine"),
    Feature("hour_cos", Scale.LINEAR, "time of day (UTC), cosine"),
    Feature("location_mismatch", Scale.LINEAR, "1 when away from the card holder"),
    Feature("no_history", Scale.LINEAR, "1 for a user's first transaction in the history span"),
    Feature("seconds_since_previous", Scale.LOG, "gap to the user's previous transaction"),
    Feature("count_10m", Scale.LOG, "user's transactions in the previous 10 minutes"),
    Feature("count_1h", Scale.LOG, "user's transactions in the previous hour"),
    Feature("count_24h", Scale.LOG, "user's transactions in the previous 24 hours"),
    Feature("count_7d", Scale.LOG, "user's transactions in the previous 7 days"),
    Feature("count_30d", Scale.LOG, "user's transactions in the previous 30 days"),
    Feature("amount_sum_1h", Scale.LOG, "user's spend in the previous hour"),
    Feature("amount_sum_24h", Scale.LOG, "user's spend in the previous 24 hours"),
    Feature(
        "amount_to_typical",
        Scale.LOG,
        "amount over the user's 30-day average, leaving out the last hour's session",
    ),
    Feature("amount_to_max", Scale.LOG, "amount over the user's 30-day largest"),
    Feature("new_device", Scale.LINEAR, "device type never used by this user"),
    Feature("new_merchant", Scale.LINEAR, "merchant never used by this user"),
    Feature("new_merchant_type", Scale.LINEAR, "merchant type never used by this user"),
    Feature("mismatch_count_24h", Scale.LOG, "location mismatches in the previous 24 hours"),
    Feature("small_count_1h", Scale.LOG, f"amounts under {SMALL_AMOUNT:g} in the previous hour"),
    Feature("small_count_24h", Scale.LOG, f"amounts under {SMALL_AMOUNT:g} in the previous day"),
    Feature("distinct_merchants_1h", Scale.LOG, "distinct merchants in the previous hour"),
    Feature("distinct_devices_24h", Scale.LOG, "distinct device types in the previous day"),
    Feature(
        "merchant_type",
        Scale.CATEGORY,
        "merchant type",
        (*KNOWN_MERCHANT_TYPES, OTHER),
    ),
    Feature("device_type", Scale.CATEGORY, "device type", (*KNOWN_DEVICE_TYPES, OTHER)),
)
FEATURE_NAMES: tuple[str, ...] = tuple(feature.name for feature in FEATURES)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}

_MERCHANT_TYPE_CODE = {name: float(i) for i, name in enumerate(FEATURES[-2].vocabulary)}
_DEVICE_TYPE_CODE = {name: float(i) for i, name in enumerate(FEATURES[-1].vocabulary)}


@dataclass(slots=True)
class FeatureVector:
    """The model's input for one transaction, in :data:`FEATURE_NAMES` order."""

    values: tuple[float, ...]

    def __getitem__(self, name: str) -> float:
        return self.values[FEATURE_INDEX[name]]

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURE_NAMES, self.values, strict=True))

    @classmethod
    def from_dict(cls, values: dict[str, float]) -> FeatureVector:
        return cls(tuple(float(values[name]) for name in FEATURE_NAMES))


@dataclass(slots=True)
class _Event:
    at: float
    amount: float
    merchant: str
    device: str
    mismatch: bool


@dataclass(slots=True)
class UserHistory:
    """What the features remember of one user: recent events, sliding windows over them,
    and what was seen before.

    Transactions normally arrive in time order, and then every window is updated
    incrementally (amortised constant work per transaction, however long the
    history). One that arrives after a later one is answered by scanning the
    history instead, and the windows are rebuilt; both ways give the same numbers.
    """

    events: deque[_Event] = field(default_factory=deque)  # the history span, oldest first
    devices: dict[str, float] = field(default_factory=dict)
    merchants: dict[str, float] = field(default_factory=dict)
    merchant_types: dict[str, float] = field(default_factory=dict)
    last_at: float = -math.inf
    _last_10m: deque[float] = field(default_factory=deque)
    _last_hour: deque[_Event] = field(default_factory=deque)
    _last_day: deque[_Event] = field(default_factory=deque)
    _last_week: deque[float] = field(default_factory=deque)
    _maxima: deque[tuple[float, float]] = field(default_factory=deque)  # falling amounts
    _sum_30d: float = 0.0
    _sum_1h: float = 0.0
    _small_1h: int = 0
    _merchants_1h: dict[str, int] = field(default_factory=dict)
    _sum_24h: float = 0.0
    _small_24h: int = 0
    _mismatches_24h: int = 0
    _devices_24h: dict[str, int] = field(default_factory=dict)

    def observe(self, txn: Transaction, at: float) -> FeatureVector:
        """The transaction's features from the user's earlier transactions, then remember it."""
        if at < self.last_at:
            vector = self._features_by_scan(txn, at)
            self._remember_late(txn, at)
            return vector
        self._slide_to(at)
        vector = self._features(txn, at)
        self._add(_Event(at, txn.amount, txn.merchant, txn.device_category, not txn.location_match))
        self._remember_seen(txn, at)
        return vector

    def _features(self, txn: Transaction, at: float) -> FeatureVector:
        count_30d = len(self.events)
        count_1h = len(self._last_hour)
        has_history = count_30d > 0
        return _vector(
            txn,
            at,
            has_history,
            self.events[-1].at if has_history else -math.inf,  # previous_at
            len(self._last_10m),  # count_10m
            count_1h,
            len(self._last_day),  # count_24h
            len(self._last_week),  # count_7d
            count_30d,
            self._sum_1h,  # sum_1h
            self._sum_24h,  # sum_24h
            self._sum_30d,  # sum_30d
            self._maxima[0][1] if self._maxima else 0.0,  # max_30d
            count_30d - count_1h,  # count_settled
            self._sum_30d - self._sum_1h,  # sum_settled
            self._mismatches_24h,  # mismatches_24h
            self._small_1h,  # small_1h
            self._small_24h,  # small_24h
            len(self._merchants_1h),  # merchants_1h
            len(self._devices_24h),  # devices_24h
            self,  # seen
        )

    def _slide_to(self, at: float) -> None:
        """Drop from each window what is now too old for it."""
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
        while self._maxima and self._maxima[0][0] <= horizon:
            self._maxima.popleft()
        # Sums of what left and came back drift by rounding; an empty window is exactly 0.
        if not self._last_hour:
            self._sum_1h = 0.0
        if not self._last_day:
            self._sum_24h = 0.0
        if not self.events:
            self._sum_30d = 0.0

    def _add(self, event: _Event) -> None:
        small = event.amount < SMALL_AMOUNT
        self.events.append(event)
        self._sum_30d += event.amount
        while self._maxima and self._maxima[-1][1] <= event.amount:
            self._maxima.pop()
        self._maxima.append((event.at, event.amount))
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

    def _remember_late(self, txn: Transaction, at: float) -> None:
        """Slot a late arrival into its place in time and rebuild the windows around it."""
        late = _Event(at, txn.amount, txn.merchant, txn.device_category, not txn.location_match)
        events = sorted([*self.events, late], key=lambda event: event.at)
        latest = self.last_at
        self._reset_windows()
        for event in events:
            if event.at > latest - HISTORY_SPAN:
                self._slide_to(event.at)
                self._add(event)
        self._slide_to(latest)
        self.last_at = latest
        self._remember_seen(txn, at)

    def _reset_windows(self) -> None:
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

    def _remember_seen(self, txn: Transaction, at: float) -> None:
        for seen, key in (
            (self.devices, txn.device_category),
            (self.merchants, txn.merchant),
            (self.merchant_types, txn.merchant_category),
        ):
            if seen.get(key, -math.inf) < at:
                seen[key] = at
            if len(seen) > MAX_REMEMBERED_PER_KIND:
                _forget_oldest(seen, self.last_at)

    def _features_by_scan(self, txn: Transaction, at: float) -> FeatureVector:
        """The same features from a walk over the history: for a transaction that came late."""
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
        return _vector(
            txn,
            at,
            count_30d > 0,  # has_history
            previous_at,
            count_10m,
            count_1h,
            count_24h,
            count_7d,
            count_30d,
            sum_1h,
            sum_24h,
            sum_30d,
            max_30d,
            count_settled,
            sum_settled,
            mismatches_24h,
            small_1h,
            small_24h,
            len(merchants_1h),  # merchants_1h
            len(devices_24h),  # devices_24h
            self,  # seen
        )


def _vector(  # positional: called once per transaction, where keywords cost a microsecond
    txn: Transaction,
    at: float,
    has_history: bool,
    previous_at: float,
    count_10m: int,
    count_1h: int,
    count_24h: int,
    count_7d: int,
    count_30d: int,
    sum_1h: float,
    sum_24h: float,
    sum_30d: float,
    max_30d: float,
    count_settled: int,
    sum_settled: float,
    mismatches_24h: int,
    small_1h: int,
    small_24h: int,
    merchants_1h: int,
    devices_24h: int,
    seen: UserHistory,
    /,
) -> FeatureVector:
    amount = txn.amount
    angle = 2 * math.pi * (at % DAY) / DAY
    return FeatureVector(
        (
            amount,
            math.sin(angle),
            math.cos(angle),
            0.0 if txn.location_match else 1.0,
            0.0 if has_history else 1.0,
            at - previous_at if has_history else HISTORY_SPAN,
            float(count_10m),
            float(count_1h),
            float(count_24h),
            float(count_7d),
            float(count_30d),
            sum_1h,
            sum_24h,
            _ratio(amount, sum_settled, count_settled, sum_30d, count_30d),
            amount / max_30d if has_history else 1.0,
            _is_new(seen.devices, txn.device_category, at, has_history),
            _is_new(seen.merchants, txn.merchant, at, has_history),
            _is_new(seen.merchant_types, txn.merchant_category, at, has_history),
            float(mismatches_24h),
            float(small_1h),
            float(small_24h),
            float(merchants_1h),
            float(devices_24h),
            _MERCHANT_TYPE_CODE[txn.merchant_category],
            _DEVICE_TYPE_CODE[txn.device_category],
        )
    )


def _forget(counts: dict[str, int], key: str) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


def _ratio(amount: float, settled: float, settled_count: int, total: float, count: int) -> float:
    """Amount over the typical one: a burst in progress must not raise its own baseline."""
    if settled_count:
        return amount * settled_count / settled
    if count:
        return amount * count / total
    return 1.0


def _is_new(seen: dict[str, float], key: str, at: float, has_history: bool) -> float:
    if not has_history:
        return 0.0
    last_seen = seen.get(key)
    return 0.0 if last_seen is not None and at - last_seen < NOVELTY_SPAN else 1.0


def _forget_oldest(seen: dict[str, float], latest: float) -> None:
    horizon = latest - NOVELTY_SPAN
    for stale in [key for key, when in seen.items() if when <= horizon]:
        del seen[stale]
    while len(seen) > MAX_REMEMBERED_PER_KIND:
        del seen[min(seen, key=seen.__getitem__)]


class BehaviourProfiles:
    """Every user's history, updated as transactions are observed, one after another.

    Observing a transaction again (a redelivered message) returns the features it
    got the first time and leaves the history alone, so at-least-once delivery
    never counts a purchase twice.
    """

    def __init__(self, remembered_ids: int = MAX_REMEMBERED_IDS) -> None:
        self._users: dict[str, UserHistory] = {}
        self._observed: OrderedDict[str, FeatureVector] = OrderedDict()
        self._latest = -math.inf
        self._remembered_ids = remembered_ids

    def __len__(self) -> int:
        return len(self._users)

    def observe(self, transactions: Iterable[Transaction]) -> list[FeatureVector]:
        """Features of each transaction from the user's earlier ones, then remember it."""
        vectors = []
        observed = self._observed
        for txn in transactions:
            seen_before = observed.get(txn.transaction_id)
            if seen_before is not None:
                vectors.append(seen_before)
                continue
            at = txn.timestamp.timestamp()
            history = self._users.get(txn.user_id)
            if history is None:
                history = self._users[txn.user_id] = UserHistory()
            vector = history.observe(txn, at)
            vectors.append(vector)
            if at > self._latest:
                self._latest = at
            observed[txn.transaction_id] = vector
            if len(observed) > self._remembered_ids:
                observed.popitem(last=False)
        return vectors

    def clear(self) -> None:
        """Forget everything: before rebuilding the state from the log."""
        self._users.clear()
        self._observed.clear()
        self._latest = -math.inf

    def expire(self, now: float | None = None) -> int:
        """Forget users idle for longer than anything of theirs is remembered.

        After :data:`NOVELTY_SPAN` of silence a user's history and novelty
        memory are both spent, so forgetting them changes no feature: the
        stream, which expires, and offline replay, which need not, agree.
        ``now`` defaults to the latest transaction time observed (event time,
        not the wall clock). Returns how many users were forgotten.
        """
        horizon = (self._latest if now is None else now) - NOVELTY_SPAN
        stale = [user for user, history in self._users.items() if history.last_at <= horizon]
        for user in stale:
            del self._users[user]
        return len(stale)


def replay(transactions: Sequence[Transaction]) -> list[FeatureVector]:
    """Features for a file of transactions, from empty state, in timestamp order.

    Returns vectors in the input's order; ties keep their input order.
    """
    order = sorted(range(len(transactions)), key=lambda i: transactions[i].timestamp)
    vectors = BehaviourProfiles().observe(transactions[i] for i in order)
    result: list[FeatureVector] = [vectors[0]] * len(transactions) if transactions else []
    for position, index in enumerate(order):
        result[index] = vectors[position]
    return result
