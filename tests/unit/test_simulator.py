"""The simulator: reproducible, exact, and realistic enough that fraud needs behaviour to find."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from fraud.adapters.simulation.simulator import DEFAULT_START, simulate
from fraud.domain.evaluation import average_precision, roc_auc
from fraud.domain.features import FEATURE_NAMES, FeatureVector, replay
from fraud.domain.model import LabelledTransaction
from fraud.domain.transaction import KNOWN_DEVICE_TYPES, KNOWN_MERCHANT_TYPES, Transaction

SAMPLES = 20_000


@pytest.fixture(scope="module")
def rows() -> list[LabelledTransaction]:
    return simulate(SAMPLES)


@pytest.fixture(scope="module")
def features(rows: list[LabelledTransaction]) -> list[FeatureVector]:
    return replay([row.transaction for row in rows])


def incidents(rows: list[LabelledTransaction]) -> list[list[Transaction]]:
    """Fraud grouped by victim, split where more than 6 hours pass between two frauds."""
    by_user: dict[str, list[Transaction]] = defaultdict(list)
    for row in rows:
        if row.is_fraud:
            by_user[row.transaction.user_id].append(row.transaction)
    found = []
    for frauds in by_user.values():
        current = [frauds[0]]
        for txn in frauds[1:]:
            if txn.timestamp - current[-1].timestamp > timedelta(hours=6):
                found.append(current)
                current = []
            current.append(txn)
        found.append(current)
    return found


def span(incident: list[Transaction]) -> timedelta:
    return incident[-1].timestamp - incident[0].timestamp


def test_same_seed_gives_the_same_rows_and_another_seed_different_ones() -> None:
    first = simulate(2_000, seed=3)
    assert simulate(2_000, seed=3) == first
    other = simulate(2_000, seed=4)
    assert [row.transaction.amount for row in other] != [row.transaction.amount for row in first]


@pytest.mark.parametrize("samples", [0, 1, 7, 999, 5_000])
def test_returns_exactly_the_requested_number_of_rows(samples: int) -> None:
    assert len(simulate(samples)) == samples


def test_exact_count_sorted_utc_within_the_period(rows: list[LabelledTransaction]) -> None:
    assert len(rows) == SAMPLES
    stamps = [row.transaction.timestamp for row in rows]
    assert stamps == sorted(stamps)
    assert all(stamp.tzinfo is not None and stamp.utcoffset() == timedelta(0) for stamp in stamps)
    assert stamps[0] >= DEFAULT_START
    assert stamps[-1] < DEFAULT_START + timedelta(days=90)


def test_ids_follow_the_seed_and_the_order(rows: list[LabelledTransaction]) -> None:
    ids = [row.transaction.transaction_id for row in rows]
    assert ids[0] == "sim-7-00000000"
    assert ids[-1] == f"sim-7-{SAMPLES - 1:08d}"
    assert len(set(ids)) == SAMPLES


def test_start_and_days_set_the_period() -> None:
    start = datetime(2024, 6, 1, 12, tzinfo=UTC)
    rows = simulate(1_000, start=start, days=10)
    assert all(start <= row.transaction.timestamp < start + timedelta(days=10) for row in rows)


@pytest.mark.parametrize(
    "arguments",
    [
        {"samples": -1},
        {"samples": 10, "fraud_rate": 1.0},
        {"samples": 10, "fraud_rate": -0.1},
        {"samples": 10, "days": 0},
        {"samples": 10, "start": datetime(2025, 1, 1)},
    ],
)
def test_rejects_impossible_arguments(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        simulate(**arguments)  # type: ignore[arg-type]


def test_every_row_honours_the_transaction_contract(rows: list[LabelledTransaction]) -> None:
    for row in rows[::50]:
        assert Transaction.parse(row.transaction.to_dict()) == row.transaction


@pytest.mark.parametrize("fraud_rate", [0.005, 0.02])
def test_fraud_fraction_follows_the_configured_rate(fraud_rate: float) -> None:
    rows = simulate(SAMPLES, fraud_rate=fraud_rate, seed=11)
    fraction = sum(row.is_fraud for row in rows) / len(rows)
    assert fraction == pytest.approx(fraud_rate, rel=0.05)


def test_users_have_a_history(rows: list[LabelledTransaction]) -> None:
    per_user: dict[str, int] = defaultdict(int)
    for row in rows:
        per_user[row.transaction.user_id] += 1
    counts = sorted(per_user.values())
    assert len(counts) > 100
    assert counts[len(counts) // 2] >= 15
    assert counts[-1] > 5 * counts[len(counts) // 2]  # some people pay far more often


def test_victims_keep_transacting_around_the_fraud(rows: list[LabelledTransaction]) -> None:
    victims = {row.transaction.user_id for row in rows if row.is_fraud}
    legitimate_users = {row.transaction.user_id for row in rows if not row.is_fraud}
    assert victims <= legitimate_users


def test_account_takeover_bursts_online_from_one_device(rows: list[LabelledTransaction]) -> None:
    takeovers = [
        incident
        for incident in incidents(rows)
        if len(incident) >= 3
        and span(incident) <= timedelta(minutes=31)
        and len({txn.device_type for txn in incident}) == 1
        and incident[0].device_type != "pos"
        and all(txn.amount >= 3 for txn in incident)
    ]
    assert takeovers
    legit_devices: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if not row.is_fraud:
            legit_devices[row.transaction.user_id].add(row.transaction.device_type)
    assert any(burst[0].device_type not in legit_devices[burst[0].user_id] for burst in takeovers)


def test_card_testing_tiny_amounts_then_a_cash_out(rows: list[LabelledTransaction]) -> None:
    def is_card_testing(incident: list[Transaction]) -> bool:
        tiny = [txn for txn in incident if txn.amount < 3]
        return (
            len(tiny) >= 3
            and span(tiny) <= timedelta(minutes=21)
            and all(txn.merchant_type == "online" for txn in tiny)
            and incident[-1].amount > 100
        )

    assert any(is_card_testing(incident) for incident in incidents(rows))


def test_cloned_card_in_shops_away_from_home(rows: list[LabelledTransaction]) -> None:
    assert any(
        len(incident) >= 2
        and all(txn.device_type == "pos" and not txn.location_match for txn in incident)
        for incident in incidents(rows)
    )


def test_a_quiet_single_purchase_on_the_usual_device(rows: list[LabelledTransaction]) -> None:
    assert any(
        len(incident) == 1 and incident[0].location_match and incident[0].device_type != "pos"
        for incident in incidents(rows)
    )


def test_a_compromised_merchant_takes_many_cards_within_weeks(
    rows: list[LabelledTransaction],
) -> None:
    by_merchant: dict[str, list[Transaction]] = defaultdict(list)
    for row in rows:
        if row.is_fraud:
            by_merchant[row.transaction.merchant].append(row.transaction)
    compromised = [
        frauds
        for frauds in by_merchant.values()
        if len(frauds) >= 5
        and len({t.user_id for t in frauds}) >= 2
        and span(frauds) <= timedelta(days=21)
    ]
    assert compromised
    # Its copied cards are spent like the owners' own: at home, on the usual device.
    assert any(all(t.location_match for t in frauds) for frauds in compromised)


def test_a_card_is_used_again_days_after_its_first_fraud(rows: list[LabelledTransaction]) -> None:
    by_user: dict[str, list[Transaction]] = defaultdict(list)
    for row in rows:
        if row.is_fraud:
            by_user[row.transaction.user_id].append(row.transaction)
    assert any(
        later.timestamp - earlier.timestamp >= timedelta(days=2)
        for frauds in by_user.values()
        for earlier, later in pairwise(frauds)
    )


def first_purchases(rows: list[LabelledTransaction]) -> list[LabelledTransaction]:
    """Each card's first transaction, of the cards first seen after the period's first week
    (new cards, not ones the period happens to start with)."""
    first: dict[str, LabelledTransaction] = {}
    for row in rows:
        first.setdefault(row.transaction.user_id, row)
    new_after = DEFAULT_START + timedelta(days=7)
    return [row for row in first.values() if row.transaction.timestamp > new_after]


def test_a_card_that_never_reached_its_holder_is_spent_before_the_holder_uses_it(
    rows: list[LabelledTransaction],
) -> None:
    stolen = [row.transaction for row in first_purchases(rows) if row.is_fraud]
    assert stolen
    # Spent on resellable goods, mostly away from the holder.
    assert all(txn.amount >= 800 for txn in stolen)
    assert sum(not txn.location_match for txn in stolen) > len(stolen) / 2
    # The holder's own purchases follow.
    victims = {txn.user_id for txn in stolen}
    assert victims <= {row.transaction.user_id for row in rows if not row.is_fraud}


def test_new_cards_also_start_with_a_big_purchase_online_sometimes_from_elsewhere(
    rows: list[LabelledTransaction],
) -> None:
    """What a stolen new card looks like is what some holders do too, so no first purchase
    is fraud for being big, online or away."""
    honest = [row.transaction for row in first_purchases(rows) if not row.is_fraud]
    big_online = [txn for txn in honest if txn.amount >= 800 and txn.device_type != "pos"]
    assert big_online
    assert any(not txn.location_match for txn in big_online)


def test_unknown_categories_occur(rows: list[LabelledTransaction]) -> None:
    merchant_types = [row.transaction.merchant_type for row in rows]
    unknown = sum(t not in KNOWN_MERCHANT_TYPES for t in merchant_types) / len(rows)
    assert 0.003 < unknown < 0.03
    assert any(row.transaction.device_type not in KNOWN_DEVICE_TYPES for row in rows)


def test_mostly_usd(rows: list[LabelledTransaction]) -> None:
    usd = sum(row.transaction.currency == "USD" for row in rows) / len(rows)
    assert 0.8 < usd < 1.0


@pytest.mark.parametrize(
    "feature", ["location_mismatch", "new_device", "new_merchant", "new_merchant_type"]
)
def test_legitimate_customers_also_raise_each_fraud_flag(
    rows: list[LabelledTransaction], features: list[FeatureVector], feature: str
) -> None:
    raised_by_legit = sum(
        1 for row, f in zip(rows, features, strict=True) if f[feature] and not row.is_fraud
    )
    raised_by_fraud = sum(
        1 for row, f in zip(rows, features, strict=True) if f[feature] and row.is_fraud
    )
    assert raised_by_legit > raised_by_fraud


def test_no_single_feature_separates_fraud(
    rows: list[LabelledTransaction], features: list[FeatureVector]
) -> None:
    """Flagging on any one feature alone catches fraud only at the cost of many false alarms."""
    labels = [row.is_fraud for row in rows]
    for name in FEATURE_NAMES:
        values = [f[name] for f in features]
        for scores in (values, [-v for v in values]):
            assert roc_auc(labels, scores) < 0.95, name
            assert average_precision(labels, scores) < 0.3, name


def test_progress_is_reported_up_to_every_sample() -> None:
    done: list[int] = []
    simulate(500, fraud_rate=0.02, progress=done.append)
    assert sum(done) == 500 and len(done) > 2
