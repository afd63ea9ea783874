"""Rules changed while `fraud run` serves: the next matching transaction is decided by the
new rule within seconds, with its reason first; a shadow rule only records its hits; a
disabled rule decides nothing; a rule's page, the audit log and the backtest see it all."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from fraud.domain.identity import Role
from tests.processes import Service

pytestmark = pytest.mark.e2e

PROPAGATION_S = 5.0
# A purchase the model approves: a small grocery basket at home, on a card seen before.
HABIT = {
    "amount": 23.5,
    "merchant": "Corner Grocery",
    "merchant_type": "grocery",
    "device_type": "pos",
    "location_match": 1,
    "timestamp": "2026-03-02T10:00:00Z",
}
CORNER = {
    "name": "corner-grocery-hold",
    "expression": 'tx.merchant == "Corner Grocery" && tx.amount > 20.0',
    "action": "decline",
    "reason": "Corner Grocery is under investigation: hold its card payments",
}


def verdict(service: Service, transaction_id: str, timeout: float = 30.0) -> dict:
    viewer = service.client(Role.VIEWER)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = viewer.get(f"{service.url}/transaction/{transaction_id}", timeout=5)
        if answer.status_code == 200 and answer.json()["status"] == "scored":
            return answer.json()
        time.sleep(0.1)
    raise AssertionError(f"{transaction_id} was not scored:\n{service.logs()[-3000:]}")


def model_alone(service: Service, found: dict) -> str:
    """The decision the model's thresholds give the verdict's score, rules aside."""
    card = service.client(Role.VIEWER).get(f"{service.url}/api/model", timeout=5).json()
    thresholds = card["model"]["thresholds"]
    if found["fraud_score"] >= thresholds["decline"]:
        return "decline"
    return "review" if found["fraud_score"] >= thresholds["review"] else "approve"


def send(service: Service, user: str, **fields) -> tuple[str, float]:
    """A purchase of ``user``'s habit; its id and when it was sent."""
    transaction_id = f"{user}-{uuid.uuid4().hex[:8]}"
    body = {**HABIT, **fields, "transaction_id": transaction_id, "user_id": user}
    sent = time.monotonic()
    answer = service.client().post(f"{service.url}/transaction", json=body, timeout=5)
    assert answer.status_code == 202, answer.text
    return transaction_id, sent


def first_ruled(service: Service, user: str, changed: float, ruled) -> tuple[dict, float]:
    """Send matching purchases every half second until one is decided under the change;
    that one and how long after the change it was sent."""
    while True:
        transaction_id, sent = send(service, user)
        found = verdict(service, transaction_id)
        if ruled(found):
            return found, sent - changed
        assert sent - changed < PROPAGATION_S + 5, f"still not ruled: {found}"
        time.sleep(0.5)


def add_and_see_it_decline(service: Service, analyst, user: str) -> tuple:
    """Add CORNER through the API; its answer, and the first purchase of ``user`` it
    declined, which must have been sent within PROPAGATION_S of the change."""
    added = analyst.post(f"{service.url}/api/rules", json=CORNER, timeout=10)
    changed = time.monotonic()
    assert added.status_code == 201, added.text
    ruled, after_s = first_ruled(
        service, user, changed, lambda found: found["decision"] == "decline"
    )
    assert after_s <= PROPAGATION_S
    return added, ruled


@pytest.fixture
def analyst(service: Service) -> Iterator:
    with service.client(Role.ANALYST) as http:
        yield http


def test_a_rule_added_through_the_api_decides_the_next_match_and_disabling_restores_the_model(
    service: Service, analyst
) -> None:
    before = verdict(service, send(service, "ann")[0])
    assert before["decision"] == model_alone(service, before) != "decline"
    assert "rule_hits" not in before

    added, ruled = add_and_see_it_decline(service, analyst, "ann")
    assert model_alone(service, ruled) != "decline"  # the rule decided, not the model
    assert ruled["reasons"][0] == CORNER["reason"]
    assert ruled["rule_hits"][0]["name"] == CORNER["name"]
    assert ruled["rules_version"] == added.json()["rule_set_version"]
    # Every later match is ruled too; a purchase elsewhere is not.
    assert verdict(service, send(service, "ann")[0])["decision"] == "decline"
    elsewhere = verdict(service, send(service, "ann", merchant="Baker Street Bakery")[0])
    assert elsewhere["decision"] == model_alone(service, elsewhere)
    assert "rule_hits" not in elsewhere

    disabled = analyst.delete(f"{service.url}/api/rules/{CORNER['name']}", timeout=10)
    changed = time.monotonic()
    assert disabled.status_code == 200, disabled.text
    restored, after_s = first_ruled(service, "ann", changed, lambda found: "rule_hits" not in found)
    assert after_s <= PROPAGATION_S
    assert restored["decision"] == model_alone(service, restored)
    assert CORNER["reason"] not in restored["reasons"]
    # The decisions given under the rule stay as they were given.
    assert verdict(service, ruled["transaction_id"])["decision"] == "decline"

    audit = service.client(Role.ADMIN).get(f"{service.url}/api/audit", timeout=5).json()
    assert [e["action"] for e in audit if e["target"] == CORNER["name"]] == [
        "rule.changed",
        "rule.added",
    ]


def test_a_shadow_rule_records_its_hits_and_changes_no_decision(service: Service, analyst) -> None:
    shadow = {**CORNER, "name": "corner-grocery-watch", "mode": "shadow"}
    added = analyst.post(f"{service.url}/api/rules", json=shadow, timeout=10)
    assert added.status_code == 201, added.text
    found, after_s = first_ruled(
        service, "bo", time.monotonic(), lambda found: "rule_hits" in found
    )
    assert after_s <= PROPAGATION_S
    assert found["rule_hits"] == [
        {
            "name": "corner-grocery-watch",
            "version": 1,
            "action": "decline",
            "mode": "shadow",
            "reason": CORNER["reason"],
        }
    ]
    assert found["decision"] == model_alone(service, found)
    assert CORNER["reason"] not in found["reasons"]

    backtest = analyst.post(
        f"{service.url}/api/rules/backtest", json={"name": shadow["name"], "days": 1}, timeout=30
    ).json()
    assert backtest["hits"] == backtest["transactions"] >= 1  # every purchase here matches
