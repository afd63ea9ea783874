"""The ``Tracer`` port on OpenTelemetry, exporting spans over OTLP/HTTP.

Batches are traced as OpenTelemetry advises for batch consumers: one span for the batch,
with links to the transactions it holds, and, in the trace of each transaction whose
context is sampled, a span of the step with the batch's start and end, linked back to the
batch's span. A transaction's context is its ``traceparent``, read here without the
propagator's regular expression (a batch holds hundreds). Sampling is the SDK's default,
parent-based: a request's ``traceparent`` that says not sampled makes no span downstream,
and ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` choose for the traces this
service starts (``parentbased_traceidratio`` with ``0.01`` keeps one in a hundred).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import Status, StatusCode

# The SDK keeps at most this many links on a span (OTEL_SPAN_LINK_COUNT_LIMIT's default).
MAX_LINKS = 128
TRACES_PATH = "/v1/traces"
_ROOT = otel_context.Context()  # a batch's span starts a trace of its own
_PROPAGATOR = TraceContextTextMapPropagator()
# The flags' last hex digit of a sampled context: its lowest bit set.
_SAMPLED_LAST_DIGITS = frozenset("13579bdfBDF")


def exporter_endpoint(endpoint: str) -> str:
    """FRAUD_OTLP_ENDPOINT as the collector's address (``http://host:4318``) or the traces
    URL itself."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def traces_provider(endpoint: str, service: str = "fraud") -> TracerProvider:
    """Spans sent in batches to ``endpoint`` from a thread of their own (never on a
    request's or a stage's time); what is queued is sent when the process exits."""
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": service,
                "service.instance.id": f"{socket.gethostname()}-{os.getpid()}",
            }
        )
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(exporter_endpoint(endpoint))))
    return provider


def _context_of(traceparent: str | None) -> SpanContext | None:
    """The sampled span context a ``traceparent`` (``00-TRACE-SPAN-FLAGS``) names; None for
    none, one not sampled, or one that is not a traceparent."""
    if traceparent is None or len(traceparent) != 55 or traceparent[:3] != "00-":
        return None
    if traceparent[54] not in _SAMPLED_LAST_DIGITS:  # most, when sampling: cheap to skip
        return None
    try:
        trace_id = int(traceparent[3:35], 16)
        span_id = int(traceparent[36:52], 16)
        flags = int(traceparent[53:55], 16)
    except ValueError:
        return None
    if not (trace_id and span_id and flags & TraceFlags.SAMPLED):
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))


def _traceparent(span_context: SpanContext) -> str:
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{int(span_context.trace_flags):02x}"
    )


class OpenTelemetryTracer:
    """Spans for the requests this process serves and the batches its stages handle."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("fraud")

    @property
    def enabled(self) -> bool:
        return True

    def carried(self) -> str | None:
        span_context = trace.get_current_span().get_span_context()
        return _traceparent(span_context) if span_context.is_valid else None

    @contextmanager
    def serving(self, name: str, carried: str | None) -> Iterator[None]:
        parent = _PROPAGATOR.extract({"traceparent": carried}) if carried else _ROOT
        with self._tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER):
            yield

    def answered(self, status: int) -> None:
        span = trace.get_current_span()
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))

    @contextmanager
    def span(self, name: str) -> Iterator[None]:
        with self._tracer.start_as_current_span(name):
            yield

    @contextmanager
    def batch(self, step: str, carried: Iterable[str | None]) -> Iterator[None]:
        held = 0
        contexts: dict[str, SpanContext] = {}
        for traceparent in carried:
            held += 1
            if traceparent is not None and traceparent not in contexts:
                span_context = _context_of(traceparent)
                if span_context is not None:
                    contexts[traceparent] = span_context
        links = [Link(c) for _, c in zip(range(MAX_LINKS), contexts.values(), strict=False)]
        started = time.time_ns()
        failure: BaseException | None = None
        with self._tracer.start_as_current_span(
            f"{step} batch",
            context=_ROOT,
            links=links,
            attributes={"fraud.batch.transactions": held, "fraud.batch.traced": len(contexts)},
        ) as batch:
            try:
                yield
            except BaseException as error:
                failure = error
                raise
            finally:
                self._in_each_trace(step, contexts.values(), batch, started, failure)

    def _in_each_trace(
        self,
        step: str,
        contexts: Iterable[SpanContext],
        batch: trace.Span,
        started: int,
        failure: BaseException | None,
    ) -> None:
        """The step's span in the trace of each transaction, as long as the batch took."""
        ended = time.time_ns()
        back = [Link(batch.get_span_context())]
        for span_context in contexts:
            span = self._tracer.start_span(
                step,
                context=trace.set_span_in_context(NonRecordingSpan(span_context)),
                links=back,
                start_time=started,
            )
            if failure is not None:
                span.set_status(Status(StatusCode.ERROR, type(failure).__name__))
            span.end(end_time=ended)
