"""Per-user behaviour features: the one implementation used online and offline.

The streaming preprocess stage and offline replay (training, evaluation,
``fraud score``) both call :meth:`BehaviourProfiles.observe`, so a transaction
gets the same features wherever it is computed. Each transaction sees only the
user's strictly earlier transactions; history expires after
:data:`HISTORY_SPAN` so the state stays bounded.

:data:`FEATURES` is the model's contract: names, order, how to scale each one.
Values are placed into a vector by feature name (:func:`_vector`), so adding or
moving a feature in the table cannot shift another one's value.
"""

from __future__ import annotations

import heapq
import math
import sys
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, cast

from fraud.domain.label_risk import (
    NO_RISK_KNOWN,
    RISK_DAYS,
    VERDICT_DAYS,
    LabelEvent,
    LabelRisk,
    RiskFigures,
)
from fraud.domain.transaction import (
    DEVICE_CODE,
    DEVICE_TYPES,
    MERCHANT_TYPE_CODE,
    MERCHANT_TYPES,
    OTHER,
    Transaction,
)
from fraud.domain.windows import (
    DAY,
    HISTORY_SPAN,
    SMALL_AMOUNT,
    Event,
    RecentWindows,
    WindowFigures,
)

__all__ = [
    "FEATURES",
    "FEATURE_INDEX",
    "FEATURE_NAMES",
    "HISTORY_SPAN",
    "LABEL_FEATURES",
    "NOVELTY_SPAN",
    "SMALL_AMOUNT",
    "BehaviourProfiles",
    "Feature",
    "FeatureVector",
    "Scale",
    "Unit",
    "UserHistory",
    "replay",
]

NOVELTY_SPAN = 90 * DAY
MAX_REMEMBERED_PER_KIND = 256
MAX_REMEMBERED_IDS = 200_000
# The smallest non-zero amount the contract admits (six decimals, for currencies without a
# minor unit): what a ratio divides by when the history holds only zero amounts.
SMALLEST_AMOUNT = 1e-6
# The event-time clock that drives expiry is the CLOCK_QUORUM-th latest event time seen, so
# no single transaction (nor a few) dated ahead can make the service forget everyone else.
CLOCK_QUORUM = 64


class Scale(Enum):
    """How the model should prepare a feature before normalising it."""

    LINEAR = "linear"
    LOG = "log"  # heavy-tailed, non-negative: counts, sums, gaps, ratios
    CATEGORY = "category"  # an index into ``Feature.vocabulary``


class Unit(Enum):
    """What a feature's number counts or measures, in the words a reference table uses."""

    MONEY = "amount in the transaction's currency"
    ANGLE = "-1 to 1"
    FLAG = "1 yes, 0 no"
    SECONDS = "seconds"
    TRANSACTIONS = "transactions"
    MERCHANTS = "merchants"
    DEVICE_TYPES = "device types"
    RATIO = "times"
    SHARE = "share, 0 to 1"
    CODE = "code"


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    scale: Scale
    description: str
    unit: Unit
    vocabulary: tuple[str, ...] = ()  # a code's words, by code: ``vocabulary[code]``
    # Read from labels (each only from when it became known), not from the transactions.
    from_labels: bool = False


