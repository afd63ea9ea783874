"""Each request the API serves is a span, in the caller's trace when it sends a W3C
``traceparent``; its trace id is bound to every log line of the request, and the
transactions it submits carry its context on (their messages, their stored verdict).

Installed only when tracing is on: off, a request pays nothing for it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack, nullcontext

import structlog
from flask import Flask, Response, current_app, g, request

from fraud.domain.ports import TRACEPARENT, Tracer
from fraud.domain.ports.tracing import trace_id_of

TRACER = "fraud.tracer"


def install_tracing(app: Flask, tracer: Tracer) -> None:
    """Register the request's span; call right after the request's log context is bound,
    so that the span covers the access checks too."""
    if not tracer.enabled:
        return
    app.extensions[TRACER] = tracer

    @app.before_request
    def open_span() -> None:
        rule = request.url_rule
        name = f"{request.method} {rule.rule if rule is not None else 'unknown route'}"
        spans = ExitStack()
        spans.enter_context(tracer.serving(name, request.headers.get(TRACEPARENT)))
        g.request_spans = spans
        carried = g.request_trace = tracer.carried()
        structlog.contextvars.bind_contextvars(trace_id=trace_id_of(carried))

    @app.after_request
    def say_what_was_answered(response: Response) -> Response:
        if "request_spans" in g:
            tracer.answered(response.status_code)
        return response

    @app.teardown_request
    def close_span(_: BaseException | None) -> None:
        spans = g.pop("request_spans", None)
        if spans is not None:
            spans.close()


def request_trace() -> str | None:
    """The ``traceparent`` of the request being served (None: tracing is off)."""
    return g.get("request_trace")


def step(name: str) -> AbstractContextManager[None]:
    """A step of the request being served (the claim of its transactions), as a span."""
    tracer: Tracer | None = current_app.extensions.get(TRACER)
    return nullcontext() if tracer is None else tracer.span(name)
