"""Analyst feedback over HTTP: label a transaction, read the label back, bad requests."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from fraud.adapters.csv.labelled import read_labelled
from fraud.domain.errors import InvalidLabel
from fraud.domain.labels import LabelRequest
from tests.factories import payload
from tests.unit.conftest import settle


def submitted(client: FlaskClient, transaction_id: str = "order-1") -> str:
    response = client.post("/transaction", json=payload(transaction_id=transaction_id))
    assert response.status_code == 202
    return transaction_id


def test_a_label_is_recorded_and_shown_with_the_transaction(client, container) -> None:
    transaction_id = submitted(client)
    settle(container)

    response = client.post(
        f"/transaction/{transaction_id}/label", json={"is_fraud": True, "analyst": "ana"}
    )

    assert response.status_code == 200
    label = {"is_fraud": True, "analyst": "ana", "labelled_at": "2025-01-01T12:00:00Z"}
    assert response.get_json()["label"] == label
    shown = client.get(f"/transaction/{transaction_id}").get_json()
    assert shown["label"] == label
    assert shown["status"] == "scored"


def test_an_unlabelled_transaction_shows_no_label(client) -> None:
    transaction_id = submitted(client)
    assert "label" not in client.get(f"/transaction/{transaction_id}").get_json()


def test_a_relabel_overwrites_and_the_analyst_defaults_to_the_header(
    client, container, clock
) -> None:
    transaction_id = submitted(client)
    client.post(f"/transaction/{transaction_id}/label", json={"is_fraud": True})
    assert client.get(f"/transaction/{transaction_id}").get_json()["label"]["analyst"] == (
        "anonymous"
    )
    clock.current += timedelta(minutes=5)

    response = client.post(
        f"/transaction/{transaction_id}/label",
        json={"is_fraud": False},
        headers={"X-Analyst": "bob"},
    )

    assert response.status_code == 200
    assert client.get(f"/transaction/{transaction_id}").get_json()["label"] == {
        "is_fraud": False,
        "analyst": "bob",
        "labelled_at": "2025-01-01T12:05:00Z",
    }


def test_a_later_verdict_keeps_the_label(client, container) -> None:
    transaction_id = submitted(client)
    client.post(f"/transaction/{transaction_id}/label", json={"is_fraud": True})
    settle(container)  # the verdict is saved after the label
    shown = client.get(f"/transaction/{transaction_id}").get_json()
    assert shown["status"] == "scored"
    assert shown["label"]["is_fraud"] is True


def test_labelling_an_unknown_transaction_is_a_404(client) -> None:
    response = client.post("/transaction/nope/label", json={"is_fraud": True})
    assert response.status_code == 404
    assert response.get_json()["error"] == "no transaction with id 'nope'"


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, [{"field": "is_fraud", "rule": "is required"}]),
        ({"is_fraud": 1}, [{"field": "is_fraud", "rule": "must be true or false"}]),
        ({"is_fraud": "true"}, [{"field": "is_fraud", "rule": "must be true or false"}]),
        (
            {"is_fraud": True, "analyst": ""},
            [{"field": "analyst", "rule": "must be 1 to 64 characters long"}],
        ),
        (
            {"is_fraud": True, "analyst": "x" * 65},
            [{"field": "analyst", "rule": "must be 1 to 64 characters long"}],
        ),
        (
            {"is_fraud": True, "analyst": "a\nb"},
            [{"field": "analyst", "rule": "must contain only printable characters"}],
        ),
        (
            {"is_fraud": None, "analyst": 7},
            [
                {"field": "is_fraud", "rule": "is required"},
                {"field": "analyst", "rule": "must be a string"},
            ],
        ),
        ([True], [{"field": "body", "rule": "must be a JSON object"}]),
    ],
)
def test_a_bad_label_is_a_422_naming_each_field(client, body, details) -> None:
    transaction_id = submitted(client)
    response = client.post(f"/transaction/{transaction_id}/label", json=body)
    assert response.status_code == 422
    assert response.get_json() == {
        "error": "the label breaks the contract",
        "status": 422,
        "details": details,
    }
    assert "label" not in client.get(f"/transaction/{transaction_id}").get_json()


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe"])
def test_a_malformed_label_body_is_a_400(client, raw: bytes) -> None:
    transaction_id = submitted(client)
    response = client.post(
        f"/transaction/{transaction_id}/label", data=raw, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.is_json


def test_an_id_with_slashes_can_be_labelled(client) -> None:
    transaction_id = submitted(client, "shop/order/9")
    response = client.post(
        f"/transaction/{transaction_id}/label",
        data=json.dumps({"is_fraud": True}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.get_json()["transaction_id"] == "shop/order/9"


def test_the_label_request_parses_the_analyst_default() -> None:
    assert LabelRequest.parse({"is_fraud": False}) == LabelRequest(False, "anonymous")
    assert LabelRequest.parse({"is_fraud": True}, default_analyst="eve").analyst == "eve"
    with pytest.raises(InvalidLabel, match="analyst: must be 1 to 64"):
        LabelRequest.parse({"is_fraud": True}, default_analyst="")


def test_export_and_precision_follow_the_labels(client, container, clock, tmp_path) -> None:
    for i in range(3):
        submitted(client, f"e{i}")
    settle(container)
    label = container.label_transaction()
    assert label("e2", True, "ana") is not None
    clock.current += timedelta(seconds=1)
    assert label("e0", False, "ana") is not None
    assert label("missing", True, "ana") is None

    exported = container.export_labels()(tmp_path / "labels.csv")
    assert (exported.written, exported.frauds) == (2, 1)
    assert [
        (row.transaction.transaction_id, row.is_fraud)
        for row in read_labelled(tmp_path / "labels.csv")
    ] == [("e2", True), ("e0", False)]
    figures = container.dashboard_figures()().label_precision
    assert set(figures) == {"review", "decline"}
    stats = client.get("/api/dashboard").get_json()
    assert stats["label_precision"] == figures
    clock.current += timedelta(days=8)  # past the window the precision counts
    assert all(
        counts == {"confirmed": 0, "cleared": 0, "unlabelled": 0}
        for counts in container.dashboard_figures()().label_precision.values()
    )
