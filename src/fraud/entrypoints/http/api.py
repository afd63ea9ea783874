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
from fraud.domain.identity import Permission, seen_by
from fraud.domain.labels import LabelRequest
from fraud.domain.ports import MessageBus, VerdictQueries
from fraud.domain.transaction import MAX_ID_LENGTH
from fraud.entrypoints.http.access import (
    PUBLIC,
    current_actor,
    current_principal,
    requires,
)
from fraud.entrypoints.http.errors import ApiError
from fraud.entrypoints.http.openapi import (
    NOT_JSON,
    TOO_LARGE,
    UNAVAILABLE,
    request_body,
)
from fraud.entrypoints.http.schemas import (
    LOCATION,
    RETRY_AFTER,
    AcceptedSchema,
    ErrorSchema,
    HealthChecksSchema,
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


def json_body() -> Any:
    """The body as strict JSON (RFC 8259), parsed as the bus serializes it: UTF-8 only,
    no NaN, no lone surrogates, nesting at most 1024 deep, so what is accepted here can
    be published; the standard library would let those through, or crash on them.

    Only a body that says it is JSON is read: a form a browser may send cross-site
    without asking (``text/plain``, ``application/x-www-form-urlencoded``) is a 415."""
    if request.mimetype != "application/json":
        raise ApiError(
            415,
            f"Content-Type must be application/json, not {request.mimetype or 'none'!r}",
        )
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
@api.alt_response(**NOT_JSON)
@api.alt_response(**TOO_LARGE)
@api.alt_response(
    **{
        **UNAVAILABLE,
        "description": "The scoring pipeline is not running, or the database is briefly "
        "unavailable; the error says which. Nothing was accepted. (A broker that is away "
        "does not stop acceptance: the claim is kept and published once it is back.)",
    }
)
@requires(Permission.SUBMIT)
@inject
def submit_transaction(
    submit: SubmitTransactions = Provide[Container.submit],
    pipeline: PipelineStatus = Provide[Container.pipeline_status],
) -> tuple[Submission, int, dict[str, str]]:
    """Accept a transaction for scoring; 202 with where to read the verdict."""
    if pipeline.running() is False:
        raise ApiError(503, "the scoring pipeline is not running; nothing was accepted")
    body = json_body()
    try:
        transaction = submit.parse(body)
    except InvalidTransaction as invalid:
        raise ApiError.breaks_contract("transaction", invalid.errors) from None
    structlog.contextvars.bind_contextvars(transaction_id=transaction.transaction_id)
    try:
        (submission,) = submit([transaction], submitted_by=current_principal().subject)
    except IdempotencyConflict as conflict:
        raise ApiError(409, str(conflict)) from None
    location = url_for("api.read_transaction", transaction_id=submission.transaction_id)
    return submission, 202, {"Location": location}


@api.get("/transaction/<path:transaction_id>", tags=["transactions"], parameters=[TRANSACTION_ID])
@api.response(
    200,
    VerdictSchema,
    description="The transaction and its verdict; to a submitter, only the verdict (no "
    "features, later scorings or labels)",
)
@api.alt_response(
    **{**UNKNOWN_TRANSACTION, "description": "No transaction with this id that you may read"}
)
@api.alt_response(**UNAVAILABLE)
@requires(Permission.READ_OWN)
@inject
def read_transaction(
    transaction_id: str,
    queries: VerdictQueries = Provide[Container.queries],
) -> TransactionRecord:
    """The transaction and its verdict: ``pending`` until scored.

    A submitter reads only what it submitted: another's is a 404, as if it did not exist.
    """
    structlog.contextvars.bind_contextvars(transaction_id=transaction_id)
    stored = queries.get(transaction_id)
    record = None if stored is None else seen_by(current_principal(), stored)
    if record is None:
        raise ApiError(404, f"no transaction with id {transaction_id!r}")
    return record


@api.post(
    "/transaction/<path:transaction_id>/label",
    tags=["transactions"],
    parameters=[TRANSACTION_ID],
)
@api.doc(**request_body(LabelRequestSchema, "the analyst's verdict"))
@api.response(200, VerdictSchema, description="The transaction and its verdict, with the label")
@api.alt_response(**BAD_BODY)
@api.alt_response(**UNKNOWN_TRANSACTION)
@api.alt_response(
    422, schema=ErrorSchema, description="The label breaks the contract: one detail per field"
)
@api.alt_response(**NOT_JSON)
@api.alt_response(**TOO_LARGE)
@api.alt_response(**UNAVAILABLE)
@requires(Permission.LABEL)
@inject
def label(
    transaction_id: str,
    label_transaction: LabelTransaction = Provide[Container.label_transaction],
) -> TransactionRecord:
    """An analyst's verdict on a transaction (fraud or not), given as whoever is signed in
    (or the key's name); the latest label is the transaction's, every one stays in its
    history and in the audit log."""
    structlog.contextvars.bind_contextvars(transaction_id=transaction_id)
    body = json_body()
    try:
        request_ = LabelRequest.parse(body)
    except InvalidLabel as invalid:
        raise ApiError.breaks_contract("label", invalid.errors) from None
    by = current_actor()
    record = label_transaction(transaction_id, request_.is_fraud, by)
    if record is None:
        raise ApiError(404, f"no transaction with id {transaction_id!r}")
    log.info(
        "transaction labelled",
        transaction_id=transaction_id,
        is_fraud=request_.is_fraud,
        analyst=by.subject,
    )
    return record


@api.get("/health", tags=["operations"])
@api.response(200, HealthSchema, description="Up: ok, or degraded (the broker is away)")
@api.alt_response(
    503,
    schema=HealthSchema,
    description="Down: the database, or this process's stages",
    headers={"Retry-After": RETRY_AFTER},
)
@requires(PUBLIC)
@inject
def health(
    queries: VerdictQueries = Provide[Container.queries],
    pipeline: PipelineStatus = Provide[Container.pipeline_status],
    bus: MessageBus = Provide[Container.bus],
) -> tuple[dict[str, str], int]:
    """Liveness and readiness, for load balancers and orchestrators: the status only.

    The checks behind it are at ``/api/health``, for those who may read them.
    """
    checks = _checks(queries, pipeline, bus)
    return {"status": _status(checks)}, 503 if _status(checks) == "unhealthy" else 200


@api.get("/api/health", tags=["operations"])
@api.response(200, HealthChecksSchema, description="Every check, whatever the status")
@requires(Permission.READ)
@inject
def health_checks(
    queries: VerdictQueries = Provide[Container.queries],
    pipeline: PipelineStatus = Provide[Container.pipeline_status],
    bus: MessageBus = Provide[Container.bus],
) -> dict[str, str]:
    """What ``/health`` is made of: the database, the broker and, when embedded, the stages.

    The broker is reported apart: while it is unreachable the service still accepts
    transactions (the outbox publishes them once it is back), so it is degraded, not down.
    """
    checks = _checks(queries, pipeline, bus)
    return {"status": _status(checks), **checks}


def _checks(queries: VerdictQueries, pipeline: PipelineStatus, bus: MessageBus) -> dict[str, str]:
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
    return checks


def _status(checks: dict[str, str]) -> str:
    if checks["database"] != "ok" or checks.get("pipeline") == "stopped":
        return "unhealthy"
    return "ok" if checks["broker"] == "ok" else "degraded"
