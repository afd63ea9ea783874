from __future__ import annotations

import json

import pytest

from fraud.domain.identity import Role
from fraud.entrypoints.http.app import create_app
from tests.factories import EXAMPLE, payload
from tests.unit.conftest import calling_as, issue_keys, settle


def test_post_accepts_with_202_and_says_where_the_verdict_will_be(client) -> None:
    response = client.post("/transaction", json=EXAMPLE)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending"
    assert response.headers["Location"] == f"/transaction/{body['transaction_id']}"


def test_get_is_pending_then_scored_with_every_verdict_field(client, container) -> None:
    transaction_id = client.post("/transaction", json=EXAMPLE).get_json()["transaction_id"]
    assert client.get(f"/transaction/{transaction_id}").get_json()["status"] == "pending"

    settle(container)

    verdict = client.get(f"/transaction/{transaction_id}").get_json()
    assert verdict["status"] == "scored"
    assert 0.0 <= verdict["fraud_score"] <= 1.0
    assert verdict["decision"] in ("approve", "review", "decline")
    assert isinstance(verdict["reasons"], list) and verdict["reasons"]
    assert verdict["model_version"] == "rule-model-1"
    assert verdict["scored_at"].endswith("Z")
    assert verdict["latency_ms"] >= 0
    assert verdict["transaction"]["merchant"] == "ElectronicsStore"
    assert verdict["transaction"]["timestamp"] == "2023-10-05T14:30:00Z"


def test_a_clients_own_id_makes_the_call_idempotent(client, container) -> None:
    first = client.post("/transaction", json=payload(transaction_id="order-42"))
    second = client.post("/transaction", json=payload(transaction_id="order-42"))
    assert first.status_code == second.status_code == 202
    assert second.get_json() == {
        "transaction_id": "order-42",
        "status": "pending",
        "duplicate": True,
    }
    assert len(container.bus().read_topic("transactions")) == 1


def test_the_same_id_with_other_fields_is_a_conflict(client) -> None:
    client.post("/transaction", json=payload(transaction_id="order-42"))
    response = client.post("/transaction", json=payload(transaction_id="order-42", amount=1.0))
    assert response.status_code == 409
    assert "order-42" in response.get_json()["error"]


