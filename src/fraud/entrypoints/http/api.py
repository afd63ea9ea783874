"""The REST API: submit a transaction, read its verdict, label it, check health."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import orjson
import structlog
from cachetools import TTLCache
from dependency_injector.wiring import Provide, inject
from flask import Response, current_app, g, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_smorest import Blueprint
from werkzeug.exceptions import RequestEntityTooLarge

from fraud.application.answers import VerdictWaiter
from fraud.application.labels import LabelTransaction
from fraud.application.stream.pipeline import PipelineStatus
from fraud.application.submit import Submission, SubmitTransactions
from fraud.containers import Container
from fraud.domain.assessment import Status, TransactionRecord
from fraud.domain.errors import FieldError, IdempotencyConflict, InvalidLabel, InvalidTransaction
from fraud.domain.identity import Permission, seen_by
from fraud.domain.labels import LabelRequest
from fraud.domain.ports import MessageBus, VerdictQueries
from fraud.domain.transaction import MAX_ID_LENGTH, Transaction
from fraud.entrypoints.http.access import (
    PUBLIC,
    count_items,
    current_actor,
    current_principal,
    requires,
)
from fraud.entrypoints.http.errors import ApiError
from fraud.entrypoints.http.openapi import (
    MAX_BATCH_BODY_BYTES,
    NOT_JSON,
    TOO_LARGE,
    UNAVAILABLE,
    request_body,
)
from fraud.entrypoints.http.schemas import (
    LOCATION,
    MAX_BATCH,
    RETRY_AFTER,
    AcceptedSchema,
    BatchAnsweredSchema,
    BatchSchema,
    ErrorSchema,
    HealthChecksSchema,
    HealthSchema,
    LabelRequestSchema,
    TransactionSchema,
    VerdictSchema,
)
from fraud.entrypoints.http.tracing import request_trace, step

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
_VERDICT = VerdictSchema()
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
    raw = _whole_body()
    if not raw.strip():
        raise ApiError(400, "request body is empty; send a JSON transaction")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(
            400, f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None


def _whole_body() -> bytes:
    """The body, or 413 when it is over the limit, with a Content-Length or without one.

    A body sent without a length (``Transfer-Encoding: chunked``) is cut by Werkzeug at
    ``max_content_length`` and handed over as if it ended there (it would be parsed as
    malformed JSON). Only a body that fills the limit can have been cut: one more byte
    from the server's stream says whether there was more."""
    raw = request.get_data(cache=False)
    limit = request.max_content_length
    if (
        request.content_length is None
        and limit is not None
        and len(raw) >= limit
        and request.environ["wsgi.input"].read(1)
    ):
        raise RequestEntityTooLarge()
    return raw


WAIT = {
    "in": "query",
    "name": "wait",
    "description": "milliseconds to wait for the verdict (at most FRAUD_MAX_WAIT_MS, 500 by "
    "default): decided within them, the answer is 200 with the verdict; otherwise 202",
    "schema": {"type": "integer", "minimum": 0},
}


