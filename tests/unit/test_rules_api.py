"""Analysts' rules through the API, on in-memory adapters: they are refused with the error's
position when they cannot be used, decide the next matching transaction once added (first
reason, recorded hit and rule-set version), stop when disabled, record only in shadow, keep
their history, are audited, and backtest to the counts made by hand."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from fraud.domain.reference import entries
from tests.factories import payload
from tests.unit.conftest import settle

GROCERY = {
    "amount": 40.0,
    "merchant": "Corner Grocery",
    "merchant_type": "grocery",
    "device_type": "mobile",
    "location_match": 1,
}
CORNER = {
    "name": "corner-grocery",
    "expression": 'tx.merchant == "Corner Grocery" && tx.amount > 30.0',
    "action": "decline",
    "reason": "Corner Grocery is under investigation",
}


def submit(client, container, transaction_id: str, **fields) -> dict:
    body = payload(transaction_id=transaction_id, **{**GROCERY, **fields})
    assert client.post("/transaction", json=body).status_code == 202
    settle(container)
    return client.get(f"/transaction/{transaction_id}").get_json()


def test_an_active_rule_decides_the_next_match_and_disabling_it_restores_the_model(
    client, analyst, viewer, container
) -> None:
    before = submit(client, container, "g-1")
    assert before["decision"] == "approve"  # the model alone

    added = analyst.post("/api/rules", json=CORNER)
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["rule"]["version"] == 1
    rule_set = added.get_json()["rule_set_version"]

    ruled = viewer.get(f"/transaction/{submit(client, container, 'g-2')['transaction_id']}")
    ruled = ruled.get_json()
    assert ruled["decision"] == "decline"
    assert ruled["reasons"][0] == CORNER["reason"]
    assert ruled["rule_hits"] == [
        {
            "name": "corner-grocery",
            "version": 1,
            "action": "decline",
            "mode": "active",
            "reason": CORNER["reason"],
        }
    ]
    assert ruled["rules_version"] == rule_set
    other = submit(client, container, "g-3", merchant="Baker Street Bakery")
    assert other["decision"] == "approve"  # not a match

    disabled = analyst.delete("/api/rules/corner-grocery")
    assert disabled.status_code == 200
    assert disabled.get_json()["rule"]["mode"] == "disabled"
    after = viewer.get("/transaction/" + submit(client, container, "g-4")["transaction_id"])
    assert after.get_json()["decision"] == "approve"
    assert "rule_hits" not in after.get_json()
    # The decisions given stay what they were.
    assert viewer.get("/transaction/g-2").get_json()["decision"] == "decline"


def test_a_submitter_reading_its_own_verdict_sees_the_reason_not_the_rule(
    client, analyst, container
) -> None:
    analyst.post("/api/rules", json=CORNER)
    own = submit(client, container, "g-5")
    assert own["decision"] == "decline"
    assert own["reasons"][0] == CORNER["reason"]
    assert "rule_hits" not in own and "rules_version" not in own


def test_a_shadow_rule_records_its_hits_and_changes_no_decision(
    client, analyst, viewer, container
) -> None:
    assert analyst.post("/api/rules", json={**CORNER, "mode": "shadow"}).status_code == 201
    shadowed = viewer.get("/transaction/" + submit(client, container, "s-1")["transaction_id"])
    verdict = shadowed.get_json()
    assert verdict["decision"] == "approve"
    assert CORNER["reason"] not in verdict["reasons"]
    assert [(hit["name"], hit["mode"]) for hit in verdict["rule_hits"]] == [
        ("corner-grocery", "shadow")
    ]
    submit(client, container, "s-2")
    counted = container.metrics().registry.get_sample_value(
        "fraud_rule_hits_total", {"rule": "corner-grocery", "mode": "shadow"}
    )
    assert counted == 2


@pytest.mark.parametrize(
    ("expression", "position", "says"),
    [
        ("tx.amount > 500.0 && tx.merchant ==", (1, 36), "Syntax error"),
        ("tx.amount >> 5", (1, 12), "Syntax error"),
        ('tx.amount > 500.0 && tx.nickname == "x"', (1, 25), "no field or feature 'nickname'"),
        ('os.system("rm -rf /")', (1, 1), "may use tx, features and score only"),
        ('__import__("os")', (1, 1), "may use tx, features and score only"),
        ("tx.amount + 1.0", None, "must be true or false"),
    ],
)
def test_an_expression_that_cannot_be_used_is_a_422_with_its_position(
    analyst, expression: str, position: tuple[int, int] | None, says: str
) -> None:
    for answer in (
        analyst.post("/api/rules", json={**CORNER, "expression": expression}),
        analyst.post("/api/rules/check", json={"expression": expression}),
    ):
        assert answer.status_code == 422
        body = answer.get_json()
        assert body["details"][0]["field"] == "expression"
        assert says in body["details"][0]["rule"]
        if position is None:
            assert "position" not in body
        else:
            assert (body["position"]["line"], body["position"]["column"]) == position
    assert analyst.get("/api/rules").get_json() == []


def test_fields_that_break_their_rule_are_named(analyst) -> None:
    answer = analyst.post(
        "/api/rules", json={"name": "Bad Name", "expression": "true", "action": "block"}
    )
    assert answer.status_code == 422
    fields = {detail["field"] for detail in answer.get_json()["details"]}
    assert fields == {"name", "reason", "action"}


def test_only_analysts_and_admins_change_rules_and_every_change_is_audited(
    analyst, admin, viewer, client, container
) -> None:
    assert viewer.post("/api/rules", json=CORNER).status_code == 403
    assert client.get("/api/rules").status_code == 403  # a submitter reads no rules
    assert analyst.post("/api/rules", json=CORNER).status_code == 201
    assert analyst.post("/api/rules", json=CORNER).status_code == 409
    changed = admin.patch("/api/rules/corner-grocery", json={"mode": "shadow", "reason": "watch"})
    assert changed.status_code == 200
    assert changed.get_json()["rule"]["version"] == 2
    assert admin.patch("/api/rules/corner-grocery", json={"mode": "shadow"}).status_code == 422
    assert admin.patch("/api/rules/nothing", json={"mode": "active"}).status_code == 404

    events = admin.get("/api/audit").get_json()
    rule_events = [(e["actor"], e["action"], e["target"]) for e in events if "rule" in e["action"]]
    assert rule_events == [
        ("key:admin", "rule.changed", "corner-grocery"),
        ("key:analyst", "rule.added", "corner-grocery"),
    ]
    assert "reason: Corner Grocery is under investigation -> watch" in events[0]["detail"]

    history = viewer.get("/api/rules/corner-grocery").get_json()["history"]
    assert [version["rule"]["version"] for version in history] == [1, 2]
    assert {(c["field"], c["before"], c["after"]) for c in history[1]["changes"]} == {
        ("mode", "active", "shadow"),
        ("reason", CORNER["reason"], "watch"),
    }


def test_a_draft_is_tried_on_one_stored_transaction(client, analyst, container) -> None:
    submit(client, container, "t-1")
    trial = analyst.post("/api/rules/try", json={**CORNER, "transaction_id": "t-1"})
    assert trial.get_json() == {
        "transaction_id": "t-1",
        "hit": True,
        "decided": "approve",
        "would": "decline",
        "reasons": [CORNER["reason"], *trial.get_json()["reasons"][1:]],
    }
    missing = analyst.post("/api/rules/try", json={**CORNER, "transaction_id": "none"})
    assert missing.status_code == 404


def test_a_backtest_counts_what_a_hand_count_finds(client, analyst, container, clock) -> None:
    # Three days of purchases: Corner Grocery over 30 on some, labels on a few.
    plan = [
        # (day, id, merchant, amount, label)
        (0, "b-1", "Corner Grocery", 45.0, True),
        (0, "b-2", "Corner Grocery", 12.0, None),
        (0, "b-3", "Baker Street Bakery", 45.0, False),
        (1, "b-4", "Corner Grocery", 80.0, False),
        (1, "b-5", "Corner Grocery", 31.0, None),
        (2, "b-6", "Baker Street Bakery", 90.0, True),
        (2, "b-7", "Corner Grocery", 35.0, True),
    ]
    start = clock.now()
    for day, transaction_id, merchant, amount, _ in plan:
        clock.current = start + timedelta(days=day)
        submit(client, container, transaction_id, merchant=merchant, amount=amount)
    for _, transaction_id, _, _, label in plan:
        if label is not None:
            answer = analyst.post(f"/transaction/{transaction_id}/label", json={"is_fraud": label})
            assert answer.status_code == 200

    verdicts = {
        tid: client.get(f"/transaction/{tid}").get_json()["decision"] for _, tid, *_ in plan
    }
    assert set(verdicts.values()) == {"approve"}  # the model alone approved them all
    hits = {"b-1", "b-4", "b-5", "b-7"}
    answer = analyst.post("/api/rules/backtest", json={**CORNER, "days": 3})
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert result["transactions"] == 7
    assert result["hits"] == len(hits)
    assert result["changed"] == len(hits)  # approve -> decline each time
    assert result["reviews_added"] == 0
    assert result["declines_added"] == len(hits)  # the sum of the days'
    assert result["declines_added"] == sum(d["declines_added"] for d in result["days"])
    assert [(d["transactions"], d["hits"]) for d in result["days"]] == [(3, 1), (2, 2), (2, 1)]
    # Labelled hits: b-1 fraud, b-4 not, b-7 fraud; labelled fraud: b-1, b-6, b-7.
    assert (result["labelled_hits"], result["fraud_hits"], result["labelled_fraud"]) == (3, 2, 3)
    assert result["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["recall"] == pytest.approx(2 / 3, abs=1e-4)

    review = analyst.post(
        "/api/rules/backtest", json={**CORNER, "action": "review", "days": 2}
    ).get_json()
    assert (review["transactions"], review["hits"], review["reviews_added"]) == (4, 3, 3)

    assert analyst.post("/api/rules/backtest", json={"name": "nothing"}).status_code == 404
    assert analyst.post("/api/rules/backtest", json={**CORNER, "days": 0}).status_code == 422


def test_the_rules_pages_render_for_viewers_and_editors(analyst, viewer) -> None:
    analyst.post("/api/rules", json=CORNER)
    for client in (analyst, viewer):
        listing = client.get("/dashboard/rules")
        assert listing.status_code == 200
        assert b"corner-grocery" in listing.data
        page = client.get("/dashboard/rules/corner-grocery")
        assert page.status_code == 200
        assert b"version 1" in page.data
    assert b'id="rule-form"' in analyst.get("/dashboard/rules").data
    assert b'id="rule-form"' not in viewer.get("/dashboard/rules").data
    assert analyst.get("/dashboard/rules/nothing").status_code == 404


def test_the_rule_editor_lists_what_an_expression_reads_and_only_the_other_modes(
    analyst,
) -> None:
    page = analyst.get("/dashboard/rules").data.decode()
    for entry in entries():  # generated from the code, as `fraud features` prints it
        assert f'data-insert="{entry.name}"' in page
    analyst.post("/api/rules", json={**CORNER, "mode": "active"})
    rule_page = analyst.get("/dashboard/rules/corner-grocery").data.decode()
    assert 'data-mode="active"' not in rule_page  # it is active already
    assert 'data-mode="shadow"' in rule_page and 'data-mode="disabled"' in rule_page
    # The error's place sits under the expression, before the rule's other fields.
    assert rule_page.index('id="rule-error"') < rule_page.index('name="action"')
    # Each button a script serves comes disabled until the page's scripts have run (common.js
    # enables them once the document is loaded): a click before then is not lost.
    buttons = re.findall(r"<button [^>]*>", rule_page)
    scripted = [b for b in buttons if 'type="button"' in b]
    assert len(scripted) >= 6 and all("disabled data-scripted" in b for b in scripted)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"all": {}}, "all"),
        ({"all": True, "name": "corner-grocery"}, "all"),
        ({}, "body"),
        ({"name": "corner-grocery", "action": "review"}, "action"),
        ({"name": "corner-grocery", "days": True}, "days"),
        ({"name": "corner-grocery", "when": "today"}, "when"),
    ],
)
def test_a_backtest_request_names_one_thing_to_test(analyst, body: dict, field: str) -> None:
    analyst.post("/api/rules", json=CORNER)
    answer = analyst.post("/api/rules/backtest", json=body)
    assert answer.status_code == 422
    assert field in {detail["field"] for detail in answer.get_json()["details"]}


def test_a_null_where_a_value_is_expected_is_refused(analyst) -> None:
    answer = analyst.post("/api/rules", json={**CORNER, "mode": None})
    assert answer.status_code == 422
    assert answer.get_json()["details"] == [
        {"field": "mode", "rule": "must be one of active, shadow, disabled"}
    ]


def test_a_verdict_without_this_versions_features_is_counted_not_evaluated(
    client, analyst, container
) -> None:
    from dataclasses import replace

    submit(client, container, "old-1")
    submit(client, container, "new-1")
    store = container.queries()
    store.state.rows["old-1"] = replace(store.state.rows["old-1"], features={"amount": 40.0})
    result = analyst.post("/api/rules/backtest", json={**CORNER, "days": 1}).get_json()
    assert (result["transactions"], result["unevaluable"], result["hits"]) == (1, 1, 1)
    tried = analyst.post("/api/rules/try", json={**CORNER, "transaction_id": "old-1"})
    assert tried.status_code == 404
