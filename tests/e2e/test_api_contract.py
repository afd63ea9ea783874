"""Schemathesis against a live `fraud run`: every operation /openapi.json documents, fed
generated requests, valid and invalid, with the key of a role the operation admits,
never answers 5xx nor anything the document does not say.

The document is read when the tests are collected, from the app on in-memory adapters, so
that each operation is a test of its own, dealt to two xdist workers (tests/tiers.py), each
with a live service of its own; the live service's document is checked to be that same one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fraud.containers import bootstrap
from fraud.domain.identity import Role
from fraud.entrypoints.http.app import create_app
from fraud.settings import Settings
from tests.fakes import FixedClock, RuleModel
from tests.processes import Service, start_service, stop_service
from tests.unit.conftest import calling_as, in_memory, issue_keys

pytestmark = pytest.mark.e2e

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


def documented() -> dict[str, Any]:
    """/openapi.json as the app serves it, on in-memory adapters."""
    container = in_memory(
        bootstrap(Settings(database_url="sqlite://", model_dir="unused")), RuleModel(), FixedClock()
    )
    try:
        viewer = calling_as(create_app(container), issue_keys(container)[Role.VIEWER])
        return viewer.get("/openapi.json").get_json()
    finally:
        container.unwire()


DOCUMENT = documented()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="session")
def live_service(tmp_path_factory, small_model) -> Iterator[Service]:
    """One `fraud run` per xdist worker given operations (two in all)."""
    service = start_service(tmp_path_factory.mktemp("contract"), small_model)
    yield service
    stop_service(service)


def test_the_live_service_documents_what_the_tests_were_made_from(live_service) -> None:
    viewer = live_service.client(Role.VIEWER)
    served = viewer.get(f"{live_service.url}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, live_service: Service
) -> None:
    roles = case.operation.definition.raw.get("x-roles")
    headers = {}
    if roles:  # the first role that may: authenticated, and let through
        headers["Authorization"] = f"Bearer {live_service.keys[Role(roles[0])]}"
    case.call_and_validate(base_url=live_service.url, headers=headers, checks=CHECKS)
