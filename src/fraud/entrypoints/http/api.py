"""The REST API: submit a transaction, read its verdict, label it, check health."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from dependency_injector.wiring import Provide, inject
from flask import request, url_for
from flask_smorest import Blueprint

from fraud.application.labels import LabelTransaction
from fraud.application.pipeline import PipelineStatus
from fraud.application.submit import Submission, SubmitTransactions
from fraud.containers import Container
from fraud.domain.assessment import TransactionRecord
from fraud.domain.errors import IdempotencyConflict, InvalidLabel, InvalidTransaction
from fraud.domain.labels import ANALYST_MAX_LENGTH, LabelRequest
from fraud.domain.ports import MessageBus, VerdictQueries
from fraud.domain.transaction import MAX_ID_LENGTH
from fraud.entrypoints.http.errors import ApiError
from fraud.entrypoints.http.openapi import TOO_LARGE, UNAVAILABLE, request_body
from fraud.entrypoints.http.schemas import (
    LOCATION,
    RETRY_AFTER,
    AcceptedSchema,
    ErrorSchema,
    HealthSchema,
    LabelRequestSchema,
    TransactionSchema,
    VerdictSchema,
)

api = Blueprint("api", __name__, description="Transactions: submit, read, label")
log = structlog.get_logger(__name__)

TRANSACTION_ID = {
    "in": "path",
    "name": "transaction_id",
    "description": "the id the submission answered with",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
}
BAD_BODY = {
    "status_code": 400,
    "schema": ErrorSchema,
    "description": "The body is empty or not JSON (RFC 8259, in UTF-8)",
}
UNKNOWN_TRANSACTION = {
    "status_code": 404,
    "schema": ErrorSchema,
    "description": "No transaction with this id",
}


def _json_body() -> Any:
    """The body as strict JSON (RFC 8259), parsed as the bus serializes it: UTF-8 only,
    no NaN, no lone surrogates, nesting at most 1024 deep, so what is accepted here can
    be published; the standard library would let those through, or crash on them."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise ApiError(400, "request body is empty; send a JSON transaction")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(
            400, f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None


@api.post("/transaction", tags=["transactions"])
@api.doc(**request_body(TransactionSchema, "the transaction, in the contract's fields"))
@api.response(
    202,
    AcceptedSchema,
    description="Accepted and pending, or, for a resubmission, what is stored",
    headers={"Location": LOCATION},
)
@api.alt_response(**BAD_BODY)
@api.alt_response(
    409,
    schema=ErrorSchema,
    description="The transaction_id was already used for another transaction",
)
@api.alt_response(
    422, schema=ErrorSchema, description="The transaction breaks the contract: one detail per field"
)
@api.alt_response(**TOO_LARGE)
@api.alt_response(
    **{
        **UNAVAILABLE,
        "description": "The scoring pipeline is not running, or the database is briefly "
        "unavailable; the error says which. Nothing was accepted. (A broker that is away "
        "does not stop acceptance: the claim is kept and published once it is back.)",
    }
)
@inject
def submit_transaction(
    submit: SubmitTransactions = Provide[Container.submit],
    pipeline: PipelineStatus = Provide[Container.pipeline_status],
) -> tuple[Submission, int, dict[str, str]]:
    """Accept a transaction for scoring; 202 with where to read the verdict."""
    if pipeline.running() is False:
        raise ApiError(503, "the scoring pipeline is not running; nothing was accepted")
    body = _json_body()
    try:
        transaction = submit.parse(body)
    except InvalidTransaction as invalid:
        raise ApiError.breaks_contract("transaction", invalid.errors) from None
    structlog.contextvars.bind_contextvars(transaction_id=transaction.transaction_id)
    try:
        (submission,) = submit([transaction])
    except IdempotencyConflict as conflict:
        raise ApiError(409, str(conflict)) from None
    location = url_for("api.read_transaction", transaction_id=submission.transaction_id)
    return submission, 202, {"Location": location}


