"""Properties over the whole transaction contract: whatever a client may send, features
stay finite and the API never answers 5xx."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraud.domain.currencies import minor_unit_digits
from fraud.domain.features import BehaviourProfiles
from fraud.domain.transaction import (
    KNOWN_DEVICE_TYPES,
    KNOWN_MERCHANT_TYPES,
    MAX_AMOUNT,
    Transaction,
)
from tests.factories import payload

CURRENCIES = ["USD", "JPY", "KWD", "CLF", "XAU"]


@st.composite
def amounts(draw: st.DrawFn, currency: str) -> float:
    """0 (an account verification) or a whole number of the currency's minor unit."""
    scale = 10 ** minor_unit_digits(currency)
    units = draw(st.one_of(st.just(0), st.integers(1, 1_000), st.integers(1, MAX_AMOUNT * scale)))
    return units / scale


def instants(first: datetime, last: datetime) -> st.SearchStrategy[datetime]:
    """Any microsecond from ``first`` to ``last``, in UTC: one draw, where ``st.datetimes``
    draws each of its seven fields (and was most of this test's CPU time)."""
    span = (last - first) // timedelta(microseconds=1)
    return st.integers(0, span).map(lambda n: first + timedelta(microseconds=n))


MOMENTS = st.one_of(
    instants(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 3, tzinfo=UTC)),
    instants(datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC)),
)


@st.composite
def contract_fields(draw: st.DrawFn) -> dict[str, object]:
    """A valid transaction's fields but its id."""
    currency = draw(st.sampled_from(CURRENCIES))
    return {
        "user_id": draw(st.sampled_from(["alice", "bob", "carol"])),
        "amount": draw(amounts(currency)),
        "currency": currency,
        "merchant": draw(st.sampled_from(["Shop", "Gadget Hub", "Café Ünïcode", "M" * 128])),
        "timestamp": draw(MOMENTS).isoformat(),
        "merchant_type": draw(st.sampled_from([*KNOWN_MERCHANT_TYPES, "crypto"])),
        "device_type": draw(st.sampled_from([*KNOWN_DEVICE_TYPES, "watch"])),
        "location_match": draw(st.booleans()),
    }


# One strategy for every batch, drawn from ever after: a batch made of a strategy per
# transaction was made (and validated by hypothesis) afresh at every example.
BATCHES = st.lists(contract_fields(), min_size=1, max_size=40).map(
    lambda rows: tuple(
        Transaction.parse({"transaction_id": f"t{number}", **fields})
        for number, fields in enumerate(rows)
    )
)


@settings(max_examples=300, deadline=None)
@given(BATCHES)
def test_features_are_finite_for_any_valid_transactions_in_any_order(batch) -> None:
    """Zero amounts, tiny ones, far-apart and out-of-order timestamps: every value finite."""
    for vector in BehaviourProfiles().observe(batch):
        assert all(math.isfinite(value) for value in vector.values), vector.as_dict()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
FIELDS = st.sampled_from([*payload(), "transaction_id", "currency"])


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.one_of(
        st.dictionaries(FIELDS, JSON).map(lambda fields: {**payload(), **fields}),
        st.dictionaries(st.text(), JSON),
        JSON,
    )
)
def test_no_body_makes_the_api_fail(client, body) -> None:
    response = client.post("/transaction", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (202, 400, 409, 422), response.get_json()
    assert response.is_json
