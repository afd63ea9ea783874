from __future__ import annotations

import math

import pytest

from fraud.domain.features import (
    CLOCK_QUORUM,
    FEATURE_NAMES,
    NOVELTY_SPAN,
    BehaviourProfiles,
    FeatureVector,
    replay,
)
from fraud.domain.label_risk import LabelRisk
from tests.factories import txn


def observe(*transactions):
    return BehaviourProfiles().observe(transactions)


def test_the_fifth_purchase_of_a_burst_sees_four_in_its_last_hour() -> None:
    vectors = observe(*(txn(i, minutes=2 * i) for i in range(5)))
    fifth = vectors[-1]
    assert fifth["count_10m"] == 4
    assert fifth["count_1h"] == 4
    assert fifth["seconds_since_previous"] == pytest.approx(120.0)


def test_a_first_transaction_has_no_history() -> None:
    (first,) = observe(txn(0, amount=99.0))
    assert first["no_history"] == 1.0
    assert first["count_30d"] == 0.0
    assert first["amount_to_typical"] == 1.0
    assert first["new_device"] == first["new_merchant"] == 0.0


def test_amount_is_compared_with_the_users_typical_amount() -> None:
    history = [txn(i, minutes=60 * 24 * i, amount=a) for i, a in enumerate([40.0, 60.0, 50.0])]
    *_, big = observe(*history, txn(9, minutes=60 * 24 * 4, amount=500.0))
    assert big["amount_to_typical"] == pytest.approx(10.0)
    assert big["amount_to_max"] == pytest.approx(500.0 / 60.0)


def test_windows_forget_what_is_older_than_them() -> None:
    *_, later = observe(txn(0, minutes=0), txn(1, minutes=61), txn(2, minutes=60 * 25))
    assert later["count_1h"] == 0
    assert later["count_24h"] == 1
    assert later["count_7d"] == 2


def test_novelty_of_device_merchant_and_merchant_type() -> None:
    vectors = observe(
        txn(0),
        txn(1, minutes=5, device_type="desktop", merchant="Gadget Hub", merchant_type="online"),
        txn(2, minutes=10, device_type="desktop", merchant="Gadget Hub", merchant_type="online"),
    )
    assert (
        vectors[1]["new_device"],
        vectors[1]["new_merchant"],
        vectors[1]["new_merchant_type"],
    ) == (
        1.0,
        1.0,
        1.0,
    )
    assert (
        vectors[2]["new_device"],
        vectors[2]["new_merchant"],
        vectors[2]["new_merchant_type"],
    ) == (
        0.0,
        0.0,
        0.0,
    )


def test_card_testing_shows_as_small_amounts_and_many_merchants() -> None:
    tests = [txn(i, minutes=i, amount=1.5, merchant=f"Shop {i}") for i in range(4)]
    *_, cash_out = observe(*tests, txn(9, minutes=6, amount=900.0, merchant="Gadget Hub"))
    assert cash_out["small_count_1h"] == 4
    assert cash_out["small_count_24h"] == 4
    assert cash_out["distinct_merchants_1h"] == 4


def test_location_mismatches_are_counted_over_a_day() -> None:
    away = [txn(i, minutes=30 * i, location_match=0) for i in range(3)]
    *_, last = observe(*away, txn(9, minutes=120, location_match=0))
    assert last["location_mismatch"] == 1.0
    assert last["mismatch_count_24h"] == 3


def test_one_users_history_never_leaks_into_anothers() -> None:
    _, bob = observe(txn(0), txn(1, minutes=1, user_id="bob"))
    assert bob["no_history"] == 1.0


def test_a_redelivered_transaction_is_not_counted_twice() -> None:
    profiles = BehaviourProfiles()
    first = profiles.observe([txn(0), txn(1, minutes=1)])
    again = profiles.observe([txn(1, minutes=1)])
    assert again == [first[1]]
    (third,) = profiles.observe([txn(2, minutes=2)])
    assert third["count_10m"] == 2


def test_a_late_arrival_does_not_see_transactions_that_happened_after_it() -> None:
    _, late = observe(txn(0, minutes=30), txn(1, minutes=0))
    assert late["count_1h"] == 0


def busy_user(first_minute: float, user_id: str = "bob", start: int = 1000) -> list:
    """Enough of one user's purchases, a minute apart, to move the event-time clock (at a
    merchant of their own, so that no one else's merchant figures move)."""
    return [
        txn(start + i, user_id=user_id, minutes=first_minute + i, merchant=f"{user_id}'s shop")
        for i in range(CLOCK_QUORUM)
    ]


def test_idle_users_are_forgotten_by_event_time_so_state_stays_bounded() -> None:
    profiles = BehaviourProfiles()
    profiles.observe([txn(0), *busy_user(NOVELTY_SPAN / 60 + 60)])
    assert len(profiles) == 2
    assert profiles.expire() == 1  # alice was idle longer than anything is remembered
    assert len(profiles) == 1


def test_one_transaction_dated_far_ahead_cannot_make_everyone_forgotten() -> None:
    profiles = BehaviourProfiles()
    profiles.observe(busy_user(0, user_id="alice"))
    profiles.observe([txn(1, user_id="mallory", minutes=60 * 24 * 365 * 100)])
    assert profiles.expire() == 0
    assert len(profiles) == 2