@api.get("/transaction/<path:transaction_id>", tags=["transactions"], parameters=[TRANSACTION_ID])
@api.response(200, VerdictSchema, description="The transaction and its verdict")
@api.alt_response(**UNKNOWN_TRANSACTION)
@api.alt_response(**UNAVAILABLE)
@inject
def read_transaction(
    transaction_id: str,
    queries: VerdictQueries = Provide[Container.queries],
) -> TransactionRecord:
    """The transaction and its verdict: ``pending`` until scored."""
    structlog.contextvars.bind_contextvars(transaction_id=transaction_id)
    record = queries.get(transaction_id)
    if record is None:
        raise ApiError(404, f"no transaction with id {transaction_id!r}")
    return record


@api.post(
    "/transaction/<path:transaction_id>/label",
    tags=["transactions"],
    parameters=[
        TRANSACTION_ID,
        {
            "in": "header",
            "name": "X-Analyst",
            "required": False,
            "description": "who labels, when the body names nobody: then an analyst's name, "
            f"1 to {ANALYST_MAX_LENGTH} printable characters; ignored otherwise",
            "schema": {"type": "string"},
        },
    ],
)
@api.doc(**request_body(LabelRequestSchema, "the analyst's verdict"))
@api.response(200, VerdictSchema, description="The transaction and its verdict, with the label")
@api.alt_response(**BAD_BODY)
@api.alt_response(**UNKNOWN_TRANSACTION)
@api.alt_response(
    422, schema=ErrorSchema, description="The label breaks the contract: one detail per field"
)
@api.alt_response(**TOO_LARGE)
@api.alt_response(**UNAVAILABLE)
@inject
def label(
    transaction_id: str,
    label_transaction: LabelTransaction = Provide[Container.label_transaction],
) -> TransactionRecord:
    """An analyst's verdict on a transaction (fraud or not); a relabel overwrites."""
    structlog.contextvars.bind_contextvars(transaction_id=transaction_id)
    body = _json_body()
    try:
        request_ = LabelRequest.parse(body, default_analyst=request.headers.get("X-Analyst"))
    except InvalidLabel as invalid:
        raise ApiError.breaks_contract("label", invalid.errors) from None
    record = label_transaction(transaction_id, request_.is_fraud, request_.analyst)
    if record is None:
        raise ApiError(404, f"no transaction with id {transaction_id!r}")
    log.info(
        "transaction labelled",
        transaction_id=transaction_id,
        is_fraud=request_.is_fraud,
        analyst=request_.analyst,
    )
    return record


@api.get("/health", tags=["operations"])
@api.response(200, HealthSchema, description="The database answers and the stages run")
@api.alt_response(
    503,
    schema=HealthSchema,
    description="Something is down: the checks say what",
    headers={"Retry-After": RETRY_AFTER},
)
@inject
def health(
    queries: VerdictQueries = Provide[Container.queries],
    pipeline: PipelineStatus = Provide[Container.pipeline_status],
    bus: MessageBus = Provide[Container.bus],
) -> tuple[dict[str, Any], int]:
    """Liveness and readiness: the database answers and, when embedded, the stages run.

    The broker is reported apart: while it is unreachable the service still accepts
    transactions (the outbox publishes them once it is back), so it is degraded, not down.
    """
    checks: dict[str, str] = {}
    try:
        queries.get("health-check")
        checks["database"] = "ok"
    except Exception as error:  # a health check reports, it does not raise
        checks["database"] = f"error: {type(error).__name__}"
    try:
        checks["broker"] = "ok" if bus.reachable() else "unreachable"
    except Exception:
        checks["broker"] = "unreachable"
    running = pipeline.running()
    if running is not None:
        checks["pipeline"] = "ok" if running else "stopped"
    if checks["database"] != "ok" or checks.get("pipeline") == "stopped":
        return {"status": "unhealthy", "checks": checks}, 503
    status = "ok" if checks["broker"] == "ok" else "degraded"
    return {"status": status, "checks": checks}, 200
