"""Reasons ranked by the model's attribution: what moved the score, not what the rules find odd."""

from __future__ import annotations

import itertools
import math

import pytest

from fraud.domain.features import FEATURE_NAMES, FeatureVector
from fraud.domain.reasons import RULES, Reason, explain, rank, reads
from tests.factories import txn

CARD_TESTING = "5 purchases under 5 in the last 24 hours, in a row (card testing pattern)"
NEW_DEVICE = "first purchase from a desktop device for this user"
AWAY = "away from the card holder's location"

PURCHASE = txn(device_type="desktop", amount=2.0)


def features(**values: float) -> FeatureVector:
    """A user with a month's history, last seen a day ago, and ``values``."""
    values = {"count_30d": 12, "seconds_since_previous": 86_400, **values}
    return FeatureVector(tuple(values.get(name, 0.0) for name in FEATURE_NAMES))


def attributions(**values: float) -> list[float]:
    return [values.get(name, 0.0) for name in FEATURE_NAMES]


# Card testing is the stronger rule (2.2 against 0.9 for a new device).
TESTED_FROM_A_NEW_DEVICE = features(small_count_24h=5, new_device=1)


def test_the_rules_alone_put_the_strongest_fact_first() -> None:
    assert explain(PURCHASE, TESTED_FROM_A_NEW_DEVICE) == [CARD_TESTING, NEW_DEVICE]


def test_the_reason_the_model_leaned_on_comes_first_whatever_its_rule_strength() -> None:
    ranked = rank(
        PURCHASE, TESTED_FROM_A_NEW_DEVICE, attributions(new_device=2.0, small_count_24h=0.5)
    )
    assert [reason.text for reason in ranked] == [NEW_DEVICE, CARD_TESTING]


def test_a_reason_weighs_all_the_features_that_carry_its_fact() -> None:
    ranked = rank(
        PURCHASE,
        TESTED_FROM_A_NEW_DEVICE,
        attributions(new_device=0.4, device_type=0.4, small_count_24h=0.5, small_count_1h=0.2),
    )
    assert [reason.text for reason in ranked] == [NEW_DEVICE, CARD_TESTING]


def test_reasons_whose_features_lowered_the_score_are_dropped() -> None:
    ranked = rank(
        PURCHASE,
        TESTED_FROM_A_NEW_DEVICE,
        attributions(new_device=0.3, small_count_24h=-1.0, small_count_1h=0.2),
    )
    assert [reason.text for reason in ranked] == [NEW_DEVICE]


def test_a_share_is_the_reasons_part_of_every_rise_the_features_brought() -> None:
    ranked = rank(
        PURCHASE,
        TESTED_FROM_A_NEW_DEVICE,
        # hour_sin belongs to no reason: it keeps its part of the rise.
        attributions(new_device=2.0, device_type=1.0, hour_sin=1.0, small_count_24h=-0.5),
    )
    assert ranked == [Reason(NEW_DEVICE, 0.75)]


def test_shares_add_up_to_at_most_one() -> None:
    row = features(small_count_24h=5, new_device=1, location_mismatch=1, count_10m=4, count_30d=12)
    assert len(explain(PURCHASE, row)) == 4
    ranked = rank(
        PURCHASE,
        row,
        attributions(
            small_count_24h=0.7, new_device=0.9, location_mismatch=1.3, count_10m=0.2, count_1h=0.1
        ),
    )
    assert [reason.text for reason in ranked] == [
        AWAY,
        NEW_DEVICE,
        CARD_TESTING,
        "5 purchases in the last 10 minutes",
    ]
    assert all(0.0 < reason.share <= 1.0 for reason in ranked)
    assert math.isclose(sum(reason.share for reason in ranked), 1.0)


def test_without_a_positive_attribution_there_is_no_reason() -> None:
    assert rank(PURCHASE, TESTED_FROM_A_NEW_DEVICE, attributions()) == []
    lowered = attributions(new_device=-0.2, small_count_24h=-1.0, amount=-3.0)
    assert rank(PURCHASE, TESTED_FROM_A_NEW_DEVICE, lowered) == []


def test_equal_weights_fall_back_on_the_rules_strength() -> None:
    ranked = rank(
        PURCHASE, TESTED_FROM_A_NEW_DEVICE, attributions(new_device=0.5, small_count_24h=0.5)
    )
    assert [reason.text for reason in ranked] == [CARD_TESTING, NEW_DEVICE]
    assert [reason.share for reason in ranked] == [0.5, 0.5]


def test_a_feature_no_reason_reads_gives_no_reason() -> None:
    assert rank(PURCHASE, TESTED_FROM_A_NEW_DEVICE, attributions(hour_cos=4.0)) == []


def test_an_attribution_that_is_not_finite_counts_for_nothing() -> None:
    ranked = rank(
        PURCHASE, TESTED_FROM_A_NEW_DEVICE, attributions(new_device=1.0, hour_sin=math.nan)
    )
    assert ranked == [Reason(NEW_DEVICE, 1.0)]


def test_one_attribution_per_feature_is_needed() -> None:
    with pytest.raises(ValueError, match="one attribution per feature"):
        rank(PURCHASE, TESTED_FROM_A_NEW_DEVICE, [1.0, 2.0])


def test_a_rule_reading_a_feature_the_model_lacks_fails_when_declared() -> None:
    with pytest.raises(ValueError, match="unknown features"):
        reads("amount", "shoe_size")(lambda transaction, vector: None)


# A purchase with history (a high amount) and a first purchase cannot be one purchase.
NEVER_TOGETHER = {frozenset({"_high_amount", "_big_first_purchase"})}


def test_rules_that_can_apply_together_read_no_feature_in_common() -> None:
    """Else one feature's rise would count in two reasons and the shares could pass one."""
    for first, second in itertools.combinations(RULES, 2):
        names = frozenset({first.find.__name__, second.find.__name__})
        if names not in NEVER_TOGETHER:
            assert not set(first.reads) & set(second.reads), names
