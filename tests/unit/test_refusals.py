"""Data quality: every transaction refused for breaking the contract is counted per field and
rule, on the API (422) and on the topic (dead-lettered), with label values from fixed sets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fraud.domain.errors import FieldError, InvalidTransaction
from fraud.domain.identity import Role
from fraud.domain.ports import OutgoingMessage, Topic
from fraud.domain.refusals import OTHER, REFUSED_FIELDS, RULE_NAMES, refusal, refusals
from fraud.domain.transaction import Transaction
from fraud.entrypoints.http.app import create_app
from tests.factories import payload
from tests.unit.conftest import calling_as, issue_keys, settle

RECEIVED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# Each body breaks one rule of the contract, each rule at least once.
BROKEN = [
    ({"user_id": None}, ("user_id", "required")),
    ({"user_id": 7}, ("user_id", "type")),
    ({"user_id": "x" * 65}, ("user_id", "length")),
    ({"user_id": "a\u202eb"}, ("user_id", "printable")),
    ({"merchant": "   "}, ("merchant", "blank")),
    ({"amount": "12"}, ("amount", "type")),
    ({"amount": float("inf")}, ("amount", "finite")),
    ({"amount": -1}, ("amount", "negative")),
    ({"amount": 2e9}, ("amount", "too_large")),
    ({"amount": 10.001}, ("amount", "minor_unit")),
    ({"amount": 10.5, "currency": "JPY"}, ("amount", "minor_unit")),
    ({"currency": "XXQ"}, ("currency", "currency_code")),
    ({"timestamp": 12}, ("timestamp", "type")),
    ({"timestamp": "yesterday"}, ("timestamp", "iso_8601")),
    ({"timestamp": "2026-01-05T11:00:00"}, ("timestamp", "time_zone")),
    ({"timestamp": "0001-01-01T00:00:00+05:00"}, ("timestamp", "out_of_range")),
    ({"timestamp": "2026-01-06T12:00:00Z"}, ("timestamp", "in_the_future")),
    ({"location_match": 2}, ("location_match", "flag")),
]


@pytest.mark.parametrize(("fields", "expected"), BROKEN, ids=[b[1][1] for b in BROKEN])
def test_each_rule_of_the_contract_has_a_name_of_its_own(fields, expected) -> None:
    with pytest.raises(InvalidTransaction) as refused:
        Transaction.parse({**payload(), **fields}, new_id=lambda: "t", received_at=RECEIVED)
    assert refusals(refused.value.errors) == {expected: 1}


def test_label_values_stay_within_fixed_sets_whatever_the_text() -> None:
    with pytest.raises(InvalidTransaction) as refused:
        Transaction.parse("not an object", received_at=RECEIVED)  # type: ignore[arg-type]
    assert refusals(refused.value.errors) == {("body", "type"): 1}
    assert refusal(FieldError("surprise", "must rhyme")) == (OTHER, OTHER)
    for _, (field, rule) in BROKEN:
        assert field in REFUSED_FIELDS and rule in RULE_NAMES


def refusal_counts(scraper) -> dict[tuple[str, str, str], float]:
    text = scraper.get("/metrics").get_data(as_text=True)
    return {
        (s.labels["path"], s.labels["field"], s.labels["rule"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "fraud_transaction_refusals_total"
    }


def test_refusals_are_counted_on_the_api_and_on_the_topic(container, clock) -> None:
    app = create_app(container)
    keys = issue_keys(container)
    client, scraper = calling_as(app, keys[Role.SUBMITTER]), calling_as(app, keys[Role.METRICS])
    assert client.post("/transaction", json=payload(amount=-5, currency="XXQ")).status_code == 422
    assert client.post("/transaction", json=payload(amount=-1)).status_code == 422
    batch = {"transactions": [payload(location_match=3), payload(transaction_id="fine")]}
    assert client.post("/transactions", json=batch).status_code == 200
    # Straight onto the topic: a transaction that breaks the contract, and a value that is
    # not JSON; both dead-lettered by the preprocess stage.
    bad = json.dumps(payload(transaction_id="late", timestamp="2099-01-01T00:00:00Z")).encode()
    container.bus().publish(
        Topic.TRANSACTIONS,
        [OutgoingMessage(key="u", value=bad), OutgoingMessage(key="u", value=b"{not json")],
    )
    settle(container)

    assert refusal_counts(scraper) == {
        ("api", "amount", "negative"): 2,
        ("api", "currency", "currency_code"): 1,
        ("api", "location_match", "flag"): 1,
        ("topic", "timestamp", "in_the_future"): 1,
        ("topic", "body", "malformed"): 1,
    }
