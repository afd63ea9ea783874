"""The submit path's availability SLI: every answer to POST /transaction and /transactions
counted per route and status class on /metrics, whatever produced it."""

from __future__ import annotations

from flask.testing import FlaskClient

from fraud.containers import Container
from fraud.domain.identity import Role
from fraud.entrypoints.http.app import create_app
from tests.factories import payload
from tests.unit.conftest import calling_as, issue_keys


def answers(container: Container, route: str, code: str) -> float:
    registry = container.metrics().registry
    value = registry.get_sample_value("fraud_submit_requests_total", {"route": route, "code": code})
    return value or 0.0


def test_each_answer_to_a_submission_is_counted_by_route_and_class(
    client: FlaskClient, container: Container, keys: dict[Role, str]
) -> None:
    assert client.post("/transaction", json=payload()).status_code == 202
    assert client.post("/transaction", json=payload(amount=-3)).status_code == 422
    batch = {"transactions": [payload(transaction_id="b-1"), payload(transaction_id="b-2")]}
    assert client.post("/transactions", json=batch).status_code == 200
    client.get("/transaction/unknown")  # a read is not a submission

    assert answers(container, "/transaction", "2xx") == 1
    assert answers(container, "/transaction", "4xx") == 1
    assert answers(container, "/transactions", "2xx") == 1
    scrape = calling_as(client.application, keys[Role.METRICS]).get("/metrics").text
    assert 'fraud_submit_requests_total{code="4xx",route="/transaction"} 1.0' in scrape


def test_a_submission_the_service_cannot_take_counts_against_availability(
    embedded: Container,
) -> None:
    app = create_app(embedded)  # its pipeline never started: submissions are refused
    client = calling_as(app, issue_keys(embedded)[Role.SUBMITTER])

    assert client.post("/transaction", json=payload()).status_code == 503

    assert answers(embedded, "/transaction", "5xx") == 1
