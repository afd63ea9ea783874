"""The REST API: submit a transaction, read its verdict, check health."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import structlog
from dependency_injector.wiring import Provide, inject
from flask import Blueprint, Response, current_app, jsonify, request, url_for

from fraud.application.labels import label_transaction
from fraud.application.queries import get_transaction
from fraud.application.submit import SubmitTransactions
from fraud.containers import Container
from fraud.domain.errors import IdempotencyConflict, InvalidLabel, InvalidTransaction
from fraud.domain.labels import ANALYST_MAX_LENGTH, LabelRequest
from fraud.domain.ports import Clock, UnitOfWorkFactory
from fraud.domain.transaction import Transaction
from fraud.entrypoints.http.errors import ApiError
from fraud.entrypoints.http.openapi import ERROR, header, operation, path, reply
from fraud.entrypoints.http.presenters import record_view
from fraud.entrypoints.http.schemas import (
    ACCEPTED,
    BAD_BODY,
    HEALTH,
    IDENTIFIER,
    LABEL_REQUEST,
    LOCATION,
    RETRY_AFTER,
    TRANSACTION,
    UNAVAILABLE,
    UNKNOWN_TRANSACTION,
    VERDICT,
)

api = Blueprint("api", __name__)
log = structlog.get_logger(__name__)

TRANSACTION_ID = path("transaction_id", IDENTIFIER, "the id the submission answered with")


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


@api.post("/transaction")
@operation(
    tags=["transactions"],
    request=TRANSACTION,
    responses={
        202: reply(
            "Accepted and pending, or, for a resubmission, what is stored",
            ACCEPTED,
            headers={"Location": LOCATION},
        ),
        400: BAD_BODY,
        409: reply("The transaction_id was already used for another transaction", ERROR),
        422: reply("The transaction breaks the contract: one detail per field", ERROR),
        503: reply(
            "The scoring pipeline is not running, or storage or the broker is briefly "
            "unavailable; nothing was accepted",
            ERROR,
            headers={"Retry-After": RETRY_AFTER},
        ),
    },
)
@inject
def submit_transaction(
    submit: SubmitTransactions = Provide[Container.submit],
) -> tuple[Response, int, dict[str, str]]:
    """Accept a transaction for scoring; 202 with where to read the verdict."""
    pipeline = current_app.extensions.get("fraud.pipeline")
    if pipeline is not None and not pipeline.alive():
        raise ApiError(503, "the scoring pipeline is not running; nothing was accepted")
    body = _json_body()
    try:
        transaction = Transaction.parse(body, new_id=lambda: str(uuid.uuid4()))
    except InvalidTransaction as invalid:
        raise ApiError.breaks_contract("transaction", invalid.errors) from None
    structlog.contextvars.bind_contextvars(transaction_id=transaction.transaction_id)
    try:
        (submission,) = submit([transaction])
    except IdempotencyConflict as conflict:
        raise ApiError(409, str(conflict)) from None
    location = url_for("api.read_transaction", transaction_id=submission.transaction_id)
    return (
        jsonify(
            transaction_id=submission.transaction_id,
            status=submission.status.value,
            duplicate=submission.duplicate,
        ),
        202,
        {"Location": location},
    )


@api.get("/transaction/<path:transaction_id>")
@operation(
    tags=["transactions"],
    parameters=[TRANSACTION_ID],
    responses={
        200: reply("The transaction and its verdict", VERDICT),
        404: UNKNOWN_TRANSACTION,
        503: UNAVAILABLE,
    },
)
@inject
def read_transaction(
    transaction_id: str,
    unit_of_work: UnitOfWorkFactory = Provide[Container.unit_of_work],
) -> Response:
    """The transaction and its verdict: ``pending`` until scored."""
    structlog.contextvars.bind_contextvars(transaction_id=transaction_id)
    record = get_transaction(unit_of_work, transaction_id)
    if record is None:
        raise ApiError(404, f"no transaction with id {transaction_id!r}")
    return jsonify(record_view(record))


@api.post("/transaction/<path:transaction_id>/label")
@operation(
    tags=["transactions"],
    request=LABEL_REQUEST,
    parameters=[
        TRANSACTION_ID,
        header(
            "X-Analyst",
            {"type": "string"},
            "who labels, when the body names nobody: then an analyst's name, "
            f"1 to {ANALYST_MAX_LENGTH} printable characters; ignored otherwise",
        ),
    ],
    responses={
        200: reply("The transaction and its verdict, with the label", VERDICT),
        400: BAD_BODY,
        404: UNKNOWN_TRANSACTION,
        422: reply("The label breaks the contract: one detail per field", ERROR),
        503: UNAVAILABLE,
    },
)
@inject
def label(
    transaction_id: str,
    unit_of_work: UnitOfWorkFactory = Provide[Container.unit_of_work],
    clock: Clock = Provide[Container.clock],
) -> Response:
    """An analyst's verdict on a transaction (fraud or not); a relabel overwrites."""
    structlog.contextvars.bind_contextvars(transaction_id=transaction_id)
    body = _json_body()
    try:
        request_ = LabelRequest.parse(body, default_analyst=request.headers.get("X-Analyst"))
    except InvalidLabel as invalid:
        raise ApiError.breaks_contract("label", invalid.errors) from None
    record = label_transaction(
        unit_of_work, clock, transaction_id, request_.is_fraud, request_.analyst
    )
    if record is None:
        raise ApiError(404, f"no transaction with id {transaction_id!r}")
    log.info(
        "transaction labelled",
        transaction_id=transaction_id,
        is_fraud=request_.is_fraud,
        analyst=request_.analyst,
    )
    return jsonify(record_view(record))


@api.get("/health")
@operation(
    tags=["operations"],
    responses={
        200: reply("The database answers and the stages run", HEALTH),
        503: reply("Something is down: the checks say what", HEALTH),
    },
)
@inject
def health(
    unit_of_work: UnitOfWorkFactory = Provide[Container.unit_of_work],
) -> tuple[Response, int]:
    """Liveness and readiness: the database answers and, when embedded, the stages run."""
    checks: dict[str, str] = {}
    try:
        get_transaction(unit_of_work, "health-check")
        checks["database"] = "ok"
    except Exception as error:  # a health check reports, it does not raise
        checks["database"] = f"error: {type(error).__name__}"
    pipeline = current_app.extensions.get("fraud.pipeline")
    if pipeline is not None:
        checks["pipeline"] = "ok" if pipeline.alive() else "stopped"
    healthy = all(value == "ok" for value in checks.values())
    return jsonify(status="ok" if healthy else "unhealthy", checks=checks), 200 if healthy else 503
