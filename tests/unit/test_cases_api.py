"""Queues, cases, lists and webhooks over HTTP, on the in-memory container: a review opens a
case an analyst works through the API, a disposition is the label, refusals name the field
and the rule (422), an unknown case or list is a 404 and a case held by another a 409; the
pages render for readers."""

from __future__ import annotations

import pytest

from fraud.domain.rules import Rule, RuleAction
from tests.factories import payload
from tests.unit.conftest import TESTS, settle

GIFTS = Rule("gift-shop", 'tx.merchant == "Gift Shop"', RuleAction.REVIEW, "gift shop")


@pytest.fixture
def reviewed(client, container) -> list[str]:
    """Three transactions decided review by a rule, at two cards."""
    container.manage_rules().add(GIFTS, TESTS)
    ids = [f"gift-{n}" for n in range(3)]
    for n, transaction_id in enumerate(ids):
        sent = payload(transaction_id=transaction_id, merchant="Gift Shop", user_id=f"card-{n % 2}")
        assert client.post("/transaction", json=sent).status_code == 202
    settle(container)
    return ids


def test_an_analyst_works_a_case_through_the_api(analyst, viewer, reviewed) -> None:
    queues = viewer.get("/api/queues").get_json()
    assert [(q["queue"]["name"], q["open"]) for q in queues] == [("default", 3)]
    claimed = analyst.post("/api/queues/default/next")
    assert claimed.status_code == 200, claimed.get_json()
    case = claimed.get_json()
    assert (case["status"], case["assignee"]) == ("claimed", "key:analyst")

    noted = analyst.post(f"/api/cases/{case['id']}/note", json={"text": "called the holder"})
    assert noted.status_code == 201
    resolved = analyst.post(
        f"/api/cases/{case['id']}/resolve", json={"disposition": "fraud", "whole_card": True}
    )
    assert resolved.status_code == 200
    done = resolved.get_json()
    assert done[0]["id"] == case["id"] and {c["status"] for c in done} == {"resolved"}
    assert {c["user_id"] for c in done} == {case["user_id"]}

    label = viewer.get(f"/transaction/{case['transaction_id']}").get_json()["label"]
    assert (label["is_fraud"], label["analyst"]) == (True, "key:analyst")
    detail = viewer.get(f"/api/cases/{case['id']}").get_json()
    assert [note["text"] for note in detail["notes"]] == ["called the holder"]
    assert [event["action"] for event in detail["history"]] == ["claimed", "noted", "resolved"]
    assert detail["transaction"]["transaction_id"] == case["transaction_id"]
    listed = viewer.get("/api/cases", query_string={"status": "resolved"}).get_json()
    assert {c["id"] for c in listed} == {c["id"] for c in done}


def test_a_case_another_analyst_holds_is_a_409_and_nothing_changes(
    analyst, admin, reviewed
) -> None:
    case = analyst.post("/api/queues/default/next").get_json()
    taken = admin.post(f"/api/cases/{case['id']}/claim")
    assert taken.status_code == 409
    assert taken.get_json()["error"] == f"case {case['id']} is held by key:analyst"
    refused = admin.post(f"/api/cases/{case['id']}/resolve", json={"disposition": "not_fraud"})
    assert refused.status_code == 409


def test_refusals_name_the_field_and_the_rule(analyst, admin, reviewed) -> None:
    bad = analyst.post("/api/cases/1/resolve", json={"disposition": "maybe", "whole_card": 1})
    assert bad.status_code == 422
    fields = {detail["field"] for detail in bad.get_json()["details"]}
    assert fields == {"disposition", "whole_card"}
    assert analyst.post("/api/cases/999/claim").status_code == 404
    assert analyst.get("/api/queues/nope").status_code == 404
    condition = admin.post("/api/queues", json={"name": "q", "condition": "tx.amount >"})
    assert condition.status_code == 422
    assert condition.get_json()["details"][0]["field"] == "expression"
    assert analyst.post("/api/queues", json={"name": "q"}).status_code == 403
    too_long = analyst.get("/api/cases", query_string={"limit": "5000"})
    assert too_long.status_code == 422


def test_a_queue_routes_reviews_by_its_condition(admin, analyst, client, container) -> None:
    added = admin.post(
        "/api/queues",
        json={"name": "big", "condition": "tx.amount >= 1000.0", "sla_minutes": 30},
    )
    assert added.status_code == 201 and added.get_json()["sla_minutes"] == 30
    container.manage_rules().add(GIFTS, TESTS)
    for n, amount in enumerate((2_000.0, 20.0)):
        sent = payload(transaction_id=f"q-{n}", merchant="Gift Shop", amount=amount)
        client.post("/transaction", json=sent)
    settle(container)
    routed = {c["transaction_id"]: c["queue"] for c in analyst.get("/api/cases").get_json()}
    assert routed == {"q-0": "big", "q-1": "default"}
    changed = admin.patch("/api/queues/big", json={"include_declines": True})
    assert changed.get_json()["version"] == 2


