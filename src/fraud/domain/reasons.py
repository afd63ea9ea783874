"""Human-readable reasons: which of a transaction's facts look like fraud, and which of them
made the model's score.

Each rule looks at one behaviour fact and, when it stands out, returns a
strength (1.0 is "just notable") and a sentence an analyst can act on. Each also
names the model features that carry its fact (:func:`reads`), so the model's own
attribution can rank the reasons (:func:`rank`): a fact that stands out by the
rules' measure need not be what moved the score, and a reason shown for a score
should be one the model weighed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fraud.domain.features import FEATURE_INDEX, FEATURE_NAMES, SMALL_AMOUNT, FeatureVector
from fraud.domain.label_risk import RISK_DAYS, day_label, day_of
from fraud.domain.transaction import Transaction

Rule = Callable[[Transaction, FeatureVector], tuple[float, str] | None]


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason and the share (0 to 1) of the risk the model added above its baseline that
    the reason's features carry: what an analyst weighs it by."""

    text: str
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.text, "share": round(self.share, 4)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        return cls(str(data["reason"]), float(data["share"]))


@dataclass(frozen=True, slots=True)
class ReasonRule:
    """A rule and the model features its fact lives in: where the model's weight for the
    reason is read. A name the model does not know fails at import, not at the first verdict.
    """

    find: Rule
    reads: tuple[str, ...]
    columns: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        unknown = [name for name in self.reads if name not in FEATURE_INDEX]
        if unknown:
            raise ValueError(f"{self.find.__name__} reads unknown features {unknown}")
        object.__setattr__(self, "columns", tuple(FEATURE_INDEX[name] for name in self.reads))

    def __call__(self, txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
        return self.find(txn, f)


def reads(*features: str) -> Callable[[Rule], ReasonRule]:
    """Declare the features that carry a rule's fact: those the model could have weighed for
    it, not only those the rule tests (the reason for an amount is carried by the amount as
    well as by its ratio to the typical one). Two rules that can apply together read no
    feature in common, so their shares of the added risk never count a feature twice."""

    def declare(find: Rule) -> ReasonRule:
        return ReasonRule(find, features)

    return declare


HIGH_AMOUNT_RATIO = 3.0
BURST_PER_HOUR = 3
BURST_PER_10_MINUTES = 2
CARD_TESTING_SMALL_PER_DAY = 3
QUICK_SUCCESSION_SECONDS = 60.0
MISMATCHES_PER_DAY = 2
FIRST_PURCHASE_AMOUNT = 500.0
MERCHANT_FRAUDS = 2  # confirmed frauds at a merchant before it is named
MERCHANT_FRAUD_SHARE = 0.02
_MERCHANT_RISK = tuple(
    f"merchant_{figure}_{days}d"
    for figure in ("count", "frauds", "fraud_share")
    for days in RISK_DAYS
)


@reads("amount_to_typical", "amount_to_max", "amount")
def _high_amount(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    ratio = f["amount_to_typical"]
    if f["no_history"] or ratio < HIGH_AMOUNT_RATIO:
        return None
    strength = 1.0 + math.log(ratio / HIGH_AMOUNT_RATIO)
    return strength, f"amount is {ratio:.1f}x this user's typical amount"


@reads("count_10m", "count_1h")
def _burst(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    in_10m = int(f["count_10m"]) + 1
    in_hour = int(f["count_1h"]) + 1
    if in_10m > BURST_PER_10_MINUTES:
        return 1.0 + in_10m / 4, f"{in_10m} purchases in the last 10 minutes"
    if in_hour > BURST_PER_HOUR:
        return 0.8 + in_hour / 8, f"{in_hour} purchases in the last hour"
    return None


@reads("small_count_1h", "small_count_24h")
def _card_testing(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    small = int(f["small_count_24h"])
    if small < CARD_TESTING_SMALL_PER_DAY:
        return None
    follow_up = "then a larger one" if txn.amount >= SMALL_AMOUNT * 4 else "in a row"
    return (
        1.2 + small / 5,
        f"{small} purchases under {SMALL_AMOUNT:g} in the last 24 hours, {follow_up} "
        f"(card testing pattern)",
    )


@reads("new_device", "device_type", "distinct_devices_24h")
def _new_device(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    if not f["new_device"]:
        return None
    return 0.9, f"first purchase from a {txn.device_type} device for this user"


@reads("new_merchant", "new_merchant_type", "merchant_type")
def _new_merchant(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    if f["new_merchant_type"]:
        return 0.7, f"first {txn.merchant_type} purchase for this user"
    if f["new_merchant"]:
        return 0.5, f"first purchase at {txn.merchant}"
    return None


@reads("location_mismatch", "mismatch_count_24h")
def _away(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    if not f["location_mismatch"]:
        return None
    earlier = int(f["mismatch_count_24h"])
    if earlier >= MISMATCHES_PER_DAY:
        return 1.0 + earlier / 5, (
            f"away from the card holder's location, {earlier + 1} times in 24 hours"
        )
    return 0.8, "away from the card holder's location"


@reads("seconds_since_previous")
def _quick_succession(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    gap = f["seconds_since_previous"]
    if f["no_history"] or gap >= QUICK_SUCCESSION_SECONDS:
        return None
    return 0.6, f"only {gap:.0f}s after the previous purchase"


@reads("distinct_merchants_1h")
def _many_merchants(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    merchants = int(f["distinct_merchants_1h"])
    if merchants < 3:
        return None
    return 0.7 + merchants / 10, f"{merchants} different merchants in the last hour"


@reads("no_history", "amount")
def _big_first_purchase(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    if not f["no_history"] or txn.amount < FIRST_PURCHASE_AMOUNT:
        return None
    return 0.6, f"first transaction seen for this user, for {txn.amount:,.2f} {txn.currency}"


@reads("amount_sum_1h")
def _spend_last_hour(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    earlier = f["amount_sum_1h"]
    if earlier < 1_000 or f["count_1h"] < 2:
        return None
    return 0.75, f"{earlier + txn.amount:,.2f} {txn.currency} spent in the last hour"


@reads(*_MERCHANT_RISK)
def _compromised_merchant(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    """The widest window in which the merchant's confirmed fraud stands out."""
    for days in (1, 7, 30):
        frauds = int(f[f"merchant_frauds_{days}d"])
        share = f[f"merchant_fraud_share_{days}d"]
        if frauds >= MERCHANT_FRAUDS and share >= MERCHANT_FRAUD_SHARE:
            count = int(f[f"merchant_count_{days}d"])
            until = day_label(day_of(txn.timestamp.timestamp()) - 1)
            span = "the day" if days == 1 else f"the {days} days"
            return 1.2 + math.log1p(frauds) / 2 + 4 * share, (
                f"merchant {txn.merchant}: {frauds} confirmed frauds among its {count} "
                f"transactions in {span} to {until}"
            )
    return None


@reads("card_confirmed_frauds", "seconds_since_card_fraud")
def _card_confirmed_stolen(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    frauds = int(f["card_confirmed_frauds"])
    if not frauds:
        return None
    ago = f["seconds_since_card_fraud"]
    when = f"{ago / 86_400:.0f} days" if ago >= 86_400 else f"{ago / 3600:.0f} hours"
    plural = "s" if frauds > 1 else ""
    return 3.0 + frauds / 5, (
        f"this card has {frauds} purchase{plural} confirmed fraud, the latest {when} ago"
    )


RULES: tuple[ReasonRule, ...] = (
    _card_confirmed_stolen,
    _compromised_merchant,
    _card_testing,
    _burst,
    _high_amount,
    _away,
    _new_device,
    _new_merchant,
    _many_merchants,
    _spend_last_hour,
    _quick_succession,
    _big_first_purchase,
)


def explain(transaction: Transaction, features: FeatureVector) -> list[str]:
    """Every reason that applies, strongest first by the rules' own measure, whatever the
    model weighed (:func:`rank` orders them by the model)."""
    found = [hit for rule in RULES if (hit := rule(transaction, features)) is not None]
    found.sort(key=lambda hit: -hit[0])
    return [text for _, text in found]


def rank(
    transaction: Transaction, features: FeatureVector, attributions: Sequence[float]
) -> list[Reason]:
    """The reasons whose features raised the model's score, those that raised it most first.

    ``attributions`` holds, per feature in :data:`FEATURE_NAMES` order, how much the feature
    moved the score's log-odds away from the model's baseline (typical behaviour). A reason
    weighs what its features moved together, so a fact the rules find striking but the
    model discounted is dropped, and one it leaned on leads; equal weights fall back on the
    rules' own strength. The share is the reason's part of every rise the features brought:
    features no reason reads (the time of day, longer-run counts) keep theirs, so the shares
    may add up to less than one. Where no feature raised the score, there is no reason.
    """
    if len(attributions) != len(FEATURE_NAMES):
        raise ValueError(
            f"one attribution per feature is needed, {len(FEATURE_NAMES)}, got {len(attributions)}"
        )
    # A non-finite attribution (a model that overflowed) says nothing about any reason.
    moved = [value if math.isfinite(value) else 0.0 for value in attributions]
    raised = sum(value for value in moved if value > 0)
    weighed = []
    for rule in RULES:
        hit = rule(transaction, features)
        if hit is None:
            continue
        weight = sum(moved[column] for column in rule.columns)
        if weight > 0:
            weighed.append((weight, *hit))
    weighed.sort(key=lambda found: (-found[0], -found[1]))
    return [Reason(text, min(1.0, weight / raised)) for weight, _, text in weighed]
