from __future__ import annotations

from datetime import timedelta

import pytest

from fraud.application.stream.score import assess
from fraud.domain.assessment import Decision
from fraud.domain.features import BehaviourProfiles
from fraud.domain.label_risk import LabelEvent
from fraud.domain.policy import NOTHING_RAISED, NOTHING_STOOD_OUT, ScoringPolicy, Thresholds
from tests.factories import T0, txn
from tests.fakes import FixedClock, RuleModel


@pytest.mark.parametrize(
    ("score", "decision"),
    [
        (0.0, Decision.APPROVE),
        (0.49, Decision.APPROVE),
        (0.5, Decision.REVIEW),
        (0.89, Decision.REVIEW),
        (0.9, Decision.DECLINE),
        (1.0, Decision.DECLINE),
    ],
)
def test_thresholds_split_approve_review_decline(score: float, decision: Decision) -> None:
    assert ScoringPolicy(Thresholds(review=0.5, decline=0.9)).decide(score) is decision


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="review <= decline"):
        Thresholds(review=0.9, decline=0.5)


def test_reasons_name_what_stands_out_strongest_first_and_at_most_three() -> None:
    history = [txn(i, minutes=60 * 24 * i, amount=40.0) for i in range(5)]
    burst = [
        txn(
            10 + i,
            minutes=60 * 24 * 6 + i,
            amount=800.0,
            device_type="desktop",
            merchant=f"Gadgets {i}",
            merchant_type="online",
            location_match=0,
        )
        for i in range(4)
    ]
    transactions = [*history, *burst]
    vectors = BehaviourProfiles().observe(transactions)
    decision, reasons = ScoringPolicy().assess(0.95, transactions[-1], vectors[-1])
    assert decision is Decision.DECLINE
    assert len(reasons) == 3
    assert reasons[0] == "amount is 20.0x this user's typical amount"
    assert "4 purchases in the last 10 minutes" in reasons


def test_a_flagged_transaction_without_behavioural_reason_still_says_why() -> None:
    history = [txn(i, minutes=60 * 24 * i) for i in range(3)]
    vectors = BehaviourProfiles().observe(history)
    decision, reasons = ScoringPolicy().assess(0.7, history[-1], vectors[-1])
    assert decision is Decision.REVIEW
    assert reasons == ("model score 0.70 is at or above the review threshold 0.50",)


def test_an_ordinary_purchase_is_approved_saying_nothing_stood_out() -> None:
    history = [txn(i, minutes=60 * 24 * i) for i in range(3)]
    vectors = BehaviourProfiles().observe(history)
    assert ScoringPolicy().assess(0.01, history[-1], vectors[-1]) == (
        Decision.APPROVE,
        (NOTHING_STOOD_OUT,),
    )


def test_an_approval_whose_features_raised_the_risk_a_little_says_nothing_stood_out() -> None:
    """No reason applies, yet the features together raised the risk a little (here, a
    larger amount than the model's typical one): the approval still says why, never nothing."""
    history = [txn(i, minutes=60 * 24 * i, amount=60.0) for i in range(5)]
    usual = txn(9, minutes=60 * 24 * 6, amount=70.0)
    verdict = _explained(RuleModel(), [*history, usual])
    assert verdict.decision is Decision.APPROVE
    assert verdict.reasons == (NOTHING_STOOD_OUT,)
    assert verdict.explanation == ()


def test_reasons_name_a_merchant_whose_fraud_is_confirmed_and_a_card_confirmed_stolen() -> None:
    day = 60 * 24
    earlier = [
        txn(i, user_id=f"holder-{i}", minutes=-3 * day + i, merchant="t1234") for i in range(50)
    ]
    profiles = BehaviourProfiles()
    confirmed = [*earlier[:4], earlier[10]]
    known = T0 - timedelta(days=1)  # a day before the purchase under test
    profiles.learn(LabelEvent.of(t, True, known) for t in confirmed)
    stolen = txn(99, user_id="holder-10", merchant="t1234")
    *_, vector = profiles.observe([*earlier, stolen])
    _, reasons = ScoringPolicy().assess(0.95, stolen, vector)
    assert reasons[:2] == (
        "this card has 1 purchase confirmed fraud, the latest 3 days ago",
        "merchant t1234: 5 confirmed frauds among its 50 transactions in the 7 days to 30 Nov",
    )


# --- reasons chosen by the model's own attribution --------------------------------------------


def _explained(model, transactions):
    """The last transaction's verdict through the scoring path: decision, reasons, shares."""
    vectors = BehaviourProfiles().observe(transactions)
    (record,) = assess([transactions[-1]], [vectors[-1]], model, ScoringPolicy(), FixedClock())
    return record.assessment


def test_the_feature_that_drives_the_score_gives_the_first_reason() -> None:
    """Away from home and on a new device: the rule-strength order puts the device first,
    but only being away moved this model's score, so its reason leads, alone."""
    history = [txn(i, minutes=60 * 24 * i) for i in range(5)]
    away = txn(9, minutes=60 * 24 * 6, location_match=0, device_type="desktop")
    vectors = BehaviourProfiles().observe([*history, away])
    _, by_strength = ScoringPolicy().assess(0.9, away, vectors[-1])
    assert by_strength[0] == "first purchase from a desktop device for this user"

    verdict = _explained(RuleModel(), [*history, away])
    assert verdict.reasons[0] == "away from the card holder's location"
    assert "first purchase from a desktop device for this user" not in verdict.reasons
    assert verdict.explanation[0].text == verdict.reasons[0]
    assert verdict.explanation[0].share == pytest.approx(1.0)


def test_an_approval_whose_features_lower_the_risk_carries_no_risk_reason() -> None:
    """A small purchase at home, on a new device and at a new merchant: facts a rule finds
    notable, which this model weighed against fraud."""
    history = [txn(i, minutes=60 * 24 * i, amount=60.0) for i in range(5)]
    small = txn(9, minutes=60 * 24 * 6, amount=12.0, device_type="desktop", merchant="Kiosk")
    verdict = _explained(RuleModel(), [*history, small])
    assert verdict.decision is Decision.APPROVE
    assert verdict.reasons == (NOTHING_RAISED,)
    assert verdict.explanation == ()


def test_a_model_that_cannot_attribute_keeps_the_reasons_rules_find() -> None:
    history = [txn(i, minutes=60 * 24 * i) for i in range(5)]
    away = txn(9, minutes=60 * 24 * 6, location_match=0, device_type="desktop")
    verdict = _explained(RuleModel(attributing=False), [*history, away])
    assert verdict.reasons[0] == "first purchase from a desktop device for this user"
    assert verdict.explanation == ()


def test_reasons_name_a_merchant_or_device_type_outside_the_known_ones_by_its_own_name() -> None:
    """The features group unknown types as "other"; a reason says what the client sent."""
    history = [txn(i, minutes=60 * 24 * i) for i in range(5)]
    bet = txn(9, minutes=60 * 24 * 6, merchant_type="gambling", device_type="smartwatch")
    vectors = BehaviourProfiles().observe([*history, bet])
    _, reasons = ScoringPolicy().assess(0.9, bet, vectors[-1])
    assert "first gambling purchase for this user" in reasons
    assert "first purchase from a smartwatch device for this user" in reasons
