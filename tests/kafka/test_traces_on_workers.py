"""On Kafka, a transaction's trace crosses processes: `fraud serve` continues the caller's
trace, claims and publishes the transaction with its traceparent in the message's headers,
and a `fraud worker` puts each stage's step in the same trace; Jaeger (ops/jaeger) holds
it whole."""

from __future__ import annotations

import pytest

from fraud.domain.ports import TRACEPARENT
from tests.factories import EXAMPLE
from tests.jaeger import jaeger, parent_of  # noqa: F401 (a fixture)
from tests.kafka.conftest import Workers, make_topics, wait_for_rows
from tests.processes import fraud_env, start_service, stop_service

pytestmark = pytest.mark.slow

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
SPANS = {"POST /transaction", "claim", "publish", "preprocess", "score", "record"}


def test_a_post_is_one_trace_across_the_api_and_a_worker(
    jaeger,  # noqa: F811
    kafka_bootstrap,
    prefix,
    database,
    small_model,
    tmp_path,
) -> None:
    make_topics(kafka_bootstrap, prefix)
    traced = {
        "FRAUD_BROKER": "kafka",
        "FRAUD_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "FRAUD_TOPIC_PREFIX": prefix,
        "FRAUD_DATABASE_URL": database,
        "FRAUD_OTLP_ENDPOINT": jaeger.otlp_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    workers = Workers(fraud_env(**traced, FRAUD_MODEL_DIR=str(small_model)), tmp_path)
    workers.start()
    service = start_service(tmp_path, small_model, command="serve", **traced)
    try:
        with service.client() as http:
            answer = http.post(
                f"{service.url}/transaction",
                json={**EXAMPLE, "transaction_id": "traced-kafka"},
                headers={TRACEPARENT: f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
                timeout=10,
            )
            assert answer.status_code == 202, answer.text
            wait_for_rows(database, 1, "transaction_id = 'traced-kafka' AND status = 'scored'", 120)
            spans = jaeger.wait_for(TRACE_ID, SPANS)
            verdict = http.get(f"{service.url}/transaction/traced-kafka", timeout=10).json()
    finally:
        stop_service(service)
        workers.stop_all()
        workers.report()

    (request,) = [s for s in spans if s["operationName"] == "POST /transaction"]
    assert parent_of(request) == CALLER_SPAN
    for step in SPANS - {"POST /transaction"}:
        # Once, or again for a batch it was held back in (its partition waiting for the
        # others to reach its day): always in the request's trace.
        steps = [s for s in spans if s["operationName"] == step]
        assert steps and {parent_of(s) for s in steps} == {request["spanID"]}, step
    # The API's spans and the worker's come from two processes.
    processes = {span["processID"] for span in spans}
    assert len(processes) == 2
    assert verdict["trace_id"] == TRACE_ID
