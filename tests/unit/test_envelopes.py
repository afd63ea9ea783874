"""The internal topics' envelopes carry the stage timestamps intact, batch after batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from fraud.application.stream.envelopes import MalformedMessage, SharedInstants
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.features import BehaviourProfiles
from fraud.domain.label_risk import LabelEvent
from fraud.domain.ports import OutgoingMessage, Topic
from tests.factories import ENVELOPES, consumed, txn

T0 = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)


def test_shared_instants_follow_the_value_when_it_changes() -> None:
    shared = SharedInstants()
    later = T0 + timedelta(milliseconds=5)
    assert shared.format(T0) == "2026-03-01T09:30:00.123456Z"
    assert shared.format(T0) == "2026-03-01T09:30:00.123456Z"
    assert shared.format(later) == "2026-03-01T09:30:00.128456Z"
    assert shared.parse("2026-03-01T09:30:00.123456Z") == T0
    assert shared.parse("2026-03-01T09:30:00.128456Z") == later
    assert shared.parse("2026-03-01T09:30:00.123456Z") == T0
    assert shared.parse_optional(None) is None and shared.format_optional(None) is None


def test_every_stage_timestamp_survives_both_internal_topics() -> None:
    transaction = txn(1)
    (features,) = BehaviourProfiles().observe([transaction])
    for batch, preprocessed_at in enumerate([T0, T0 + timedelta(seconds=1)]):
        message = ENVELOPES.preprocessed_message(
            transaction, T0 - timedelta(milliseconds=2), features, preprocessed_at
        )
        read = ENVELOPES.read_preprocessed(consumed(message, Topic.PREPROCESSED))
        assert read.preprocessed_at == preprocessed_at, f"batch {batch}"
        assert read.received_at == T0 - timedelta(milliseconds=2)

        scored_at = preprocessed_at + timedelta(milliseconds=3)
        record = TransactionRecord(
            transaction=transaction,
            received_at=read.received_at,
            status=Status.SCORED,
            assessment=Assessment(
                transaction.transaction_id, 0.2, Decision.REVIEW, ("why",), "m1", scored_at
            ),
            features=features.as_dict(),
            preprocessed_at=read.preprocessed_at,
        )
        recorded_at = scored_at + timedelta(milliseconds=1)
        result = ENVELOPES.read_result(
            consumed(ENVELOPES.result_message(record), Topic.RESULTS), recorded_at=recorded_at
        )
        assert result.preprocessed_at == preprocessed_at
        assert result.assessment is not None and result.assessment.scored_at == scored_at
        assert result.recorded_at == recorded_at


def test_a_label_event_goes_where_its_cards_transactions_go_and_reads_back_whole() -> None:
    purchase = txn(3, user_id="card-7")
    label = LabelEvent.of(purchase, True, purchase.timestamp + timedelta(days=9))
    message = ENVELOPES.label_message(label)
    assert message.key == ENVELOPES.transaction_message(purchase, purchase.timestamp).key
    assert ENVELOPES.read_label(consumed(message, Topic.LABELS)) == label


def test_a_label_event_missing_a_field_is_refused_by_name() -> None:
    broken = OutgoingMessage("card-7", b'{"transaction_id": "t3", "is_fraud": "yes"}')
    with pytest.raises(MalformedMessage, match="is_fraud must be true or false"):
        ENVELOPES.read_label(consumed(broken, Topic.LABELS))


def test_an_internal_envelope_is_read_back_whole_and_a_broken_one_is_refused() -> None:
    """The internal topics are trusted to carry what the edge validated (the rules are not
    checked again), but a field missing or of the wrong type is still a malformed message."""
    transaction = txn(1, amount=1250.0, currency="JPY", location_match=False)
    (features,) = BehaviourProfiles().observe([transaction])
    message = ENVELOPES.preprocessed_message(transaction, T0, features, T0)
    assert ENVELOPES.read_preprocessed(consumed(message, Topic.PREPROCESSED)).transaction == (
        transaction
    )

    body = json.loads(message.value)
    for field, broken in [("user_id", None), ("amount", "lots"), ("location_match", "yes")]:
        changed = {**body, "transaction": {**body["transaction"], field: broken}}
        tampered = OutgoingMessage(message.key, json.dumps(changed).encode(), message.headers)
        with pytest.raises(MalformedMessage, match="not a preprocessed transaction"):
            ENVELOPES.read_preprocessed(consumed(tampered, Topic.PREPROCESSED))
    del body["transaction"]["timestamp"]
    tampered = OutgoingMessage(message.key, json.dumps(body).encode(), message.headers)
    with pytest.raises(MalformedMessage, match="timestamp"):
        ENVELOPES.read_preprocessed(consumed(tampered, Topic.PREPROCESSED))


def test_the_rules_that_hit_a_verdict_cross_the_results_topic() -> None:
    from fraud.domain.rules import RuleAction, RuleHit, RuleMode

    purchase = txn(1)
    at = datetime(2026, 12, 3, 10, tzinfo=UTC)
    hits = (
        RuleHit("gift-cards", 2, RuleAction.DECLINE, RuleMode.ACTIVE, "gift cards"),
        RuleHit("watch", 1, RuleAction.REVIEW, RuleMode.SHADOW, "watching"),
    )
    record = TransactionRecord(
        transaction=purchase,
        received_at=at,
        status=Status.SCORED,
        assessment=Assessment(
            purchase.transaction_id, 0.3, Decision.DECLINE, ("gift cards",), "m1", at, hits, 12
        ),
        features={},
    )
    read = ENVELOPES.read_result(consumed(ENVELOPES.result_message(record), Topic.RESULTS))
    assert read.assessment == record.assessment

    broken = json.loads(ENVELOPES.result_message(record).value)
    broken["assessment"]["rule_hits"][0]["mode"] = "sometimes"
    with pytest.raises(MalformedMessage, match="not a fraud result"):
        ENVELOPES.read_result(
            consumed(OutgoingMessage("k", json.dumps(broken).encode()), Topic.RESULTS)
        )