_M = Unit.MONEY
_F = Unit.FLAG
_S = Unit.SECONDS
_T = Unit.TRANSACTIONS
FEATURES: tuple[Feature, ...] = (
    Feature("amount", Scale.LOG, "the transaction's amount", _M),
    Feature("hour_sin", Scale.LINEAR, "time of day (UTC), sine of the hour's angle", Unit.ANGLE),
    Feature("hour_cos", Scale.LINEAR, "time of day (UTC), cosine of the hour's angle", Unit.ANGLE),
    Feature("location_mismatch", Scale.LINEAR, "away from the card holder's location", _F),
    Feature("no_history", Scale.LINEAR, "the user's first transaction in the last 30 days", _F),
    Feature(
        "seconds_since_previous",
        Scale.LOG,
        "since the user's previous transaction (30 days when none)",
        _S,
    ),
    Feature("count_10m", Scale.LOG, "the user's transactions in the previous 10 minutes", _T),
    Feature("count_1h", Scale.LOG, "the user's transactions in the previous hour", _T),
    Feature("count_24h", Scale.LOG, "the user's transactions in the previous 24 hours", _T),
    Feature("count_7d", Scale.LOG, "the user's transactions in the previous 7 days", _T),
    Feature("count_30d", Scale.LOG, "the user's transactions in the previous 30 days", _T),
    Feature("amount_sum_1h", Scale.LOG, "the user's spend in the previous hour", _M),
    Feature("amount_sum_24h", Scale.LOG, "the user's spend in the previous 24 hours", _M),
    Feature(
        "amount_to_typical",
        Scale.LOG,
        "amount over the user's 30-day average, leaving out the last hour's session "
        "(1 with no history)",
        Unit.RATIO,
    ),
    Feature(
        "amount_to_max",
        Scale.LOG,
        "amount over the user's 30-day largest (1 with no history)",
        Unit.RATIO,
    ),
    Feature(
        "amount_to_average_24h",
        Scale.LOG,
        "amount over the user's average in the previous 24 hours (1 with none)",
        Unit.RATIO,
    ),
    Feature(
        "amount_to_average_7d",
        Scale.LOG,
        "amount over the user's average in the previous 7 days (1 with none)",
        Unit.RATIO,
    ),
    Feature(
        "average_7d_to_30d",
        Scale.LOG,
        "the user's average in the previous 7 days over their 30-day average (1 with none)",
        Unit.RATIO,
    ),
    Feature(
        "new_device",
        Scale.LINEAR,
        "a device type this user has not used in 90 days (0 with no history)",
        _F,
    ),
    Feature(
        "new_merchant",
        Scale.LINEAR,
        "a merchant this user has not used in 90 days (0 with no history)",
        _F,
    ),
    Feature(
        "new_merchant_type",
        Scale.LINEAR,
        "a merchant type this user has not used in 90 days (0 with no history)",
        _F,
    ),
    Feature(
        "mismatch_count_24h", Scale.LOG, "the user's purchases away in the previous 24 hours", _T
    ),
    Feature(
        "small_count_1h", Scale.LOG, f"amounts under {SMALL_AMOUNT:g} in the previous hour", _T
    ),
    Feature(
        "small_count_24h", Scale.LOG, f"amounts under {SMALL_AMOUNT:g} in the previous day", _T
    ),
    Feature(
        "distinct_merchants_1h",
        Scale.LOG,
        "distinct merchants in the previous hour",
        Unit.MERCHANTS,
    ),
    Feature(
        "distinct_devices_24h",
        Scale.LOG,
        "distinct device types in the previous day",
        Unit.DEVICE_TYPES,
    ),
    Feature("merchant_count_1d", Scale.LOG, "the merchant's transactions the day before", _T),
    Feature("merchant_count_7d", Scale.LOG, "the merchant's transactions in the 7 days before", _T),
    Feature(
        "merchant_count_14d", Scale.LOG, "the merchant's transactions in the 14 days before", _T
    ),
    Feature(
        "merchant_count_30d", Scale.LOG, "the merchant's transactions in the 30 days before", _T
    ),
    Feature(
        "merchant_frauds_1d",
        Scale.LOG,
        "of those the day before, confirmed frauds known",
        _T,
        from_labels=True,
    ),
    Feature(
        "merchant_frauds_7d",
        Scale.LOG,
        "of those in the 7 days, confirmed frauds known",
        _T,
        from_labels=True,
    ),
    Feature(
        "merchant_frauds_14d",
        Scale.LOG,
        "of those in the 14 days, confirmed frauds known",
        _T,
        from_labels=True,
    ),
    Feature(
        "merchant_frauds_30d",
        Scale.LOG,
        "of those in the 30 days, confirmed frauds known",
        _T,
        from_labels=True,
    ),
    Feature(
        "merchant_fraud_share_1d",
        Scale.LINEAR,
        "the merchant's confirmed fraud share, the day before",
        Unit.SHARE,
        from_labels=True,
    ),
    Feature(
        "merchant_fraud_share_7d",
        Scale.LINEAR,
        "the merchant's confirmed fraud share, the 7 days before",
        Unit.SHARE,
        from_labels=True,
    ),
    Feature(
        "merchant_fraud_share_14d",
        Scale.LINEAR,
        "the merchant's confirmed fraud share, the 14 days before",
        Unit.SHARE,
        from_labels=True,
    ),
    Feature(
        "merchant_fraud_share_30d",
        Scale.LINEAR,
        "the merchant's confirmed fraud share, the 30 days before",
        Unit.SHARE,
        from_labels=True,
    ),
    Feature(
        "seconds_since_merchant_fraud",
        Scale.LOG,
        "since the merchant's latest purchase confirmed fraud (30 days if none)",
        _S,
        from_labels=True,
    ),
    Feature(
        "seconds_since_merchant_first_fraud",
        Scale.LOG,
        "since the merchant's earliest purchase confirmed fraud in 30 days (30 days if none)",
        _S,
        from_labels=True,
    ),
    Feature(
        "seconds_since_merchant_clean_day",
        Scale.LOG,
        "since the end of the merchant's latest day of purchases before its earliest "
        "confirmed fraud in 30 days: how long its frauds can have gone on (30 days if none)",
        _S,
        from_labels=True,
    ),
    Feature(
        "merchant_verdicts_1d",
        Scale.LOG,
        "the merchant's purchases whose verdict (fraud or genuine) became known in the last day",
        _T,
        from_labels=True,
    ),
    Feature(
        "merchant_verdicts_7d",
        Scale.LOG,
        "the merchant's purchases whose verdict became known in the last 7 days",
        _T,
        from_labels=True,
    ),
    Feature(
        "merchant_verdict_fraud_share_1d",
        Scale.LINEAR,
        "of the verdicts on the merchant's purchases known in the last day, the share fraud "
        "(0 with none)",
        Unit.SHARE,
        from_labels=True,
    ),
    Feature(
        "merchant_verdict_fraud_share_7d",
        Scale.LINEAR,
        "of the verdicts on the merchant's purchases known in the last 7 days, the share "
        "fraud (0 with none)",
        Unit.SHARE,
        from_labels=True,
    ),
    Feature(
        "card_confirmed_frauds",
        Scale.LOG,
        "the user's earlier transactions confirmed fraud",
        _T,
        from_labels=True,
    ),
    Feature(
        "seconds_since_card_fraud",
        Scale.LOG,
        "since the user's latest transaction confirmed fraud (90 days if none)",
        _S,
        from_labels=True,
    ),
    Feature(
        "seconds_since_card_first_fraud",
        Scale.LOG,
        "since the user's earliest transaction confirmed fraud in 90 days (90 days if none)",
        _S,
        from_labels=True,
    ),
    Feature("merchant_type", Scale.CATEGORY, "merchant type", Unit.CODE, MERCHANT_TYPES),
    Feature("device_type", Scale.CATEGORY, "device type", Unit.CODE, DEVICE_TYPES),
)
FEATURE_NAMES: tuple[str, ...] = tuple(feature.name for feature in FEATURES)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}
LABEL_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.from_labels)