@api.post("/transaction", tags=["transactions"], parameters=[WAIT])
@api.doc(**request_body(TransactionSchema, "the transaction, in the contract's fields"))
@api.response(
    202,
    AcceptedSchema,
    description="Accepted and pending, or, for a resubmission, what is stored",
    headers={"Location": LOCATION},
)
@api.alt_response(
    200,
    schema=VerdictSchema,
    description="With ``wait``: the verdict, decided within the time asked for",
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
    waiter: VerdictWaiter = Provide[Container.verdict_waiter],
    queries: VerdictQueries = Provide[Container.queries],
    max_wait_ms: int = Provide[Container.config.max_wait_ms],
) -> tuple[Submission, int, dict[str, str]] | Response:
    """Accept a transaction for scoring; 202 with where to read the verdict, or, asked to
    wait, 200 with the verdict once decided."""
    wait_ms = _wait_ms(max_wait_ms)
    if pipeline.running() is False:
        raise ApiError(503, "the scoring pipeline is not running; nothing was accepted")
    body = json_body()
    try:
        transaction = submit.parse(body)
    except InvalidTransaction as invalid:
        raise ApiError.breaks_contract("transaction", invalid.errors) from None
    transaction_id = transaction.transaction_id
    structlog.contextvars.bind_contextvars(transaction_id=transaction_id)
    location = url_for("api.read_transaction", transaction_id=transaction_id)
    subject = current_principal().subject
    if not wait_ms:
        return _submitted(submit, transaction, subject), 202, {"Location": location}
    # The budget counts from the request's arrival: the client waits for the whole answer.
    deadline = g.get("arrived", time.monotonic()) + wait_ms / 1000
    with waiter.awaiting([transaction_id]) as waiting:
        submission = _submitted(submit, transaction, subject)
        decided = None
        if submission.status is Status.PENDING:
            left = max(0.0, deadline - time.monotonic())
            decided = waiting.wait(left).get(transaction_id)
    # Decided before this request, or as the wait ran out: the stored verdict.
    decided = decided or queries.get(transaction_id)
    if decided is None or decided.status is Status.PENDING:
        return submission, 202, {"Location": location}
    # Not a conflict, so the client's own: a verdict off the bus does not say whose it is.
    shown = seen_by(current_principal(), replace(decided, submitted_by=subject))
    return Response(
        orjson.dumps(_VERDICT.dump(shown)), 200, {"Location": location}, "application/json"
    )


def _submitted(submit: SubmitTransactions, transaction: Transaction, subject: str) -> Submission:
    try:
        with step("claim"):
            (submission,) = submit([transaction], submitted_by=subject, trace=request_trace())
    except IdempotencyConflict as conflict:
        raise ApiError(409, str(conflict)) from None
    return submission


def _wait_ms(most: int) -> int:
    raw = request.args.get("wait")
    if raw is None:
        return 0
    if not raw.isdigit() or not raw.isascii() or int(raw) > most:
        raise ApiError(
            422,
            "the query breaks the contract",
            details=[FieldError("wait", f"must be a whole number of milliseconds, 0 to {most}")],
        )
    return int(raw)


@api.post("/transactions", tags=["transactions"])
@api.doc(**request_body(BatchSchema, "up to 1,000 transactions, each in the contract's fields"))
@api.response(
    200,
    BatchAnsweredSchema,
    description="Every item answered at its place: accepted, duplicate, conflict or invalid "
    "(with the fields it breaks); the accepted ones are pending",
)
@api.alt_response(**BAD_BODY)
@api.alt_response(
    422,
    schema=ErrorSchema,
    description="The body is not an object whose ``transactions`` is a list of 1 to 1,000",
)
@api.alt_response(**NOT_JSON)
@api.alt_response(
    413,
    schema=ErrorSchema,
    description=f"The body is larger than {MAX_BATCH_BODY_BYTES // 1024} KiB",
)
@api.alt_response(**UNAVAILABLE)
@api.alt_response(
    429,
    schema=ErrorSchema,
    description="A batch counts one request per transaction it carries against the "
    "identity's rate limit: this one does not fit what is left of it (nothing was accepted); "
    "retry after Retry-After seconds. A batch larger than the limit itself is a 422.",
    headers={"Retry-After": RETRY_AFTER},
)
@requires(Permission.SUBMIT)
@inject
def submit_transactions(
    submit: SubmitTransactions = Provide[Container.submit],
    pipeline: PipelineStatus = Provide[Container.pipeline_status],
) -> dict[str, Any]:
    """Accept many transactions for scoring in one request, each on its own: a refused item
    (invalid, or a conflict) does not stop the others."""
    if pipeline.running() is False:
        raise ApiError(503, "the scoring pipeline is not running; nothing was accepted")
    request.max_content_length = MAX_BATCH_BODY_BYTES
    body = json_body()
    items = body.get("transactions") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
        raise ApiError.breaks_contract(
            "batch",
            [FieldError("transactions", f"must be a list of 1 to {MAX_BATCH} transactions")],
        )
    count_items(len(items), "transactions")
    results: list[dict[str, Any]] = [{} for _ in items]
    parsed: list[tuple[int, Transaction]] = []
    for index, item in enumerate(items):
        try:
            parsed.append((index, submit.parse(item if isinstance(item, dict) else {})))
        except InvalidTransaction as invalid:
            given = item.get("transaction_id") if isinstance(item, dict) else None
            results[index] = {
                "transaction_id": given if isinstance(given, str) and given else None,
                "outcome": "invalid",
                "error": "the transaction breaks the contract",
                "details": invalid.errors,
            }
    with step("claim"):
        submissions = submit.each(
            [t for _, t in parsed],
            submitted_by=current_principal().subject,
            trace=request_trace(),
        )
    for (index, _), submission in zip(parsed, submissions, strict=True):
        results[index] = {
            "transaction_id": submission.transaction_id,
            "outcome": (
                "conflict"
                if submission.conflict
                else "duplicate"
                if submission.duplicate
                else "accepted"
            ),
            "status": None if submission.conflict else submission.status.value,
            "error": "the id was already used for another transaction"
            if submission.conflict
            else None,
        }
    outcomes = [result["outcome"] for result in results]
    return {
        "accepted": outcomes.count("accepted"),
        "duplicates": outcomes.count("duplicate"),
        "refused": outcomes.count("conflict") + outcomes.count("invalid"),
        "results": [{"index": i, **result} for i, result in enumerate(results)],
    }


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


