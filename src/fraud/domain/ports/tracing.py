"""Tracing: the spans the core opens, told to a tracer it knows only by this port.

One transaction is one trace, from the request that submitted it to its stored verdict. The
trace's context travels with the transaction as a W3C ``traceparent`` (on its messages'
headers, and stored with it), and each step a batch goes through (the claim, the outbox's
publish, preprocess, score, record) is a span in the trace of every transaction it held.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Protocol

# The W3C Trace Context header, as every message of the pipeline carries it.
TRACEPARENT = "traceparent"


class Tracer(Protocol):
    @property
    def enabled(self) -> bool:
        """Whether spans are made at all (an endpoint to send them to is configured)."""

    def carried(self) -> str | None:
        """The ``traceparent`` of the span open in this thread now (the request's), for the
        transactions it hands on; None when tracing is off or no span is open."""

    def serving(self, name: str, carried: str | None) -> AbstractContextManager[None]:
        """A span for what this process does for a caller (a request), in the caller's trace
        when it sent a ``traceparent``, open in this thread while it lasts."""

    def answered(self, status: int) -> None:
        """What the request being served answered (an HTTP status)."""

    def span(self, name: str) -> AbstractContextManager[None]:
        """A step of the span open in this thread (a request's claim)."""

    def batch(self, step: str, carried: Iterable[str | None]) -> AbstractContextManager[None]:
        """One step of a batch: a span of the batch's own, linked to the transactions it
        holds, and a span of the step in each transaction's trace (``carried``: each
        transaction's ``traceparent``, None for one that came without)."""


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id a ``traceparent`` names (``00-TRACE_ID-SPAN_ID-FLAGS``): what log lines
    and the transaction's page show."""
    if traceparent is None or len(traceparent) < 35:
        return None
    return traceparent[3:35]
