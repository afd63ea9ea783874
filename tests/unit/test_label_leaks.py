"""No label leaks: a label counts for a transaction only once it is known.

Every feature the table marks as read from labels is checked, on both ways of
computing features (replay, and profiles that learnt the labels before a late
transaction arrived): the labels below, known a second before the purchase under
test, move every one of them, so each is shown to be exercised; the same labels
known a second after it leave that purchase's whole feature vector as it is
without any label.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from fraud.domain.features import FEATURE_NAMES, LABEL_FEATURES, BehaviourProfiles, replay
from fraud.domain.label_risk import LabelEvent
from fraud.domain.transaction import Transaction
from tests.factories import txn

DAY_MINUTES = 24 * 60
NOW = 40 * DAY_MINUTES  # the purchase under test, at the merchant of every earlier one


def frauds() -> list[Transaction]:
    """Purchases at one merchant: other cards' 25, 6 and 1 day before; the card's own 12 and
    3 days before; every one of them later confirmed fraud."""
    others = [
        txn(i, user_id=f"holder-{i}", minutes=NOW - back * DAY_MINUTES)
        for i, back in enumerate([25, 25, 6, 1, 1])
    ]
    own = [txn(10 + i, minutes=NOW - back * DAY_MINUTES) for i, back in enumerate([12, 3])]
    return [*others, *own]


def earlier() -> list[Transaction]:
    """The frauds, and another card's genuine purchase at the merchant 28 days before: the
    day before its frauds began."""
    genuine = txn(20, user_id="holder-20", minutes=NOW - 28 * DAY_MINUTES)
    return sorted([*frauds(), genuine], key=lambda t: t.timestamp)


def purchase() -> Transaction:
    return txn(99, minutes=NOW)


def confirmed(known_at: timedelta) -> list[LabelEvent]:
    """Every fraud confirmed, known ``known_at`` after the purchase under test (negative:
    before it)."""
    at = purchase().timestamp + known_at
    return [LabelEvent.of(t, True, at) for t in frauds()]


def by_replay(labels: list[LabelEvent]) -> dict[str, float]:
    return replay([*earlier(), purchase()], labels)[-1].as_dict()


def arriving_late(labels: list[LabelEvent]) -> dict[str, float]:
    """The stream's way: the labels learnt first, then a transaction dated before them."""
    profiles = BehaviourProfiles()
    profiles.observe(earlier())
    profiles.observe([txn(98, user_id="holder-9", minutes=NOW + DAY_MINUTES)])
    profiles.learn(labels)
    (vector,) = profiles.observe([purchase()])
    return vector.as_dict()


COMPUTED = [pytest.param(by_replay, id="replay"), pytest.param(arriving_late, id="stream")]


def test_the_table_names_the_features_read_from_labels() -> None:
    assert set(LABEL_FEATURES) < set(FEATURE_NAMES)
    assert {"merchant_frauds_7d", "seconds_since_merchant_first_fraud"} <= set(LABEL_FEATURES)
    assert "seconds_since_merchant_clean_day" in LABEL_FEATURES
    assert {"card_confirmed_frauds", "seconds_since_card_first_fraud"} <= set(LABEL_FEATURES)


@pytest.mark.parametrize("features", COMPUTED)
def test_labels_known_before_a_purchase_move_exactly_the_label_features(features) -> None:
    unknowing = features([])
    knowing = features(confirmed(-timedelta(seconds=1)))
    moved = {name for name in FEATURE_NAMES if knowing[name] != unknowing[name]}
    assert moved == set(LABEL_FEATURES)


@pytest.mark.parametrize("features", COMPUTED)
@pytest.mark.parametrize("after", [timedelta(seconds=1), timedelta(days=1)], ids=["1s", "1d"])
def test_labels_known_after_a_purchase_change_none_of_its_features(features, after) -> None:
    unknowing = features([])
    knowing_later = features(confirmed(after))
    for name in LABEL_FEATURES:
        assert knowing_later[name] == unknowing[name], name
    assert knowing_later == unknowing
