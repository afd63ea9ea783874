"""Every feature's value lands under its own name, on both ways of computing it.

The user's history below gives the last purchase a different value for every
feature that is not a 0/1 flag, so a value written to another feature's place
in the vector cannot go unnoticed.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from fraud.domain.features import FEATURE_NAMES, BehaviourProfiles
from fraud.domain.label_risk import LabelEvent
from fraud.domain.transaction import Transaction
from tests.factories import txn

DAY_MINUTES = 24 * 60
LAST = 20 * DAY_MINUTES  # the purchase under test: 09:00 UTC, 20 days after the first

# (minutes before the last purchase, amount, merchant, device, away from the card holder)
EARLIER = [
    (15 * DAY_MINUTES, 120.0, "Shop A", "mobile", False),
    (3 * DAY_MINUTES, 80.0, "Shop A", "mobile", False),
    (20 * 60, 1.5, "Shop B", "mobile", False),
    (10 * 60, 2.5, "Shop B", "desktop", True),
    (2 * 60, 3.5, "Shop B", "pos", True),
    (50, 1.75, "Shop 1", "mobile", True),
    (40, 2.75, "Shop 2", "mobile", True),
    (20, 90.0, "Shop 3", "desktop", True),
    (9, 1.25, "Shop 4", "mobile", True),
    (7, 2.25, "Shop 5", "mobile", True),
    (5, 3.25, "Shop 6", "mobile", True),
    (3, 75.0, "Shop 7", "mobile", True),
    (0.5, 4.25, "Shop 7", "mobile", True),
]
IN_LAST_HOUR = [1.75, 2.75, 90.0, 1.25, 2.25, 3.25, 75.0, 4.25]
SETTLED = [120.0, 80.0, 1.5, 2.5, 3.5]  # older than an hour
DAY_SUM = sum(IN_LAST_HOUR) + 1.5 + 2.5 + 3.5  # the previous 24 hours
ANGLE = 2 * math.pi * 9 / 24

EXPECTED = {
    "amount": 250.0,
    "hour_sin": math.sin(ANGLE),
    "hour_cos": math.cos(ANGLE),
    "location_mismatch": 0.0,
    "no_history": 0.0,
    "seconds_since_previous": 30.0,
    "count_10m": 5.0,
    "count_1h": 8.0,
    "count_24h": 11.0,
    "count_7d": 12.0,
    "count_30d": 13.0,
    "amount_sum_1h": sum(IN_LAST_HOUR),
    "amount_sum_24h": sum(IN_LAST_HOUR) + 1.5 + 2.5 + 3.5,
    "amount_to_typical": 250.0 * len(SETTLED) / sum(SETTLED),
    "amount_to_max": 250.0 / 120.0,
    "amount_to_average_24h": 250.0 * 11 / DAY_SUM,
    "amount_to_average_7d": 250.0 * 12 / (DAY_SUM + 80.0),
    "average_7d_to_30d": ((DAY_SUM + 80.0) / 12) / ((DAY_SUM + 80.0 + 120.0) / 13),
    "new_device": 1.0,  # never on a tablet
    "new_merchant": 0.0,  # Shop A, 3 days ago
    "new_merchant_type": 1.0,  # never at a gas station
    "mismatch_count_24h": 10.0,
    "small_count_1h": 6.0,
    "small_count_24h": 9.0,
    "distinct_merchants_1h": 7.0,
    "distinct_devices_24h": 3.0,
    # Shop A: the others' 16 the day before, 20 plus alice's one in the 7 days, 3 more in the
    # 14, 25 plus alice's other one in the 30 days; of them, confirmed fraud by now: 15 the
    # day before, 1 plus alice's on day 17 in the 7 days, 1 more in the 14, alice's on day 5
    # in the 30.
    "merchant_count_1d": 16.0,
    "merchant_count_7d": 37.0,
    "merchant_count_14d": 40.0,
    "merchant_count_30d": 66.0,
    "merchant_frauds_1d": 15.0,
    "merchant_frauds_7d": 17.0,
    "merchant_frauds_14d": 18.0,
    "merchant_frauds_30d": 19.0,
    "merchant_fraud_share_1d": 15 / 16,
    "merchant_fraud_share_7d": 17 / 37,
    "merchant_fraud_share_14d": 18 / 40,
    "merchant_fraud_share_30d": 19 / 66,
    # Shop A's latest confirmed fraud known: the day before; its earliest: alice's, 15 days.
    "seconds_since_merchant_fraud": 86_400.0,
    "seconds_since_merchant_first_fraud": 15 * 86_400.0,
    # Before alice's day, Shop A's latest day of purchases: the others' 18 days before, over
    # at its midnight, 15 hours after that day's 09:00.
    "seconds_since_merchant_clean_day": 18 * 86_400.0 - 15 * 3_600.0,
    # Shop A's verdicts known in the last day: the 15 frauds the day before and 5 genuine
    # purchases of 18 days before; in the 7 days, also the frauds 5 and 3 days before.
    "merchant_verdicts_1d": 20.0,
    "merchant_verdicts_7d": 22.0,
    "merchant_verdict_fraud_share_1d": 15 / 20,
    "merchant_verdict_fraud_share_7d": 17 / 22,
    # Every purchase of alice's confirmed fraud, but the latest, whose label comes too late.
    "card_confirmed_frauds": 14.0,
    "seconds_since_card_fraud": 180.0,
    "seconds_since_card_first_fraud": 40 * 86_400.0,  # her purchases long ago
    "merchant_type": 4.0,  # gas
    "device_type": 2.0,  # tablet
}
FLAGS = {"location_mismatch", "no_history", "new_device", "new_merchant", "new_merchant_type"}


# Older than the history span, so no window counts them; only their labels speak.
LONG_AGO = [
    txn(50 + i, minutes=LAST - 40 * DAY_MINUTES, merchant=f"Shop {z}") for i, z in enumerate("YZ")
]


def alices() -> list[Transaction]:
    return [
        *LONG_AGO,
        *(
            txn(
                i,
                minutes=LAST - before,
                amount=amount,
                merchant=merchant,
                device_type=device,
                location_match=not away,
            )
            for i, (before, amount, merchant, device, away) in enumerate(EARLIER)
        ),
    ]


def others_at_shop_a() -> list[Transaction]:
    """Other card holders' purchases at Shop A: 16 the day before, 20 six days before, 25
    eighteen days before, 3 ten days before."""
    days = [1] * 16 + [5] * 20 + [18] * 25 + [10] * 3
    return [
        txn(200 + i, user_id=f"holder-{i}", minutes=LAST - back * DAY_MINUTES, merchant="Shop A")
        for i, back in enumerate(days)
    ]


def labels() -> list[LabelEvent]:
    others = others_at_shop_a()
    confirmed = [*others[:15], others[16], others[61], *alices()[:-1]]
    known = [LabelEvent.of(t, True, t.timestamp + timedelta(seconds=10)) for t in confirmed]
    late = [others[15], alices()[-1]]  # confirmed only after the purchase under test
    after = last_purchase().timestamp + timedelta(minutes=1)
    cleared = last_purchase().timestamp - timedelta(hours=12)
    genuine = [LabelEvent.of(t, False, cleared) for t in others[36:41]]
    return [*known, *(LabelEvent.of(t, True, after) for t in late), *genuine]


def earlier() -> list[Transaction]:
    return sorted([*alices(), *others_at_shop_a()], key=lambda t: t.timestamp)


def profiles() -> BehaviourProfiles:
    knowing = BehaviourProfiles()
    knowing.learn(labels())
    return knowing


def last_purchase() -> Transaction:
    return txn(
        99, minutes=LAST, amount=250.0, merchant="Shop A", merchant_type="gas", device_type="tablet"
    )


def test_the_history_gives_every_feature_but_the_flags_its_own_value() -> None:
    assert set(EXPECTED) == set(FEATURE_NAMES)
    values = [value for name, value in EXPECTED.items() if name not in FLAGS]
    assert len(set(values)) == len(values)
    assert not {0.0, 1.0} & set(values)


def test_each_value_lands_under_its_own_name_in_time_order() -> None:
    *_, vector = profiles().observe([*earlier(), last_purchase()])
    assert vector.as_dict() == pytest.approx(EXPECTED, rel=1e-12)


def test_each_value_lands_under_its_own_name_when_it_arrives_late() -> None:
    tomorrow = txn(100, minutes=LAST + DAY_MINUTES, merchant="Shop A")
    *_, vector = profiles().observe([*earlier(), tomorrow, last_purchase()])
    assert vector.as_dict() == pytest.approx(EXPECTED, rel=1e-12)
