"""Schemathesis against a live `fraud run`: every operation /openapi.json documents, fed
generated requests, valid and invalid, with the key of a role the operation admits,
never answers 5xx nor anything the document does not say."""

from __future__ import annotations

from collections.abc import Iterator

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

from fraud.domain.identity import Role
from tests.processes import Service, start_service, stop_service

pytestmark = pytest.mark.e2e

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def live_service(tmp_path_factory, small_model) -> Iterator[Service]:
    service = start_service(tmp_path_factory.mktemp("contract"), small_model)
    yield service
    stop_service(service)


@pytest.fixture(scope="module")
def live_schema(live_service: Service) -> schemathesis.BaseSchema:
    docs = live_service.keys[Role.VIEWER]
    return schemathesis.openapi.from_url(
        f"{live_service.url}/openapi.json", headers={"Authorization": f"Bearer {docs}"}
    )


schema = schemathesis.pytest.from_fixture("live_schema")


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
    case.call_and_validate(headers=headers, checks=CHECKS)
