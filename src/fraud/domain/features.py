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
MAX_EVENTS_PER_USER = 2_000
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class _Event:
    at: float
    amount: float
    merchant: str
    device: str
    mismatch: bool


@dataclass(slots=True)
class UserHistory:
    """What the features remember of one user: recent events and what was seen before."""

    events: deque[_Event] = field(default_factory=deque)
    devices: dict[str, float] = field(default_factory=dict)
    merchants: dict[str, float] = field(default_factory=dict)
    merchant_types: dict[str, float] = field(default_factory=dict)
    last_at: float = -math.inf

    def features_for(self, txn: Transaction, at: float) -> FeatureVector:
        count_10m = count_1h = count_24h = count_7d = count_30d = 0
        sum_1h = sum_24h = sum_30d = max_30d = sum_settled = 0.0
        count_settled = 0
        mismatches_24h = small_1h = small_24h = 0
        merchants_1h: set[str] = set()
        devices_24h: set[str] = set()
        previous_at = -math.inf
        for event in reversed(self.events):
            age = at - event.at
            if age < 0:
                continue  # arrived earlier but happened later: not in this one's past
            if age >= HISTORY_SPAN:
                break
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

        has_history = count_30d > 0
        amount = txn.amount
        hour = (at % DAY) / HOUR
        angle = 2 * math.pi * hour / 24
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
                _is_new(self.devices, txn.device_category, at, has_history),
                _is_new(self.merchants, txn.merchant, at, has_history),
                _is_new(self.merchant_types, txn.merchant_category, at, has_history),
                float(mismatches_24h),
                float(small_1h),
                float(small_24h),
                float(len(merchants_1h)),
                float(len(devices_24h)),
                _MERCHANT_TYPE_CODE[txn.merchant_category],
                _DEVICE_TYPE_CODE[txn.device_category],
            )
        )

    def remember(self, txn: Transaction, at: float) -> None:
        self.events.append(
            _Event(at, txn.amount, txn.merchant, txn.device_category, not txn.location_match)
        )
        self.last_at = max(self.last_at, at)
        horizon = self.last_at - HISTORY_SPAN
        while self.events and (
            self.events[0].at <= horizon or len(self.events) > MAX_EVENTS_PER_USER
        ):
            self.events.popleft()
        _remember(self.devices, txn.device_category, at, self.last_at)
        _remember(self.merchants, txn.merchant, at, self.last_at)
        _remember(self.merchant_types, txn.merchant_category, at, self.last_at)


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


def _remember(seen: dict[str, float], key: str, at: float, latest: float) -> None:
    seen[key] = max(seen.get(key, at), at)
    if len(seen) > MAX_REMEMBERED_PER_KIND:
        horizon = latest - NOVELTY_SPAN
        for stale in [k for k, when in seen.items() if when <= horizon]:
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
            vector = history.features_for(txn, at)
            history.remember(txn, at)
            vectors.append(vector)
            observed[txn.transaction_id] = vector
            if len(observed) > self._remembered_ids:
                observed.popitem(last=False)
        return vectors

    def expire(self, now: float) -> int:
        """Forget users with no transaction in the history span; returns how many."""
        horizon = now - HISTORY_SPAN
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
