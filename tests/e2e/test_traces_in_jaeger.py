"""`fraud run` sends a transaction's trace to Jaeger (built and started by ops/jaeger): a POST
with a traceparent is one trace with the request, the claim, the publish and every stage's
step, and the verdict names it."""

from __future__ import annotations

import pytest

from fraud.domain.ports import TRACEPARENT
from tests.factories import EXAMPLE
from tests.jaeger import jaeger, parent_of  # noqa: F401 (a fixture)
from tests.processes import start_service, stop_service

pytestmark = pytest.mark.slow

TRACE_ID = "5af7183fb1d4cf5f8d3ea1b2c3d4e5f6"
CALLER_SPAN = "a1b2c3d4e5f60718"
SPANS = {"POST /transaction", "claim", "publish", "preprocess", "score", "record"}


def test_fraud_run_sends_one_trace_from_post_to_verdict(jaeger, small_model, tmp_path) -> None:  # noqa: F811
    service = start_service(
        tmp_path,
        small_model,
        FRAUD_OTLP_ENDPOINT=jaeger.otlp_endpoint,
        OTEL_BSP_SCHEDULE_DELAY="200",
    )
    try:
        with service.client() as http:
            answer = http.post(
                f"{service.url}/transaction?wait=500",
                json={**EXAMPLE, "transaction_id": "traced-run"},
                headers={TRACEPARENT: f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
                timeout=10,
            )
            assert answer.status_code in (200, 202), answer.text
            spans = jaeger.wait_for(TRACE_ID, SPANS)
            verdict = http.get(f"{service.url}/transaction/traced-run", timeout=10).json()
    finally:
        stop_service(service)

    (request,) = [s for s in spans if s["operationName"] == "POST /transaction"]
    assert parent_of(request) == CALLER_SPAN
    for step in SPANS - {"POST /transaction"}:
        (span,) = [s for s in spans if s["operationName"] == step]
        assert parent_of(span) == request["spanID"], step
    assert verdict["status"] == "scored" and verdict["trace_id"] == TRACE_ID
