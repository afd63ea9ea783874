"""/openapi.json describes the app's own routes and the domain's own rules; /docs shows it
with the Swagger UI the package serves itself."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask_smorest.spec.plugins import FlaskPlugin
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from fraud.domain.currencies import ISO_4217_CODES
from fraud.domain.errors import InvalidLabel, InvalidTransaction
from fraud.domain.identity import Role
from fraud.domain.labels import LabelRequest
from fraud.domain.transaction import (
    DEFAULT_CURRENCY,
    KNOWN_DEVICE_TYPES,
    KNOWN_MERCHANT_TYPES,
    Transaction,
)
from fraud.entrypoints.http.openapi import IMPLICIT_METHODS
from tests.factories import payload
from tests.unit.conftest import calling_as, settle

# Served for people, not programs: the documentation itself, static files, HTML pages.
UNDOCUMENTED = re.compile(
    r"^/(docs|openapi\.json|static/.*|dashboard/.*|signin|signout|admin(/.*)?)?$"
)
# The dashboard's JSON endpoints are being rewritten; their @operation comes with the
# rewrite. Empty this set then: the test fails until it is.
AWAITING_DOCUMENTATION: set[str] = set()


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_document_is_valid_openapi(document) -> None:
    validate(document)


def test_readers_who_first_ask_at_once_get_one_whole_document(app, keys) -> None:
    """The operations are written into the document on its first reading: readers on several
    threads at once each get it whole, and the same (written twice, it would name its
    operations and schemas twice, which apispec refuses with a 500)."""
    readers = 8
    together = threading.Barrier(readers)

    def read(_: int) -> tuple[int, bytes]:
        viewer = calling_as(app, keys[Role.VIEWER])
        together.wait()
        answer = viewer.get("/openapi.json")
        return answer.status_code, answer.data

    with ThreadPoolExecutor(readers) as pool:
        answers = list(pool.map(read, range(readers)))
    assert [status for status, _ in answers] == [200] * readers
    assert len({body for _, body in answers}) == 1
    assert len(json.loads(answers[0][1])["paths"]) > 50


def test_every_endpoint_but_the_pages_is_documented(client, document) -> None:
    undocumented = {
        rule.rule
        for rule in client.application.url_map.iter_rules()
        if not UNDOCUMENTED.match(rule.rule)
        for method in rule.methods - IMPLICIT_METHODS
        if method.lower() not in document["paths"].get(FlaskPlugin.flaskpath2openapi(rule.rule), {})
    }
    assert undocumented == AWAITING_DOCUMENTATION


def test_every_operation_has_a_summary_and_an_id(document) -> None:
    operations = [
        operation
        for item in document["paths"].values()
        for method, operation in item.items()
        if method != "parameters"
    ]
    assert all(op["summary"] for op in operations)
    assert len({op["operationId"] for op in operations}) == len(operations)


def test_every_section_of_the_document_has_operations_and_a_description(document) -> None:
    used = {
        tag
        for item in document["paths"].values()
        for method, operation in item.items()
        if method != "parameters"
        for tag in operation["tags"]
    }
    sections = {tag["name"]: tag.get("description", "") for tag in document["tags"]}
    assert set(sections) == used  # no empty section, no operation outside a described one
    assert all(description for description in sections.values())
    assert next(iter(sections)) == "transactions"


def test_the_submit_operation_documents_every_status_it_answers(document) -> None:
    submit = document["paths"]["/transaction"]["post"]
    assert set(submit["responses"]) == {
        "200",
        "202",
        "400",
        "401",
        "403",
        "409",
        "413",
        "415",
        "422",
        "429",
        "503",
    }
    assert submit["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert submit["responses"]["202"]["headers"]["Location"]["required"] is True
    assert submit["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Verdict"
    }
    assert [p["name"] for p in document["paths"]["/transaction"]["parameters"]] == ["wait"]


def test_the_batch_operation_documents_its_body_and_each_items_answer(document) -> None:
    batch = document["paths"]["/transactions"]["post"]
    body = batch["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Batch"}
    items = document["components"]["schemas"]["Batch"]["properties"]["transactions"]
    assert (items["minItems"], items["maxItems"]) == (1, 1000)
    item = document["components"]["schemas"]["BatchItem"]["properties"]
    assert item["outcome"]["enum"] == ["accepted", "duplicate", "conflict", "invalid"]
    assert {"200", "413", "422"} <= set(batch["responses"])
    assert "413" not in document["paths"]["/transaction/{transaction_id}"]["get"]["responses"]


def test_the_transaction_schema_lists_the_domains_values(document) -> None:
    fields = document["components"]["schemas"]["Transaction"]["properties"]
    assert fields["currency"]["enum"] == [*sorted(ISO_4217_CODES), None]
    assert fields["currency"]["default"] == DEFAULT_CURRENCY
    assert fields["merchant_type"]["examples"] == list(KNOWN_MERCHANT_TYPES)
    assert fields["device_type"]["examples"] == list(KNOWN_DEVICE_TYPES)


def _transaction_refuses(**fields) -> bool:
    try:
        Transaction.parse(payload(**fields), new_id=lambda: "generated")
    except InvalidTransaction:
        return True
    return False


@pytest.mark.parametrize(
    "field", ["transaction_id", "user_id", "merchant", "merchant_type", "device_type"]
)
def test_a_documented_length_is_the_domains(document, field: str) -> None:
    schema = document["components"]["schemas"]["Transaction"]["properties"][field]
    assert not _transaction_refuses(**{field: "x" * schema["maxLength"]})
    assert _transaction_refuses(**{field: "x" * (schema["maxLength"] + 1)})
    assert _transaction_refuses(**{field: "x" * (schema["minLength"] - 1)})


def test_the_documented_amount_range_is_the_domains(document) -> None:
    amount = document["components"]["schemas"]["Transaction"]["properties"]["amount"]
    assert not _transaction_refuses(amount=amount["maximum"])
    assert _transaction_refuses(amount=amount["maximum"] + 1)
    assert not _transaction_refuses(amount=amount["minimum"])  # an account verification
    assert _transaction_refuses(amount=amount["minimum"] - 0.01)


def test_the_label_request_documents_the_verdict_alone(document) -> None:
    label = document["components"]["schemas"]["LabelRequest"]
    assert set(label["properties"]) == {"is_fraud"}
    LabelRequest.parse(label["examples"][0])
    with pytest.raises(InvalidLabel):
        LabelRequest.parse({"is_fraud": True, "analyst": "someone else"})


def test_the_documented_example_is_a_valid_transaction(document) -> None:
    (example,) = document["components"]["schemas"]["Transaction"]["examples"]
    Transaction.parse(example, new_id=lambda: "example")


def _conforms(document: dict, path: str, method: str, response) -> None:
    """``response``'s body validates against the schema the document gives its status."""
    operation = document["paths"][path][method]
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]
    # Beside the document's components, its "#/components/..." references resolve.
    rooted = {**schema["schema"], "components": document["components"]}
    Draft202012Validator(rooted).validate(response.get_json())