# How many transactions a replay walks between two reports of its progress.
PROGRESS_STRIDE = 10_000

_MERCHANT_TYPE_CODE = {name: float(code) for name, code in MERCHANT_TYPE_CODE.items()}
_DEVICE_TYPE_CODE = {name: float(code) for name, code in DEVICE_CODE.items()}


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


# Where UserHistory.categories keeps each device type's and each merchant type's last use.
_DEVICE_SLOT = DEVICE_CODE
_MERCHANT_TYPE_SLOT = {name: len(DEVICE_TYPES) + code for name, code in MERCHANT_TYPE_CODE.items()}
_NEVER_USED = [-math.inf] * (len(DEVICE_TYPES) + len(MERCHANT_TYPES))


@dataclass(slots=True)
class UserHistory:
    """What the features remember of one user: windows over their recent transactions
    (:class:`RecentWindows`), and when each device, merchant and merchant type was last used.
    """

    windows: RecentWindows = field(default_factory=RecentWindows)
    merchants: dict[str, float] = field(default_factory=dict)
    # When each device type, then each merchant type, was last used (-inf: never): a few
    # categories, so a column of times rather than two dictionaries.
    categories: array[float] = field(default_factory=lambda: array("d", _NEVER_USED))

    @property
    def last_at(self) -> float:
        return self.windows.last_at

    def observe(
        self, txn: Transaction, at: float, risk: RiskFigures = NO_RISK_KNOWN
    ) -> FeatureVector:
        """The transaction's features from the user's earlier transactions (and what labels
        known by then say of its merchant and card), then remember it."""
        windows = self.windows
        if at < windows.last_at:
            vector = self._features_by_scan(txn, at, risk)
            self._remember_late(txn, at)
            return vector
        event = _event(txn, at)
        vector = _vector(event, windows.slide_to(at), self, risk)
        windows.add(event)
        self._remember_seen(event)
        return vector

    def snapshot(self) -> dict[str, Any]:
        """All of it as plain values, for a state store; :meth:`from_snapshot` restores it."""
        return {
            "windows": self.windows.snapshot(),
            "devices": _uses(self.categories, _DEVICE_SLOT),
            "merchants": self.merchants,
            "merchant_types": _uses(self.categories, _MERCHANT_TYPE_SLOT),
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> UserHistory:
        """The history :meth:`snapshot` was taken of (dictionaries keep their order, which
        decides what is forgotten first among uses at the same moment)."""
        categories = array("d", _NEVER_USED)
        for uses, slots in (
            (data["devices"], _DEVICE_SLOT),
            (data["merchant_types"], _MERCHANT_TYPE_SLOT),
        ):
            for name, at in uses.items():
                slot = slots.get(name, slots[OTHER])
                categories[slot] = max(categories[slot], at)
        return cls(
            RecentWindows.from_snapshot(data["windows"]), dict(data["merchants"]), categories
        )

    def _features_by_scan(self, txn: Transaction, at: float, risk: RiskFigures) -> FeatureVector:
        """The features a full scan of the history gives: what a late arrival gets."""
        return _vector(_event(txn, at), self.windows.figures_by_scan(at), self, risk)

    def _remember_late(self, txn: Transaction, at: float) -> None:
        event = _event(txn, at)
        self.windows.insert_late(event)
        self._remember_seen(event)

    def _remember_seen(self, event: Event) -> None:
        at = event.at
        categories = self.categories
        for slot in (_DEVICE_SLOT[event.device], _MERCHANT_TYPE_SLOT[event.merchant_type]):
            if categories[slot] < at:
                categories[slot] = at
        _remember_use(self.merchants, event.merchant, at, self.windows.last_at)


def _uses(categories: array[float], slots: dict[str, int]) -> dict[str, float]:
    """The categories used, with when each was last: a snapshot's plain form."""
    return {name: categories[slot] for name, slot in slots.items() if categories[slot] > -math.inf}


def _event(txn: Transaction, at: float) -> Event:
    """The transaction as the history keeps it. The merchant's name is interned: every
    message brings its own copy, and a user's history would otherwise hold one per event."""
    return Event(
        at,
        txn.amount,
        sys.intern(txn.merchant),
        txn.device_category,
        txn.merchant_category,
        not txn.location_match,
    )


_PLACE = FEATURE_INDEX  # where each feature's value goes in the vector
_UNSET = [math.nan] * len(FEATURES)  # a feature nobody computes shows up as NaN
_NEVER = -math.inf


_MERCHANT_COUNTS = tuple(_PLACE[f"merchant_count_{days}d"] for days in RISK_DAYS)
_MERCHANT_FRAUDS = tuple(_PLACE[f"merchant_frauds_{days}d"] for days in RISK_DAYS)
_MERCHANT_SHARES = tuple(_PLACE[f"merchant_fraud_share_{days}d"] for days in RISK_DAYS)
_MERCHANT_VERDICTS = tuple(_PLACE[f"merchant_verdicts_{days}d"] for days in VERDICT_DAYS)
_MERCHANT_VERDICT_SHARES = tuple(
    _PLACE[f"merchant_verdict_fraud_share_{days}d"] for days in VERDICT_DAYS
)


def _vector(
    event: Event, figures: WindowFigures, seen: UserHistory, risk: RiskFigures
) -> FeatureVector:
    """Each feature's value, written to its place by name: the table may be reordered freely.

    This runs for every transaction. A list written by index costs a few percent
    of replay time over one positional tuple; a function per feature (the way
    reasons are written) or a dict by name measured 20-30% slower.
    """
    at = event.at
    amount = event.amount
    has_history = figures.count_30d > 0
    angle = 2 * math.pi * (at % DAY) / DAY
    vector = _UNSET.copy()
    vector[_PLACE["amount"]] = amount
    vector[_PLACE["hour_sin"]] = math.sin(angle)
    vector[_PLACE["hour_cos"]] = math.cos(angle)
    vector[_PLACE["location_mismatch"]] = 1.0 if event.mismatch else 0.0
    vector[_PLACE["no_history"]] = 0.0 if has_history else 1.0
    vector[_PLACE["seconds_since_previous"]] = (
        at - figures.previous_at if has_history else HISTORY_SPAN
    )
    vector[_PLACE["count_10m"]] = float(figures.count_10m)
    vector[_PLACE["count_1h"]] = float(figures.count_1h)
    vector[_PLACE["count_24h"]] = float(figures.count_24h)
    vector[_PLACE["count_7d"]] = float(figures.count_7d)
    vector[_PLACE["count_30d"]] = float(figures.count_30d)
    vector[_PLACE["amount_sum_1h"]] = figures.sum_1h
    vector[_PLACE["amount_sum_24h"]] = figures.sum_24h
    vector[_PLACE["amount_to_typical"]] = (
        _ratio(amount, figures.sum_settled, figures.count_settled)
        if figures.count_settled
        else _ratio(amount, figures.sum_30d, figures.count_30d)
    )
    vector[_PLACE["amount_to_max"]] = (
        amount / max(figures.max_30d, SMALLEST_AMOUNT) if has_history else 1.0
    )
    vector[_PLACE["amount_to_average_24h"]] = _ratio(amount, figures.sum_24h, figures.count_24h)
    vector[_PLACE["amount_to_average_7d"]] = _ratio(amount, figures.sum_7d, figures.count_7d)
    vector[_PLACE["average_7d_to_30d"]] = (
        _ratio(figures.sum_7d / figures.count_7d, figures.sum_30d, figures.count_30d)
        if figures.count_7d
        else 1.0
    )
    # Used within the novelty span: not new. Otherwise new, unless the user has no history.
    unseen = 1.0 if has_history else 0.0
    last_used = seen.categories[_DEVICE_SLOT[event.device]]
    vector[_PLACE["new_device"]] = 0.0 if at - last_used < NOVELTY_SPAN else unseen
    last_used = seen.merchants.get(event.merchant, _NEVER)
    vector[_PLACE["new_merchant"]] = 0.0 if at - last_used < NOVELTY_SPAN else unseen
    last_used = seen.categories[_MERCHANT_TYPE_SLOT[event.merchant_type]]
    vector[_PLACE["new_merchant_type"]] = 0.0 if at - last_used < NOVELTY_SPAN else unseen
    vector[_PLACE["mismatch_count_24h"]] = float(figures.mismatches_24h)
    vector[_PLACE["small_count_1h"]] = float(figures.small_1h)
    vector[_PLACE["small_count_24h"]] = float(figures.small_24h)
    vector[_PLACE["distinct_merchants_1h"]] = float(figures.merchants_1h)
    vector[_PLACE["distinct_devices_24h"]] = float(figures.devices_24h)
    for i, (count, frauds) in enumerate(
        zip(risk.merchant_transactions, risk.merchant_frauds, strict=True)
    ):
        vector[_MERCHANT_COUNTS[i]] = float(count)
        vector[_MERCHANT_FRAUDS[i]] = float(frauds)
        vector[_MERCHANT_SHARES[i]] = frauds / count if count else 0.0
    vector[_PLACE["seconds_since_merchant_fraud"]] = risk.since_merchant_fraud
    vector[_PLACE["seconds_since_merchant_first_fraud"]] = risk.since_first_merchant_fraud
    vector[_PLACE["seconds_since_merchant_clean_day"]] = risk.since_merchant_clean_day
    for i, (heard, share) in enumerate(risk.merchant_verdicts):
        vector[_MERCHANT_VERDICTS[i]] = float(heard)
        vector[_MERCHANT_VERDICT_SHARES[i]] = share
    vector[_PLACE["card_confirmed_frauds"]] = float(risk.card_frauds)
    vector[_PLACE["seconds_since_card_fraud"]] = risk.since_card_fraud
    vector[_PLACE["seconds_since_card_first_fraud"]] = risk.since_first_card_fraud
    vector[_PLACE["merchant_type"]] = _MERCHANT_TYPE_CODE[event.merchant_type]
    vector[_PLACE["device_type"]] = _DEVICE_TYPE_CODE[event.device]
    return FeatureVector(tuple(vector))


def _ratio(amount: float, total: float, count: int) -> float:
    """Amount over the average of ``count`` amounts summing to ``total`` (1 with none).
    ``amount_to_typical`` leaves the last hour out where it can: a burst in progress must
    not raise its own baseline.

    A history of zero amounts (account verifications) has no typical amount to divide by:
    the smallest amount stands in for it, so the ratio stays finite and large."""
    if count:
        return amount * count / max(total, SMALLEST_AMOUNT)
    return 1.0


def _remember_use(seen: dict[str, float], key: str, at: float, latest: float) -> None:
    if seen.get(key, _NEVER) < at:
        seen[key] = at
    if len(seen) > MAX_REMEMBERED_PER_KIND:
        _forget_oldest(seen, latest)


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

    The users whose history was observed or forgotten since the last
    :meth:`take_changes` are noted, for a state store to write them down.
    """

    def __init__(self, remembered_ids: int = MAX_REMEMBERED_IDS) -> None:
        self._users: dict[str, UserHistory] = {}
        self._observed: OrderedDict[str, FeatureVector] = OrderedDict()
        self._latest: list[float] = []  # a min-heap of the CLOCK_QUORUM latest event times
        self._remembered_ids = remembered_ids
        self._changed: set[str] = set()
        self.risk = LabelRisk()

    def __len__(self) -> int:
        return len(self._users)

    def observe(
        self, transactions: Iterable[Transaction], shards: Iterable[int | None] | None = None
    ) -> list[FeatureVector]:
        """Features of each transaction from the user's earlier ones, then remember it.
        ``shards``: the part of the stream each came from (its partition), for the merchant
        counts a state store writes down part by part; None where it is counted already."""
        vectors = []
        observed = self._observed
        changed = self._changed
        shard_of = iter(shards) if shards is not None else None
        for txn in transactions:
            shard: int | None = next(shard_of) if shard_of is not None else 0
            # Noted even when seen before: a batch handled again writes its users again.
            changed.add(txn.user_id)
            seen_before = observed.get(txn.transaction_id)
            if seen_before is not None:
                vectors.append(seen_before)
                if shard is not None:
                    self.risk.recount(txn.merchant, txn.timestamp.timestamp(), shard)
                continue
            at = txn.timestamp.timestamp()
            history = self._users.get(txn.user_id)
            if history is None:
                history = self._users[txn.user_id] = UserHistory()
            vector = history.observe(txn, at, self.risk.figures(txn.user_id, txn.merchant, at))
            if shard is not None:
                self.risk.count(txn.merchant, at, shard)
            vectors.append(vector)
            self._saw_time(at)
            observed[txn.transaction_id] = vector
            if len(observed) > self._remembered_ids:
                observed.popitem(last=False)
        return vectors

    def _saw_time(self, at: float) -> None:
        latest = self._latest
        if len(latest) < CLOCK_QUORUM:
            heapq.heappush(latest, at)
        elif at > latest[0]:
            heapq.heapreplace(latest, at)

    def learn(self, labels: Iterable[LabelEvent]) -> None:
        """Labels, each to count for transactions from the moment it became known."""
        self.risk.learn(labels)

    def clear(self) -> None:
        """Forget everything: before rebuilding the state from the log."""
        self.risk = LabelRisk()
        self._users.clear()
        self._observed.clear()
        self._latest.clear()
        self._changed.clear()

    def take_changes(self) -> dict[str, UserHistory | None]:
        """The users observed or forgotten since the last call, with their history now
        (``None``: forgotten), and start noting afresh."""
        users = self._users
        changes = {user: users.get(user) for user in self._changed}
        self._changed.clear()
        return changes

    def load(self, user: str, history: UserHistory) -> None:
        """Take a user's history from a state store, as it was when written down.

        The event-time clock, which only decides when idle users are forgotten, learns
        the user's latest time: close to, not exactly, what observing would have taught
        it (the latest times of all users, not of all transactions).
        """
        self._users[user] = history
        self._saw_time(history.last_at)

    @property
    def clock(self) -> float:
        """Event time as the profiles know it: the :data:`CLOCK_QUORUM`-th latest event time
        observed (-inf before that many), which one outlying timestamp cannot move."""
        latest = self._latest
        return latest[0] if len(latest) == CLOCK_QUORUM else -math.inf

    def expire(self, now: float | None = None) -> int:
        """Forget users idle for longer than anything of theirs is remembered.

        After :data:`NOVELTY_SPAN` of silence a user's history and novelty
        memory are both spent, so forgetting them changes no feature: the
        stream, which expires, and offline replay, which need not, agree.
        ``now`` defaults to :attr:`clock` (event time, not the wall clock).
        Returns how many users were forgotten.
        """
        now = self.clock if now is None else now
        if math.isfinite(now):
            self.risk.expire(now)
        horizon = now - NOVELTY_SPAN
        stale = [user for user, history in self._users.items() if history.last_at <= horizon]
        for user in stale:
            del self._users[user]
        self._changed.update(stale)
        return len(stale)


def part_of(user_id: str, parts: int) -> int:
    """Which of ``parts`` a user's transactions belong to, as a keyed partitioner splits
    them: every transaction of a user in one part, whatever the process."""
    return zlib.crc32(user_id.encode("utf-8")) % parts


def replay_part(
    transactions: Sequence[Transaction],
    labels: Iterable[LabelEvent],
    part: int,
    parts: int,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[int, FeatureVector]]:
    """What :func:`replay` gives the transactions of one part of the users (:func:`part_of`),
    with their places in the input: the same, since a user's features come from the user's
    own transactions, and every transaction of the file still counts at its merchant.
    The parts, computed side by side, make up the whole. ``progress`` is told of every
    :data:`PROGRESS_STRIDE` transactions of the file walked."""
    order = sorted(range(len(transactions)), key=lambda i: transactions[i].timestamp)
    profiles = BehaviourProfiles()
    profiles.learn(labels)
    parts_of: dict[str, int] = {}
    found: list[tuple[int, FeatureVector]] = []
    for position, index in enumerate(order, start=1):
        txn = transactions[index]
        user_part = parts_of.get(txn.user_id)
        if user_part is None:
            user_part = parts_of[txn.user_id] = part_of(txn.user_id, parts)
        if user_part == part:
            (vector,) = profiles.observe((txn,))
            found.append((index, vector))
        else:
            profiles.risk.count(txn.merchant, txn.timestamp.timestamp())
        if progress is not None and position % PROGRESS_STRIDE == 0:
            progress(PROGRESS_STRIDE)
    if progress is not None:
        progress(len(order) % PROGRESS_STRIDE)
    return found


def replay(
    transactions: Sequence[Transaction],
    labels: Iterable[LabelEvent] = (),
    progress: Callable[[int], None] | None = None,
) -> list[FeatureVector]:
    """Features for a file of transactions, from empty state, in timestamp order, with the
    labels each could have known: a label counts from its ``labelled_at`` on, so knowing
    them all from the start gives what the stream gives, where they arrive as they come.

    Returns vectors in the input's order; ties keep their input order. ``progress`` is told
    how many more are done, every :data:`PROGRESS_STRIDE`.
    """
    order = sorted(range(len(transactions)), key=lambda i: transactions[i].timestamp)
    profiles = BehaviourProfiles()
    profiles.learn(labels)
    result: list[FeatureVector | None] = [None] * len(transactions)
    for start in range(0, len(order), PROGRESS_STRIDE):
        chunk = order[start : start + PROGRESS_STRIDE]
        for index, vector in zip(
            chunk, profiles.observe(transactions[i] for i in chunk), strict=True
        ):
            result[index] = vector
        if progress is not None:
            progress(len(chunk))
    return cast(list[FeatureVector], result)  # the order holds every place once
