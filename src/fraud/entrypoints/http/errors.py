"""Every error leaves as JSON with a clear message: never an HTML page or a traceback."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from fraud.domain.errors import FieldError, TransientFailure

log = structlog.get_logger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    @classmethod
    def breaks_contract(cls, what: str, errors: Iterable[FieldError]) -> ApiError:
        """A 422 naming every offending field and the rule it breaks."""
        return cls(
            422,
            f"the {what} breaks the contract",
            details=[{"field": error.field, "rule": error.rule} for error in errors],
        )


def _body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    payload: dict[str, Any] = {"error": message, "status": status}
    if details is not None:
        payload["details"] = details
    response = jsonify(payload)
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        log.info("request refused", status=error.status, error=error.message)
        return _body(error.status, error.message, error.details)

    @app.errorhandler(TransientFailure)
    def unavailable(error: TransientFailure) -> Response:
        log.warning("request could not be completed now", error=str(error))
        response = _body(503, "temporarily unavailable, retry shortly; nothing was lost")
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message = {
            404: "no such resource",
            405: "method not allowed on this resource",
            413: f"request body is larger than {app.config['MAX_CONTENT_LENGTH'] // 1024} KiB",
        }.get(status, error.description or error.name)
        return _body(status, message)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("request failed")
        return _body(500, "internal error; it has been logged")
