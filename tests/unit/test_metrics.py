from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.prometheus.metrics import PrometheusMetrics
from fraud.application.stream.pipeline import STAGES, StagesElsewhere
from fraud.application.stream.record import RecordStage
from fraud.containers import bootstrap
from fraud.domain.errors import TransientFailure
from fraud.domain.identity import Role
from fraud.domain.ports import OutgoingMessage, Topic
from fraud.entrypoints.http.app import create_app
from fraud.settings import Settings
from tests.factories import ENVELOPES, payload, txn
from tests.pipeline_helpers import embedded_pipeline
from tests.unit.conftest import calling_as, issue_keys, settle


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


@pytest.mark.parametrize("shape", ["fused", "split"])
def test_metrics_count_what_the_pipeline_did(container, clock, shape: str) -> None:
    if shape == "split":
        container.config.stages.from_value(STAGES)
    app = create_app(container)
    keys = issue_keys(container)
    client, scraper = calling_as(app, keys[Role.SUBMITTER]), calling_as(app, keys[Role.METRICS])
    bodies = [
        payload(transaction_id="small", amount=12.0, location_match=1),
        payload(transaction_id="medium", amount=1500.0, location_match=0),
        payload(transaction_id="big", amount=5000.0, location_match=0),
    ]
    for body in bodies:
        assert client.post("/transaction", json=body).status_code == 202
    container.bus().publish(Topic.TRANSACTIONS, [OutgoingMessage(key="x", value=b"{not json")])
    clock.advance(0.25)

    settle(container)

    decisions = Counter(
        client.get(f"/transaction/{body['transaction_id']}").get_json()["decision"]
        for body in bodies
    )
    assert len(decisions) >= 2
    assert client.get("/metrics").status_code == 403  # a submitter's key does not scrape
    samples = scrape(scraper)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("fraud_transactions_accepted_total") == 3
    if shape == "split":
        assert value("fraud_messages_total", stage="preprocess") == 4
        assert value("fraud_messages_total", stage="score") == 3
        assert value("fraud_messages_total", stage="record") == 4  # three verdicts, a letter
        assert value("fraud_dead_letters_total", stage="preprocess") == 1
        assert ("fraud_dead_letters_total", (("stage", "score"),)) not in samples
        assert value("fraud_batch_seconds_count", stage="score") >= 1
        read = [
            ("preprocess", Topic.TRANSACTIONS),
            ("score", Topic.PREPROCESSED),
            ("record", Topic.RESULTS),
            ("record", Topic.DEAD_LETTERS),
        ]
    else:  # one pass: four messages read, three verdicts and a letter written, once
        assert value("fraud_messages_total", stage="all") == 4
        assert value("fraud_dead_letters_total", stage="all") == 1
        assert value("fraud_batch_seconds_count", stage="all") >= 1
        read = [("preprocess", Topic.TRANSACTIONS)]  # its group is the preprocess stage's
        assert (
            "fraud_consumer_lag",
            (("stage", "score"), ("topic", "preprocessed-transactions")),
        ) not in samples
    for decision, count in decisions.items():
        assert value("fraud_verdicts_total", decision=decision) == count
    assert value("fraud_end_to_end_latency_seconds_count") == 3
    assert value("fraud_end_to_end_latency_seconds_sum") == pytest.approx(0.75)
    assert value("fraud_end_to_end_latency_seconds_bucket", le="0.1") == 0
    assert value("fraud_end_to_end_latency_seconds_bucket", le="0.25") == 3
    for stage, topic in read:
        assert value("fraud_consumer_lag", stage=stage, topic=topic) == 0


def test_consumer_lag_counts_what_is_not_committed_yet(container) -> None:
    app = create_app(container)
    keys = issue_keys(container)
    client, scraper = calling_as(app, keys[Role.SUBMITTER]), calling_as(app, keys[Role.METRICS])
    client.post("/transaction", json=payload(transaction_id="waiting"))
    samples = scrape(scraper)
    assert (
        samples[("fraud_consumer_lag", (("stage", "preprocess"), ("topic", "transactions")))] == 1
    )


class BrokenBus(MemoryBus):
    def lag(self, group: str, topic: str) -> int:
        raise RuntimeError("broker unreachable")


def test_a_bus_that_cannot_tell_the_lag_never_fails_a_scrape() -> None:
    metrics = PrometheusMetrics()
    metrics.watch_consumer_lag(BrokenBus, StagesElsewhere)
    metrics.transactions_accepted(2)
    names = {family.name for family in metrics.registry.collect()}
    assert {"fraud_consumer_lag", "fraud_transactions_accepted"} <= names


def test_each_container_counts_on_its_own_registry(container) -> None:
    other = bootstrap(Settings(database_url="sqlite://", model_dir="unused"))
    container.metrics().transactions_accepted(5)
    assert other.metrics().registry.get_sample_value("fraud_transactions_accepted_total") == 0


class RecordingMetrics(PrometheusMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.verdict_batches: list[int] = []

    def verdicts_recorded(self, decisions, latencies_ms) -> None:
        self.verdict_batches.append(sum(decisions.values()))
        super().verdicts_recorded(decisions, latencies_ms)


class LockedOnce(RecordStage):
    def __init__(self, store, clock, metrics) -> None:
        super().__init__(store, ENVELOPES, clock, metrics)
        self.locked = True

    def handle(self, batch):
        if self.locked:
            self.locked = False
            raise TransientFailure("database is locked")
        return super().handle(batch)


def test_verdicts_are_reported_once_a_batch_and_retries_counted(model, clock) -> None:
    metrics = RecordingMetrics()
    pipeline = embedded_pipeline(model, clock)
    for runner in pipeline.runners:
        runner.metrics = metrics
    pipeline.runners[2].stage = LockedOnce(pipeline.store, clock, metrics)
    pipeline.submit([txn(i, minutes=i) for i in range(20)])
    pipeline.run_until_idle()

    assert metrics.verdict_batches == [20]
    sample = metrics.registry.get_sample_value
    assert sample("fraud_transient_failures_total", {"stage": "record"}) == 1
    assert sample("fraud_messages_total", {"stage": "record"}) == 20
    assert sample("fraud_batch_seconds_count", {"stage": "record"}) == 1
