"""One transaction is one trace, from the POST that submitted it to its stored verdict: the
request's span (in the caller's trace when it sends a traceparent), the claim, the outbox's
publish, and each stage's step, on a pass of every stage and on split stages alike. The
spans go over OTLP to a real receiver (tests/otlp.py); off, none is made."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from fraud.application.stream.pipeline import STAGES
from fraud.containers import Container, bootstrap
from fraud.domain.identity import Role
from fraud.domain.ports import TRACEPARENT, Topic
from fraud.entrypoints.http.app import create_app
from fraud.settings import Settings
from tests.factories import payload
from tests.otlp import OtlpReceiver
from tests.unit.conftest import calling_as, in_memory, issue_keys, settle

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
STEPS = {"claim", "publish", "preprocess", "score", "record"}


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(params=["fused", "split"])
def traced(request, model, clock, otlp) -> Iterator[Container]:
    container = bootstrap(
        Settings(database_url="sqlite://", model_dir="unused", otlp_endpoint=otlp.url)
    )
    if request.param == "split":
        container.config.stages.from_value(STAGES)
    yield in_memory(container, model, clock)
    container.unwire()
    container.shutdown_resources()


def sent(container: Container) -> None:
    """What the tracer holds, sent to the receiver now."""
    container.tracer().provider.force_flush()


def test_a_post_with_a_traceparent_is_one_trace_to_the_stored_verdict(traced, otlp) -> None:
    app = create_app(traced)
    keys = issue_keys(traced)
    client = calling_as(app, keys[Role.SUBMITTER])
    with capture_logs() as logs:
        answer = client.post(
            "/transaction", json=payload(transaction_id="traced"), headers={TRACEPARENT: SENT}
        )
        assert answer.status_code == 202
        settle(traced)
    sent(traced)

    spans = otlp.wait_for(TRACE_ID, {"POST /transaction", *STEPS})
    (request,) = [s for s in spans if s.name == "POST /transaction"]
    assert request.parent_span_id == CALLER_SPAN  # the caller's trace, continued
    assert request.attributes["http.response.status_code"] == 202
    for step in STEPS:
        (span,) = [s for s in spans if s.name == step]
        assert span.parent_span_id == request.span_id, step
        if step == "claim":  # the request's own step
            continue
        # Linked to its batch's span, which is in a trace of its own, linked back.
        ((batch_trace, batch_span),) = span.links
        (batch,) = [s for s in otlp.spans if s.span_id == batch_span]
        assert batch.name == f"{step} batch" and batch.trace_id == batch_trace != TRACE_ID
        assert (TRACE_ID, request.span_id) in batch.links
    assert {s.service for s in spans} == {"fraud"}

    # The verdict and its page say which trace it belongs to, and so do the log lines.
    assert client.get("/transaction/traced").get_json()["trace_id"] == TRACE_ID
    analyst = calling_as(app, keys[Role.ANALYST])
    page = analyst.get("/dashboard/transactions/traced").get_data(as_text=True)
    assert 'id="trace-id" title="' in page and f">{TRACE_ID}</span>" in page
    about = [line for line in logs if line.get("transaction_id") == "traced"]
    assert about and all(line.get("trace_id") == TRACE_ID for line in about)


def test_a_post_without_a_traceparent_starts_a_trace_of_its_own(traced, otlp) -> None:
    app = create_app(traced)
    client = calling_as(app, issue_keys(traced)[Role.SUBMITTER])
    batch = {"transactions": [payload(transaction_id="a"), payload(transaction_id="b")]}
    assert client.post("/transactions", json=batch).status_code == 200
    settle(traced)
    sent(traced)

    trace_id = client.get("/transaction/a").get_json()["trace_id"]
    assert client.get("/transaction/b").get_json()["trace_id"] == trace_id
    spans = otlp.wait_for(trace_id, {"POST /transactions", *STEPS})
    (request,) = [s for s in spans if s.name == "POST /transactions"]
    assert request.parent_span_id == ""  # a root
    # The two transactions of the request share its trace: each step is one span in it.
    assert sorted(s.name for s in spans if s.name in STEPS) == sorted(STEPS)


def test_a_caller_that_samples_its_trace_out_gets_no_span_but_keeps_its_trace_id(
    traced, otlp
) -> None:
    app = create_app(traced)
    client = calling_as(app, issue_keys(traced)[Role.SUBMITTER])
    unsampled = f"00-{TRACE_ID}-{CALLER_SPAN}-00"
    body = payload(transaction_id="quiet")
    assert client.post("/transaction", json=body, headers={TRACEPARENT: unsampled}).status_code
    settle(traced)
    sent(traced)
    assert client.get("/transaction/quiet").get_json()["trace_id"] == TRACE_ID
    assert otlp.in_trace(TRACE_ID) == []


def test_off_no_span_is_made_and_no_message_carries_a_trace(container) -> None:
    app = create_app(container)
    client = calling_as(app, issue_keys(container)[Role.SUBMITTER])
    body = payload(transaction_id="plain")
    assert client.post("/transaction", json=body, headers={TRACEPARENT: SENT}).status_code == 202
    (message,) = container.bus().read_topic(Topic.TRANSACTIONS)
    assert TRACEPARENT not in message.headers
    settle(container)
    assert "trace_id" not in client.get("/transaction/plain").get_json()