def test_every_answer_is_the_shape_its_schema_declares(
    client, admin, anonymous, container, document
) -> None:
    """One declaration serialises the body and documents it: they cannot drift apart."""
    accepted = client.post("/transaction", json=payload(transaction_id="shape-1", amount=9000.0))
    _conforms(document, "/transaction", "post", accepted)
    pending = client.get("/transaction/shape-1")
    _conforms(document, "/transaction/{transaction_id}", "get", pending)
    assert "fraud_score" not in pending.get_json()  # what does not apply yet is left out
    settle(container)
    labelled = admin.post("/transaction/shape-1/label", json={"is_fraud": True})
    _conforms(document, "/transaction/{transaction_id}/label", "post", labelled)
    assert {"fraud_score", "decision", "label", "features"} <= set(labelled.get_json())
    _conforms(document, "/transaction/{transaction_id}", "get", client.get("/transaction/shape-1"))
    for path in (
        "/api/dashboard",
        "/api/activity",
        "/api/model",
        "/api/pipeline",
        "/api/health",
        "/api/keys",
        "/api/users",
        "/api/audit",
    ):
        _conforms(document, path, "get", admin.get(path))
    _conforms(document, "/health", "get", anonymous.get("/health"))
    created = admin.post("/api/keys", json={"name": "shape", "role": "viewer"})
    _conforms(document, "/api/keys", "post", created)
    added = admin.post("/api/users", json={"name": "shape", "role": "viewer"})
    _conforms(document, "/api/users", "post", added)
    refused = client.post("/transaction", json=payload(amount=-1))
    _conforms(document, "/transaction", "post", refused)
    unknown = client.get("/transaction/nope")
    _conforms(document, "/transaction/{transaction_id}", "get", unknown)
    bad_limit = admin.get("/api/dashboard?limit=0")
    _conforms(document, "/api/dashboard", "get", bad_limit)
    for refusal in (anonymous.get("/api/dashboard"), client.get("/api/dashboard")):
        _conforms(document, "/api/dashboard", "get", refusal)


def test_the_docs_page_runs_swagger_ui_from_local_files(client) -> None:
    """Any identity may read the documentation, a system's developers too."""
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:<script[^>]* src|<link[^>]* href)="([^"]+)"', html)
    assert {
        "/static/vendor/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui.css",
        "/static/docs.js",
    } <= set(assets)
    assert 'data-spec-url="/openapi.json"' in html
    for asset in assets:
        if asset.startswith("data:"):  # inline (the empty icon): nothing is fetched
            continue
        assert asset.startswith("/"), f"{asset} is not served by the app"
        assert client.get(asset).status_code == 200
