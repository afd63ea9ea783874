from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fraud.domain.errors import InvalidTransaction
from fraud.domain.transaction import Transaction
from tests.factories import payload


def errors_of(data: dict) -> dict[str, str]:
    with pytest.raises(InvalidTransaction) as caught:
        Transaction.parse(data, new_id=lambda: "generated")
    return {error.field: error.rule for error in caught.value.errors}


def test_the_readme_example_is_valid_and_normalised() -> None:
    txn = Transaction.parse(payload(timestamp="2023-10-05T16:30:00+02:00"), new_id=lambda: "id-1")
    assert txn.transaction_id == "id-1"
    assert txn.timestamp == datetime(2023, 10, 5, 14, 30, tzinfo=UTC)
    assert txn.currency == "USD"
    assert txn.location_match is False
    assert txn.to_dict()["timestamp"] == "2023-10-05T14:30:00Z"


def test_a_client_id_is_kept() -> None:
    assert Transaction.parse(payload(transaction_id="abc-1")).transaction_id == "abc-1"


def test_categories_are_lower_cased_and_unknown_ones_kept_but_seen_as_other() -> None:
    txn = Transaction.parse(payload(merchant_type=" Crypto ", device_type="SmartWatch"), new_id=str)
    assert (txn.merchant_type, txn.device_type) == ("crypto", "smartwatch")
    assert (txn.merchant_category, txn.device_category) == ("other", "other")


def test_every_offending_field_is_named_at_once() -> None:
    errors = errors_of({"amount": -5, "timestamp": "yesterday", "location_match": 3})
    assert errors == {
        "user_id": "is required",
        "amount": "must be greater than 0",
        "merchant": "is required",
        "timestamp": "must be ISO 8601, e.g. 2023-10-05T14:30:00Z",
        "merchant_type": "is required",
        "device_type": "is required",
        "location_match": "must be 0, 1, true or false",
    }


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("user_id", "", "must be 1 to 64 characters long"),
        ("user_id", "x" * 65, "must be 1 to 64 characters long"),
        ("user_id", "bad\nid", "must contain only printable characters"),
        ("user_id", 42, "must be a string"),
        ("amount", "1500", "must be a number"),
        ("amount", True, "must be a number"),
        ("amount", 0, "must be greater than 0"),
        ("amount", float("inf"), "must be a finite number"),
        ("amount", 1_000_000_001, "must be at most 1,000,000,000"),
        ("currency", "XYZ", "must be an ISO 4217 currency code"),
        ("merchant", "m" * 129, "must be 1 to 128 characters long"),
        ("merchant", "   ", "must not be blank"),
        ("timestamp", "2023-10-05T14:30:00", "must include a time zone"),
        ("timestamp", 1696516200, "must be an ISO 8601 string"),
        ("timestamp", "0001-01-01T00:00:00+05:00", "must be an instant between years 1 and 9999"),
        ("timestamp", "9999-12-31T23:59:59-05:00", "must be an instant between years 1 and 9999"),
        ("merchant_type", "", "must be 1 to 64 characters long"),
        ("device_type", ["mobile"], "must be a string"),
        ("location_match", "yes", "must be 0, 1, true or false"),
        ("transaction_id", "", "must be 1 to 64 characters long"),
    ],
)
def test_each_rule_is_enforced(field: str, value: object, rule: str) -> None:
    errors = errors_of(payload(**{field: value}))
    assert list(errors) == [field]
    assert errors[field].startswith(rule)


def test_the_largest_amount_and_lower_case_currency_are_accepted() -> None:
    txn = Transaction.parse(payload(amount=1_000_000_000, currency="eur"), new_id=str)
    assert (txn.amount, txn.currency) == (1_000_000_000.0, "EUR")


def test_booleans_are_accepted_for_location_match() -> None:
    assert Transaction.parse(payload(location_match=True), new_id=str).location_match is True


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidTransaction) as caught:
        Transaction.parse(["not", "an", "object"])  # type: ignore[arg-type]
    assert caught.value.errors[0].field == "body"
