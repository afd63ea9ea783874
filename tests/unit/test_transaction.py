from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
        "amount": "must be 0 or more",
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
        ("amount", -0.01, "must be 0 or more"),
        ("amount", 5e-324, "must be 0, or at least 0.01 with at most 2 decimals (USD's"),
        ("amount", 12.345, "must be 0, or at least 0.01 with at most 2 decimals"),
        ("merchant", "Shop\x00", "must contain only printable characters"),
        ("merchant", "Shop\u202eevil", "must contain only printable characters"),
        ("merchant", "Shop\x85", "must contain only printable characters"),
        ("merchant_type", "online\u2066", "must contain only printable characters"),
        ("device_type", "pos\t", "must contain only printable characters"),
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


@pytest.mark.parametrize(
    ("amount", "currency", "rule"),
    [
        (1.5, "JPY", "must be a whole number of JPY, which has no smaller unit"),
        (0.0001, "KWD", "must be 0, or at least 0.001 with at most 3 decimals (KWD's minor unit)"),
        (
            0.00001,
            "CLF",
            "must be 0, or at least 0.0001 with at most 4 decimals (CLF's minor unit)",
        ),
    ],
)
def test_an_amount_is_a_whole_number_of_its_currencys_minor_unit(
    amount: float, currency: str, rule: str
) -> None:
    assert errors_of(payload(amount=amount, currency=currency)) == {"amount": rule}


@pytest.mark.parametrize(
    ("amount", "currency"),
    [(0, "USD"), (-0.0, "USD"), (0.01, "USD"), (1500, "JPY"), (0.125, "BHD"), (0.000001, "XAU")],
)
def test_zero_and_whole_minor_units_are_accepted(amount: float, currency: str) -> None:
    txn = Transaction.parse(payload(amount=amount, currency=currency), new_id=str)
    assert txn.amount == amount and str(txn.amount) != "-0.0"


def test_a_timestamp_may_run_ahead_of_receipt_by_the_allowed_skew_only() -> None:
    received = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    at = received + timedelta(minutes=5)
    ok = Transaction.parse(payload(timestamp=at.isoformat()), new_id=str, received_at=received)
    assert ok.timestamp == at
    late_arrival = payload(timestamp="2001-01-01T00:00:00Z")
    assert Transaction.parse(late_arrival, new_id=str, received_at=received).timestamp.year == 2001
    with pytest.raises(InvalidTransaction) as caught:
        Transaction.parse(
            payload(timestamp="9999-01-01T00:00:00Z"),
            new_id=str,
            received_at=received,
            max_skew=timedelta(seconds=30),
        )
    assert [(e.field, e.rule) for e in caught.value.errors] == [
        ("timestamp", "must be no later than 30 seconds after receipt (2026-01-01T12:00:30Z)")
    ]


def test_the_largest_amount_and_lower_case_currency_are_accepted() -> None:
    txn = Transaction.parse(payload(amount=1_000_000_000, currency="eur"), new_id=str)
    assert (txn.amount, txn.currency) == (1_000_000_000.0, "EUR")


def test_booleans_are_accepted_for_location_match() -> None:
    assert Transaction.parse(payload(location_match=True), new_id=str).location_match is True


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidTransaction) as caught:
        Transaction.parse(["not", "an", "object"])  # type: ignore[arg-type]
    assert caught.value.errors[0].field == "body"
