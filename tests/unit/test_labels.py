"""Analyst feedback over HTTP: label a transaction, read the label back, bad requests."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from fraud.adapters.csv.labelled import read_labelled
from fraud.domain.errors import InvalidLabel
from fraud.domain.identity import Actor
from fraud.domain.labels import LabelRequest
from tests.factories import payload
from tests.unit.conftest import settle


def submitted(client: FlaskClient, transaction_id: str = "order-1") -> str:
    response = client.post("/transaction", json=payload(transaction_id=transaction_id))
    assert response.status_code == 202
    return transaction_id


def test_a_label_is_recorded_and_shown_with_the_transaction(client, analyst, container) -> None:
    transaction_id = submitted(client)
    settle(container)

    response = analyst.post(f"/transaction/{transaction_id}/label", json={"is_fraud": True})

    assert response.status_code == 200
    label = {"is_fraud": True, "analyst": "key:analyst", "labelled_at": "2025-01-01T12:00:00Z"}
    assert response.get_json()["label"] == label
    shown = analyst.get(f"/transaction/{transaction_id}").get_json()
    assert shown["label"] == label
    assert shown["status"] == "scored"


def test_an_unlabelled_transaction_shows_no_label(client, viewer) -> None:
    transaction_id = submitted(client)
    assert "label" not in viewer.get(f"/transaction/{transaction_id}").get_json()


def test_a_relabel_is_the_label_and_the_history_keeps_both(client, analyst, admin, clock) -> None:
    transaction_id = submitted(client)
    analyst.post(f"/transaction/{transaction_id}/label", json={"is_fraud": True})
    clock.current += timedelta(minutes=5)

    response = admin.post(f"/transaction/{transaction_id}/label", json={"is_fraud": False})

    assert response.status_code == 200
    shown = analyst.get(f"/transaction/{transaction_id}").get_json()
    assert shown["label"] == {
        "is_fraud": False,
        "analyst": "key:admin",
        "labelled_at": "2025-01-01T12:05:00Z",
    }
    assert [(c["analyst"], c["is_fraud"], c["previous"]) for c in shown["label_history"]] == [
        ("key:analyst", True, None),
        ("key:admin", False, True),
    ]


def test_the_labeller_is_who_signed_in_never_a_header_or_a_body_field(client, analyst) -> None:
    transaction_id = submitted(client)
    named = analyst.post(
        f"/transaction/{transaction_id}/label",
        json={"is_fraud": True, "analyst": "mallory"},
    )
    assert named.status_code == 422
    assert named.get_json()["details"] == [
        {"field": "analyst", "rule": "is who signed in (or the key's name); leave it out"}
    ]
    headed = analyst.post(
        f"/transaction/{transaction_id}/label",
        json={"is_fraud": True},
        headers={"X-Analyst": "mallory"},
    )
    assert headed.get_json()["label"]["analyst"] == "key:analyst"


def test_every_label_is_in_the_audit_log_with_who_and_from_where(
    client, analyst, container
) -> None:
    transaction_id = submitted(client)
    analyst.post(
        f"/transaction/{transaction_id}/label",
        json={"is_fraud": True},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    (event, *_) = container.audit_trail()(10)
    assert (event.actor, event.action, event.target, event.source, event.detail) == (
        "key:analyst",
        "label",
        transaction_id,
        "10.1.2.3",
        "fraud",
    )


@pytest.mark.parametrize("who", ["client", "viewer", "anonymous"])
def test_only_a_role_that_may_label_can(client, request, who: str) -> None:
    transaction_id = submitted(client)
    caller = request.getfixturevalue(who)
    response = caller.post(f"/transaction/{transaction_id}/label", json={"is_fraud": True})
    assert response.status_code == (401 if who == "anonymous" else 403)


def test_a_later_verdict_keeps_the_label(client, analyst, container) -> None:
    transaction_id = submitted(client)
    analyst.post(f"/transaction/{transaction_id}/label", json={"is_fraud": True})
    settle(container)  # the verdict is saved after the label
    shown = analyst.get(f"/transaction/{transaction_id}").get_json()
    assert shown["status"] == "scored"
    assert shown["label"]["is_fraud"] is True


def test_labelling_an_unknown_transaction_is_a_404(analyst) -> None:
    response = analyst.post("/transaction/nope/label", json={"is_fraud": True})
    assert response.status_code == 404
    assert response.get_json()["error"] == "no transaction with id 'nope'"


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, [{"field": "is_fraud", "rule": "is required"}]),
        ({"is_fraud": 1}, [{"field": "is_fraud", "rule": "must be true or false"}]),
        ({"is_fraud": "true"}, [{"field": "is_fraud", "rule": "must be true or false"}]),
        (
            {"is_fraud": None, "analyst": 7},
            [
                {"field": "is_fraud", "rule": "is required"},
                {"field": "analyst", "rule": "is who signed in (or the key's name); leave it out"},
            ],
        ),
        ([True], [{"field": "body", "rule": "must be a JSON object"}]),
    ],
)
def test_a_bad_label_is_a_422_naming_each_field(client, analyst, body, details) -> None:
    transaction_id = submitted(client)
    response = analyst.post(f"/transaction/{transaction_id}/label", json=body)
    assert response.status_code == 422
    assert response.get_json() == {
        "error": "the label breaks the contract",
        "status": 422,
        "details": details,
    }
    assert "label" not in analyst.get(f"/transaction/{transaction_id}").get_json()


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe"])
def test_a_malformed_label_body_is_a_400(client, analyst, raw: bytes) -> None:
    transaction_id = submitted(client)
    response = analyst.post(
        f"/transaction/{transaction_id}/label", data=raw, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.is_json


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_label_body_that_is_not_declared_json_is_a_415(
    client, analyst, content_type: str
) -> None:
    """The bodies a browser sends cross-site without a preflight are never read."""
    transaction_id = submitted(client)
    response = analyst.post(
        f"/transaction/{transaction_id}/label",
        data=json.dumps({"is_fraud": True}),
        content_type=content_type,
    )
    assert response.status_code == 415
    assert "application/json" in response.get_json()["error"]
    assert "label" not in analyst.get(f"/transaction/{transaction_id}").get_json()


def test_an_id_with_slashes_can_be_labelled(client, analyst) -> None:
    transaction_id = submitted(client, "shop/order/9")
    response = analyst.post(
        f"/transaction/{transaction_id}/label",
        data=json.dumps({"is_fraud": True}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.get_json()["transaction_id"] == "shop/order/9"


def test_the_label_request_is_the_verdict_alone() -> None:
    assert LabelRequest.parse({"is_fraud": False}) == LabelRequest(False)
    with pytest.raises(InvalidLabel, match="analyst: is who signed in"):
        LabelRequest.parse({"is_fraud": True, "analyst": "eve"})


def test_export_and_precision_follow_the_labels(client, viewer, container, clock, tmp_path) -> None:
    for i in range(3):
        submitted(client, f"e{i}")
    settle(container)
    label = container.label_transaction()
    ana = Actor("ana", "10.0.0.1")
    assert label("e2", True, ana) is not None
    clock.current += timedelta(seconds=1)
    assert label("e0", False, ana) is not None
    assert label("missing", True, ana) is None

    exported = container.export_labels()(tmp_path / "labels.csv")
    assert (exported.written, exported.frauds) == (2, 1)
    assert [
        (row.transaction.transaction_id, row.is_fraud)
        for row in read_labelled(tmp_path / "labels.csv")
    ] == [("e2", True), ("e0", False)]
    figures = container.dashboard_figures()().label_precision
    assert set(figures) == {"review", "decline"}
    stats = viewer.get("/api/dashboard").get_json()
    assert stats["label_precision"] == figures
    clock.current += timedelta(days=8)  # past the window the precision counts
    assert all(
        counts == {"confirmed": 0, "cleared": 0, "unlabelled": 0}
        for counts in container.dashboard_figures()().label_precision.values()
    )