def test_lists_over_the_api_and_a_case_lists_its_card(analyst, viewer, reviewed) -> None:
    made = analyst.post("/api/lists", json={"name": "blocked_cards", "field": "user_id"})
    assert made.status_code == 201
    assert analyst.post("/api/lists", json={"name": "blocked_cards"}).status_code == 409
    case = viewer.get("/api/cases").get_json()[0]
    listed = analyst.post(
        f"/api/cases/{case['id']}/list",
        json={"list": "blocked_cards", "days": 30, "reason": "stolen"},
    )
    assert listed.status_code == 201 and listed.get_json()["value"] == case["user_id"]
    added = analyst.post(
        "/api/lists/blocked_cards/entries", json={"value": "card-9", "reason": "stolen"}
    )
    assert added.status_code == 201 and added.get_json()["expires_at"] is None
    shown = viewer.get("/api/lists/blocked_cards").get_json()
    assert shown["list"]["entries"] == 2
    assert analyst.delete("/api/lists/blocked_cards/entries/card-9").status_code == 204
    assert analyst.delete("/api/lists/blocked_cards/entries/card-9").status_code == 404
    bad = analyst.post("/api/lists/blocked_cards/entries", json={"value": "", "days": 0})
    assert {d["field"] for d in bad.get_json()["details"]} == {"value", "reason", "days"}
    assert viewer.post("/api/lists", json={"name": "x"}).status_code == 403


def test_webhooks_are_for_admins_and_the_secret_is_shown_once(admin, analyst) -> None:
    refused = admin.post(
        "/api/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["decision.decline"]}
    )
    assert refused.status_code == 422  # a loopback receiver: the deployment has not allowed it
    assert "private or loopback" in refused.get_json()["details"][0]["rule"]
    made = admin.post(
        "/api/webhooks",
        json={"url": "https://93.184.215.14/hook", "events": ["decision.decline"]},
    )
    assert made.status_code == 201
    body = made.get_json()
    assert body["secret"].startswith("whsec_")
    listed = admin.get("/api/webhooks").get_json()
    assert "secret" not in listed[0] and listed[0]["events"] == ["decision.decline"]
    subscription = body["subscription"]["id"]
    assert admin.get(f"/api/webhooks/{subscription}/deliveries").get_json() == []
    assert admin.post(f"/api/webhooks/{subscription}/replay", json={}).get_json() == {"replayed": 0}
    assert analyst.get("/api/webhooks").status_code == 403
    assert admin.delete(f"/api/webhooks/{subscription}").status_code == 204
    assert admin.delete(f"/api/webhooks/{subscription}").status_code == 404


def test_the_pages_render(analyst, admin, reviewed) -> None:
    case = analyst.post("/api/queues/default/next").get_json()
    assert b'id="queues"' in analyst.get("/dashboard/queues").data
    assert b'id="ranked"' in analyst.get("/dashboard/queues/default").data
    page = analyst.get(f"/dashboard/cases/{case['id']}")
    assert page.status_code == 200 and b"Fraud <kbd>f</kbd>" in page.data
    assert analyst.get("/dashboard/cases/999").status_code == 404
    assert b'id="webhook-form"' in admin.get("/admin/webhooks").data


def test_a_case_past_its_queues_sla_is_counted_on_metrics(
    admin, client, container, keys, app, reviewed
) -> None:
    from fraud.domain.identity import Role
    from tests.unit.conftest import calling_as

    admin.patch("/api/queues/default", json={"sla_minutes": 10})
    scrape = calling_as(app, keys[Role.METRICS])
    assert 'fraud_cases_past_sla{queue="default"} 0.0' in scrape.get("/metrics").text
    container.clock().advance(11 * 60)
    text = scrape.get("/metrics").text
    assert 'fraud_cases_past_sla{queue="default"} 3.0' in text
    assert 'fraud_cases{queue="default",status="open"} 3.0' in text
    assert 'fraud_case_sla_seconds{queue="default"} 600.0' in text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/cases/9223372036854775808"),
        ("POST", "/api/cases/99999999999999999999999/claim"),
        ("GET", "/dashboard/cases/9223372036854775808"),
        ("GET", "/api/webhooks/9223372036854775808"),
        ("DELETE", "/api/webhooks/9223372036854775808"),
        ("GET", "/api/webhooks/0/deliveries"),
    ],
)
def test_an_id_no_row_can_have_is_a_404_not_a_500(admin, method: str, path: str) -> None:
    """SQLite takes integers up to 2**63 - 1: a larger id in a path raised OverflowError in
    the query, a 500; a 405 where another method shares the path would be wrong too."""
    assert admin.open(path, method=method).status_code == 404