HEALTH_LIMIT = "20/second"  # per address: probes, with room for several from one host
HEALTH_CACHE_S = 1.0  # how long /health answers from the checks it made last
_RECENT_CHECKS = "fraud.health_checks"


class _RecentChecks:
    """The checks made at most once per interval, whoever asks: a flood of ``/health``
    costs no round trip to the database or the broker per call. Whoever finds them stale
    makes them while the others wait for the result, rather than making them too."""

    def __init__(self, interval_s: float) -> None:
        self._held: TTLCache[str, dict[str, str]] = TTLCache(1, interval_s)
        self._lock = threading.Lock()

    def __call__(
        self, queries: VerdictQueries, pipeline: PipelineStatus, bus: MessageBus
    ) -> dict[str, str]:
        with self._lock:
            checks = self._held.get("checks")
            if checks is None:
                checks = self._held["checks"] = _checks(queries, pipeline, bus)
            return checks


@api.record_once
def _keep_recent_checks(state: BlueprintSetupState) -> None:
    state.app.extensions[_RECENT_CHECKS] = _RecentChecks(HEALTH_CACHE_S)


@api.get("/health", tags=["operations"])
@api.response(200, HealthSchema, description="Up: ok, or degraded (the broker is away)")
@api.alt_response(
    503,
    schema=HealthSchema,
    description="Down: the database, or this process's stages",
    headers={"Retry-After": RETRY_AFTER},
)
@api.alt_response(
    429,
    schema=ErrorSchema,
    description=f"More than {HEALTH_LIMIT} from this address",
    headers={"Retry-After": RETRY_AFTER},
)
@requires(PUBLIC, per_address=HEALTH_LIMIT)
@inject
def health(
    queries: VerdictQueries = Provide[Container.queries],
    pipeline: PipelineStatus = Provide[Container.pipeline_status],
    bus: MessageBus = Provide[Container.bus],
) -> tuple[dict[str, str], int]:
    """Liveness and readiness, for load balancers and orchestrators: the status only.

    The checks behind it are at ``/api/health``, for those who may read them. Here they
    are at most a second old: anybody may call this, so it must cost next to nothing.
    """
    status = _status(current_app.extensions[_RECENT_CHECKS](queries, pipeline, bus))
    return {"status": status}, 503 if status == "unhealthy" else 200


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
    Made afresh on every call, for whoever is finding out whether a fault has cleared: only
    identities reach it, each within its own rate limit.
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
