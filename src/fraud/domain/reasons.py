"""Human-readable reasons: which of a transaction's facts look like fraud, strongest first.

Each rule looks at one behaviour feature and, when it stands out, returns a
strength (1.0 is "just notable") and a sentence an analyst can act on.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from fraud.domain.features import SMALL_AMOUNT, FeatureVector
from fraud.domain.label_risk import day_label, day_of
from fraud.domain.transaction import Transaction

Rule = Callable[[Transaction, FeatureVector], tuple[float, str] | None]

HIGH_AMOUNT_RATIO = 3.0
BURST_PER_HOUR = 3
BURST_PER_10_MINUTES = 2
CARD_TESTING_SMALL_PER_DAY = 3
QUICK_SUCCESSION_SECONDS = 60.0
MISMATCHES_PER_DAY = 2
FIRST_PURCHASE_AMOUNT = 500.0
MERCHANT_FRAUDS = 2  # confirmed frauds at a merchant before it is named
MERCHANT_FRAUD_SHARE = 0.02


def _high_amount(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    ratio = f["amount_to_typical"]
    if f["no_history"] or ratio < HIGH_AMOUNT_RATIO:
        return None
    strength = 1.0 + math.log(ratio / HIGH_AMOUNT_RATIO)
    return strength, f"amount is {ratio:.1f}x this user's typical amount"


def _burst(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    in_10m = int(f["count_10m"]) + 1
    in_hour = int(f["count_1h"]) + 1
    if in_10m > BURST_PER_10_MINUTES:
        return 1.0 + in_10m / 4, f"{in_10m} purchases in the last 10 minutes"
    if in_hour > BURST_PER_HOUR:
        return 0.8 + in_hour / 8, f"{in_hour} purchases in the last hour"
    return None


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


def _new_device(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    if not f["new_device"]:
        return None
    return 0.9, f"first purchase from a {txn.device_category} device for this user"


def _new_merchant(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    if f["new_merchant_type"]:
        return 0.7, f"first {txn.merchant_category} purchase for this user"
    if f["new_merchant"]:
        return 0.5, f"first purchase at {txn.merchant}"
    return None


def _away(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    if not f["location_mismatch"]:
        return None
    earlier = int(f["mismatch_count_24h"])
    if earlier >= MISMATCHES_PER_DAY:
        return 1.0 + earlier / 5, (
            f"away from the card holder's location, {earlier + 1} times in 24 hours"
        )
    return 0.8, "away from the card holder's location"


def _quick_succession(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    gap = f["seconds_since_previous"]
    if f["no_history"] or gap >= QUICK_SUCCESSION_SECONDS:
        return None
    return 0.6, f"only {gap:.0f}s after the previous purchase"


def _many_merchants(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    merchants = int(f["distinct_merchants_1h"])
    if merchants < 3:
        return None
    return 0.7 + merchants / 10, f"{merchants} different merchants in the last hour"


def _big_first_purchase(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    if not f["no_history"] or txn.amount < FIRST_PURCHASE_AMOUNT:
        return None
    return 0.6, f"first transaction seen for this user, for {txn.amount:,.2f} {txn.currency}"


def _spend_last_hour(txn: Transaction, f: FeatureVector) -> tuple[float, str] | None:
    earlier = f["amount_sum_1h"]
    if earlier < 1_000 or f["count_1h"] < 2:
        return None
    return 0.75, f"{earlier + txn.amount:,.2f} {txn.currency} spent in the last hour"


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


RULES: tuple[Rule, ...] = (
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
    """Every reason that applies, strongest first."""
    found = [hit for rule in RULES if (hit := rule(transaction, features)) is not None]
    found.sort(key=lambda hit: -hit[0])
    return [text for _, text in found]