def test_forgetting_idle_users_changes_no_feature() -> None:
    history = [txn(i, minutes=60 * 24 * i, device_type="desktop") for i in range(3)]
    comeback = txn(9, minutes=60 * 24 * 100, device_type="mobile")
    later = txn(10, minutes=60 * 24 * 100 + 5, device_type="desktop")
    kept = BehaviourProfiles().observe([*history, comeback, later])
    expiring = BehaviourProfiles()
    expiring.observe(history)
    expiring.observe(busy_user(60 * 24 * 99))
    assert expiring.expire() == 1
    assert expiring.observe([comeback, later]) == kept[-2:]


def test_a_clear_forgets_everything() -> None:
    profiles = BehaviourProfiles()
    profiles.observe([txn(0)])
    profiles.clear()
    (again,) = profiles.observe([txn(0)])
    assert len(profiles) == 1 and again["no_history"] == 1.0


def test_time_of_day_is_cyclic() -> None:
    (morning,) = observe(txn(0))  # 09:00 UTC
    angle = 2 * math.pi * 9 / 24
    assert morning["hour_sin"] == pytest.approx(math.sin(angle))
    assert morning["hour_cos"] == pytest.approx(math.cos(angle))


def test_replay_sorts_by_time_but_answers_in_input_order() -> None:
    shuffled = [txn(2, minutes=20), txn(0, minutes=0), txn(1, minutes=10)]
    vectors = replay(shuffled)
    assert [v["count_1h"] for v in vectors] == [2, 0, 1]


def test_vectors_round_trip_through_a_dict() -> None:
    (vector,) = observe(txn(0))
    assert FeatureVector.from_dict(vector.as_dict()) == vector
    assert list(vector.as_dict()) == list(FEATURE_NAMES)


def assert_incremental_equals_a_scan(transactions: list) -> list[FeatureVector]:
    """The stream's features of one user's transactions equal, one by one, those a full scan
    of the history gives (with each transaction then slotted in as a late arrival would be)."""
    from fraud.domain.features import UserHistory

    fast = BehaviourProfiles().observe(transactions)
    reference, merchants = UserHistory(), LabelRisk()
    for transaction, vector in zip(transactions, fast, strict=True):
        at = transaction.timestamp.timestamp()
        risk = merchants.figures(transaction.user_id, transaction.merchant, at)
        expected = reference._features_by_scan(transaction, at, risk)
        reference._remember_late(transaction, at)
        merchants.count(transaction.merchant, at)
        assert vector.values == pytest.approx(expected.values, rel=1e-9, abs=1e-9)
    return fast


def test_incremental_windows_match_a_full_scan_even_with_late_arrivals() -> None:
    import random

    rng = random.Random(5)
    minutes = 0.0
    transactions = []
    for i in range(600):
        minutes += rng.choice([0.5, 3, 20, 90, 60 * 7, 60 * 24 * 3])
        late = rng.random() < 0.05
        transactions.append(
            txn(
                i,
                minutes=minutes - (rng.uniform(1, 120) if late else 0.0),
                amount=rng.choice([1.5, 12.0, 40.0, 400.0, 2_500.0]),
                merchant=f"Shop {rng.randrange(8)}",
                device_type=rng.choice(["mobile", "desktop", "pos"]),
                location_match=rng.random() < 0.8,
            )
        )
    assert_incremental_equals_a_scan(transactions)


def test_spend_devices_and_categories_are_counted_over_their_windows() -> None:
    *_, last = observe(
        txn(0, minutes=0, amount=100.0, device_type="desktop"),
        txn(1, minutes=30, amount=50.0),
        txn(2, minutes=60 * 5, amount=20.0, device_type="tablet"),
        txn(3, minutes=60 * 5 + 10, amount=7.0, merchant_type="crypto", device_type="watch"),
    )
    assert last["amount_sum_1h"] == 20.0
    assert last["amount_sum_24h"] == 170.0
    assert last["distinct_devices_24h"] == 3  # desktop, mobile, tablet
    assert last["count_30d"] == 3
    assert last["merchant_type"] == 7.0  # "other": crypto is not a known type
    assert last["device_type"] == 4.0  # "other"
    assert last["location_mismatch"] == 0.0


@pytest.mark.slow  # thousands of purchases, each scanned again
def test_a_card_over_the_event_cap_keeps_its_windows_equal_to_a_scan_of_what_it_keeps() -> None:
    """More purchases in a day than a history keeps: the oldest leave every window they are
    in, and the columns are cut as they go, with the same figures as a scan."""
    from fraud.domain.windows import MAX_EVENTS_PER_USER

    transactions = [
        txn(
            i,
            minutes=i * 0.5,
            amount=[2.0, 30.0, 700.0][i % 3],
            merchant=f"Shop {i % 7}",
            device_type=["mobile", "desktop", "pos", "kiosk"][i % 4],
            location_match=i % 5 != 0,
        )
        for i in range(MAX_EVENTS_PER_USER + 400)
    ]
    fast = assert_incremental_equals_a_scan(transactions)
    assert fast[-1].as_dict()["count_24h"] == MAX_EVENTS_PER_USER


@pytest.mark.slow  # measures two thousand users' state
def test_a_users_state_is_kept_small() -> None:
    """What a worker holds per card holder bounds how many it can serve: kept in columns, a
    user with ten purchases costs under 3 KB (an object per purchase cost over 8)."""
    from fraud.bench.users import state_per_user

    assert state_per_user(2_000, 10) < 3_000