def test_an_invalid_transaction_gets_422_with_one_message_per_field(client) -> None:
    response = client.post("/transaction", json=payload(amount=-3, timestamp="2023-10-05 14:30"))
    assert response.status_code == 422
    details = response.get_json()["details"]
    assert details == [
        {"field": "amount", "rule": "must be 0 or more"},
        {"field": "timestamp", "rule": "must include a time zone (Z or an offset such as +02:00)"},
    ]


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe"])
def test_malformed_json_gets_400(client, body: bytes) -> None:
    response = client.post("/transaction", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.is_json and response.get_json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(payload(merchant="lone \ud800 surrogate")).encode(),
        b"[" * 2000 + b"]" * 2000,
        b"1" * 5000,
        b'{"amount": NaN}',
    ],
    ids=["lone surrogate", "deep nesting", "huge number", "NaN"],
)
def test_json_the_bus_could_not_carry_gets_400_not_a_crash(client, body: bytes) -> None:
    response = client.post("/transaction", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("malformed JSON")


def test_json_that_is_not_an_object_gets_422(client) -> None:
    response = client.post("/transaction", json=[1, 2])
    assert response.status_code == 422
    assert response.get_json()["details"] == [{"field": "body", "rule": "must be a JSON object"}]


def test_a_body_over_64_kib_gets_413(client) -> None:
    big = json.dumps(payload(merchant="x" * 70_000))
    response = client.post("/transaction", data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"] == "request body is larger than 64 KiB"


def test_an_unknown_id_gets_404(client) -> None:
    response = client.get("/transaction/nope")
    assert response.status_code == 404
    assert response.get_json()["error"] == "no transaction with id 'nope'"


def test_errors_are_json_even_for_unknown_routes_and_methods(client) -> None:
    assert client.get("/no/such/page").get_json()["status"] == 404
    response = client.delete("/transaction")
    assert response.status_code == 405 and response.is_json


def test_the_dashboard_shows_counts_and_latest_transactions(client, viewer, container) -> None:
    for i in range(3):
        client.post("/transaction", json=payload(transaction_id=f"d{i}", amount=10.0 + i))
    settle(container)
    page = viewer.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-count="total">3<' in html
    assert all(f"d{i}" in html for i in range(3))
    stats = viewer.get("/api/dashboard").get_json()
    assert stats["total"] == 3
    assert sum(stats["counts"][k] for k in ("approve", "review", "decline")) == 3
    assert stats["recent"][0]["transaction_id"] == "d2"


def test_health_tells_anybody_the_status_and_a_viewer_the_checks(anonymous, viewer) -> None:
    response = anonymous.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert anonymous.get("/api/health").status_code == 401
    checks = viewer.get("/api/health")
    assert checks.get_json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_nothing_is_accepted_while_the_embedded_pipeline_is_down(embedded) -> None:
    app = create_app(embedded)  # its stages were never started
    keys = issue_keys(embedded)
    client, viewer = calling_as(app, keys[Role.SUBMITTER]), calling_as(app, keys[Role.VIEWER])
    response = client.post("/transaction", json=EXAMPLE)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"].endswith("nothing was accepted")
    assert embedded.bus().read_topic("transactions") == []
    health = client.get("/health")
    assert health.status_code == 503
    assert health.headers["Retry-After"] == "1"
    assert health.get_json() == {"status": "unhealthy"}
    assert viewer.get("/api/health").get_json()["pipeline"] == "stopped"


def test_the_embedded_pipeline_once_started_accepts_and_is_healthy(embedded) -> None:
    pipeline = embedded.pipeline()
    pipeline.start()
    try:
        app = create_app(embedded)
        keys = issue_keys(embedded)
        viewer = calling_as(app, keys[Role.VIEWER])
        assert viewer.get("/api/health").get_json() == {
            "status": "ok",
            "database": "ok",
            "broker": "ok",
            "pipeline": "ok",
        }
        client = calling_as(app, keys[Role.SUBMITTER])
        assert client.post("/transaction", json=EXAMPLE).status_code == 202
    finally:
        pipeline.stop()


def test_a_transient_failure_is_a_503_with_retry_after(container) -> None:
    from fraud.domain.errors import TransientFailure

    class LockedBus:
        def publish(self, topic, messages):
            raise TransientFailure("database is locked")

    container.bus.override(LockedBus())
    client = calling_as(create_app(container), issue_keys(container)[Role.SUBMITTER])
    response = client.post("/transaction", json=EXAMPLE)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"


def test_an_id_with_a_slash_can_be_read_back_where_location_says(client) -> None:
    response = client.post("/transaction", json=payload(transaction_id="shop-7/order-42"))
    assert response.status_code == 202
    assert client.get(response.headers["Location"]).get_json()["status"] == "pending"


# --- an answer while the card waits ------------------------------------------------------


def test_asked_to_wait_a_transaction_decided_in_time_gets_200_with_its_verdict(embedded) -> None:
    pipeline = embedded.pipeline()
    pipeline.start()
    try:
        client = calling_as(create_app(embedded), issue_keys(embedded)[Role.SUBMITTER])
        response = client.post("/transaction?wait=500", json=payload(transaction_id="w-1"))
        assert response.status_code == 200
        verdict = response.get_json()
        assert verdict["transaction_id"] == "w-1"
        assert verdict["status"] == "scored"
        assert verdict["decision"] in ("approve", "review", "decline")
        assert verdict["reasons"] and verdict["model_version"] == "rule-model-1"
        assert "features" not in verdict  # a submitter sees the verdict only
        assert response.headers["Location"] == "/transaction/w-1"
        # Asked again, already decided: the stored verdict, at once.
        again = client.post("/transaction?wait=500", json=payload(transaction_id="w-1"))
        assert again.status_code == 200
        assert again.get_json()["fraud_score"] == verdict["fraud_score"]
    finally:
        pipeline.stop()


def test_asked_to_wait_a_transaction_not_decided_in_time_gets_the_usual_202(
    client, container
) -> None:
    response = client.post("/transaction?wait=50", json=payload(transaction_id="w-2"))
    assert response.status_code == 202  # no stage runs here: nothing decides it
    assert response.get_json() == {"transaction_id": "w-2", "status": "pending", "duplicate": False}
    settle(container)  # decided later: read where Location says
    assert client.get("/transaction/w-2").get_json()["status"] == "scored"


@pytest.mark.parametrize("wait", ["501", "-1", "soon", "1.5"])
def test_a_wait_beyond_the_maximum_or_not_a_number_is_a_422_naming_it(client, wait) -> None:
    response = client.post(f"/transaction?wait={wait}", json=payload(transaction_id="w-3"))
    assert response.status_code == 422
    assert response.get_json()["details"] == [
        {"field": "wait", "rule": "must be a whole number of milliseconds, 0 to 500"}
    ]
    assert client.get("/transaction/w-3").status_code == 404  # nothing was accepted


# --- many at once --------------------------------------------------------------------------


def test_a_batch_answers_each_item_at_its_place_and_accepts_the_good_ones(
    client, container
) -> None:
    client.post("/transaction", json=payload(transaction_id="b-old"))
    items = [
        payload(transaction_id="b-1"),
        payload(transaction_id="b-2", amount=-5),
        payload(transaction_id="b-old"),  # the same again: a duplicate
        payload(transaction_id="b-old", amount=999.0),  # the id, other fields: a conflict
        {"amount": "lots"},
        payload(transaction_id="b-3"),
        payload(transaction_id="b-3"),  # twice in one batch: one transaction
    ]
    response = client.post("/transactions", json={"transactions": items})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["accepted"], body["duplicates"], body["refused"]) == (2, 2, 3)
    results = body["results"]
    assert [r["index"] for r in results] == list(range(7))
    assert [r["outcome"] for r in results] == [
        "accepted",
        "invalid",
        "duplicate",
        "conflict",
        "invalid",
        "accepted",
        "duplicate",
    ]
    assert results[0] == {
        "index": 0,
        "transaction_id": "b-1",
        "outcome": "accepted",
        "status": "pending",
    }
    assert results[1]["transaction_id"] == "b-2"
    assert results[1]["details"] == [{"field": "amount", "rule": "must be 0 or more"}]
    assert "transaction_id" not in results[4]
    assert {d["field"] for d in results[4]["details"]} >= {"amount", "user_id"}
    assert "another transaction" in results[3]["error"]
    published = [m.headers["transaction_id"] for m in container.bus().read_topic("transactions")]
    assert sorted(published) == ["b-1", "b-3", "b-old"]
    settle(container)
    assert client.get("/transaction/b-3").get_json()["status"] == "scored"
    assert client.get("/transaction/b-2").status_code == 404


@pytest.mark.parametrize(
    "body",
    [{"transactions": []}, {"transactions": [EXAMPLE] * 1001}, [EXAMPLE], {"items": [EXAMPLE]}],
    ids=["empty", "over 1000", "a bare list", "no transactions"],
)
def test_a_batch_that_is_not_1_to_1000_transactions_is_a_422(client, body) -> None:
    response = client.post("/transactions", json=body)
    assert response.status_code == 422
    assert response.get_json()["details"] == [
        {"field": "transactions", "rule": "must be a list of 1 to 1000 transactions"}
    ]


def test_a_batch_of_1000_fits_in_the_larger_body_a_batch_may_have(client) -> None:
    items = [payload(transaction_id=f"big-{i}") for i in range(1000)]
    response = client.post("/transactions", json={"transactions": items})
    assert response.status_code == 200
    assert response.get_json()["accepted"] == 1000


def test_a_batch_over_1_mib_is_a_413(client) -> None:
    too_big = json.dumps({"transactions": [payload(merchant="x" * 2000)] * 600})
    response = client.post("/transactions", data=too_big, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"] == "request body is larger than 1024 KiB"


def test_a_viewer_may_not_submit_a_batch(viewer) -> None:
    assert viewer.post("/transactions", json={"transactions": [EXAMPLE]}).status_code == 403
