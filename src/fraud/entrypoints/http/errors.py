"""Every error leaves as JSON with a clear message: never an HTML page or a traceback.

Its body is dumped by the same ``ErrorSchema`` the OpenAPI document shows, and
every 503 and 429 says when to retry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import structlog
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from fraud.domain.cases import (
    CaseTaken,
    InvalidCaseRequest,
    NoCaseWaiting,
    QueueExists,
    UnknownCase,
    UnknownQueue,
)
from fraud.domain.errors import (
    FieldError,
    IdentityConflict,
    InvalidIdentity,
    TransientFailure,
    UnknownIdentity,
)
from fraud.domain.lists import (
    InvalidListRequest,
    ListExists,
    ListFull,
    UnknownEntry,
    UnknownList,
)
from fraud.domain.registry import RoleRefused, UnknownModel
from fraud.domain.requests import BrokenRequest
from fraud.domain.rules import (
    InvalidExpression,
    InvalidRule,
    NoVerdict,
    RuleConflict,
    RuleExists,
    UnknownRule,
)
from fraud.domain.webhooks import InvalidWebhook, UnknownSubscription
from fraud.entrypoints.http.schemas import ErrorSchema

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = "1"
_ERROR = ErrorSchema()


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: list[FieldError] | None = None,
        position: tuple[int, int] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.position = position

    @classmethod
    def breaks_contract(cls, what: str, errors: Iterable[FieldError]) -> ApiError:
        """A 422 naming every offending field and the rule it breaks."""
        return cls(422, f"the {what} breaks the contract", details=list(errors))


class RateLimited(ApiError):
    """A rate limit reached: 429, saying in ``Retry-After`` when its window ends."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, message)
        self.retry_after = retry_after


def error_response(
    status: int,
    message: str,
    details: Iterable[FieldError] | None = None,
    position: tuple[int, int] | None = None,
) -> Response:
    payload: dict[str, Any] = {"error": message, "status": status}
    if details is not None:
        payload["details"] = details
    if position is not None:
        payload["position"] = {"line": position[0], "column": position[1]}
    response = jsonify(_ERROR.dump(payload))
    response.status_code = status
    return response


def _parsed_arguments(messages: Mapping[str, Mapping[str, Any]]) -> list[FieldError]:
    """webargs' validation messages ({location: {field: [rule, ...]}}) as field errors."""
    return [
        FieldError(field, str(rule))
        for fields in messages.values()
        for field, rules in fields.items()
        for rule in (rules if isinstance(rules, list) else [rules])
    ]


# What each of the domain's refusals answers: a 422 naming every broken field (of the rule
# or of the request), a 404 for what does not exist, a 409 for a change that cannot be made.
BREAKS_CONTRACT: dict[type[Exception], str] = {
    InvalidRule: "rule",
    InvalidIdentity: "request",
    BrokenRequest: "request",
    InvalidCaseRequest: "request",
    InvalidListRequest: "request",
    InvalidWebhook: "request",
}
NOT_FOUND: tuple[type[Exception], ...] = (
    UnknownRule,
    NoVerdict,
    UnknownModel,
    UnknownIdentity,
    UnknownCase,
    UnknownQueue,
    NoCaseWaiting,
    UnknownList,
    UnknownEntry,
    UnknownSubscription,
)
CONFLICTS: tuple[type[Exception], ...] = (
    RuleExists,
    RuleConflict,
    RoleRefused,
    IdentityConflict,
    CaseTaken,
    QueueExists,
    ListExists,
    ListFull,
)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, api_error)
    for refusal, what in BREAKS_CONTRACT.items():
        app.register_error_handler(refusal, partial(_breaks_contract, what))
    for refusal in NOT_FOUND:
        app.register_error_handler(refusal, partial(_refused, 404))
    for refusal in CONFLICTS:
        app.register_error_handler(refusal, partial(_refused, 409))
    app.register_error_handler(InvalidExpression, _invalid_expression)
    app.register_error_handler(TransientFailure, _unavailable)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
    app.after_request(say_when_to_retry)


def api_error(error: ApiError) -> Response:
    log.info("request refused", status=error.status, error=error.message)
    response = error_response(error.status, error.message, error.details, error.position)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _breaks_contract(what: str, error: Exception) -> Response:
    return api_error(ApiError.breaks_contract(what, getattr(error, "errors", ())))


def _refused(status: int, error: Exception) -> Response:
    return api_error(ApiError(status, str(error.args[0]) if error.args else str(error)))


def _invalid_expression(error: InvalidExpression) -> Response:
    where = error.error
    position = None if where.line is None or where.column is None else (where.line, where.column)
    return api_error(
        ApiError(
            422,
            "the expression cannot be used",
            details=[FieldError("expression", str(where))],
            position=position,
        )
    )


def _unavailable(error: TransientFailure) -> Response:
    log.warning("request could not be completed now", error=str(error))
    return error_response(503, f"{error}: nothing was stored or changed; retry shortly")


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    messages = (getattr(error, "data", None) or {}).get("messages")
    if status == 422 and messages:  # a query string the declared schema refused
        details = _parsed_arguments(messages)
        log.info("request refused", status=status, details=[str(d) for d in details])
        return error_response(status, "the query breaks the contract", details)
    message = {
        404: "no such resource",
        405: "method not allowed on this resource",
        413: f"request body is larger than {(request.max_content_length or 0) // 1024} KiB",
    }.get(status, error.description or error.name)
    return error_response(status, message)


def _unexpected(error: Exception) -> Response:
    log.exception("request failed")
    return error_response(500, "internal error; it has been logged")


def say_when_to_retry(response: Response) -> Response:
    """Whatever answers 503 (storage, the broker, stopped stages, health) says when."""
    if response.status_code == 503 and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response
