"""``PipelineMetrics`` on prometheus-client, plus consumer lag read from the bus at scrape time.

Every instance owns its ``CollectorRegistry`` (not the library's global one), so
tests and several containers in one process never clash.

Under granian (``fraud serve``) every worker process counts into a file of a directory
they share (prometheus-client's multiprocess mode, :func:`count_across_processes`), and a
scrape answered by any of them adds the files up, so each accepted transaction is counted
once whichever process took it. What is computed at scrape time (consumer lag, drift) is
asked once, by the process that answers, never summed over the processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from fraud.adapters.prometheus.cases import CasesCollector
from fraud.application.drift import DriftReport
from fraud.application.stream.pipeline import PipelineStatus, consumers_in_use
from fraud.domain.cases import QueueState
from fraud.domain.ports import MessageBus
from fraud.domain.webhooks import DeliveryStatus

log = structlog.get_logger(__name__)

# prometheus-client's own switch: where each process of a server keeps its counts.
SHARED_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"

# End to end: from acceptance by the API to the stored verdict, 1 ms to 5 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class DriftCollector(Collector):
    """``fraud_drift_psi{model_version,feature}`` and ``fraud_drift_threshold``: the
    champion's population stability index over the last day against its training window,
    per feature and for the score (``feature="score"``), from the drift watch's report
    (worked out at most every 30 s). A report that cannot be had leaves them out."""

    def __init__(self) -> None:
        self._report: Callable[[], DriftReport] | None = None

    def watch(self, report: Callable[[], DriftReport]) -> None:
        self._report = report

    def collect(self) -> Iterator[Metric]:
        psi = GaugeMetricFamily(
            "fraud_drift_psi",
            "Population stability index of the last day's traffic against the champion's "
            "training window, per feature and for the score.",
            labels=["model_version", "feature"],
        )
        threshold = GaugeMetricFamily(
            "fraud_drift_threshold", "The PSI above which a feature counts as drifted."
        )
        if self._report is not None:
            try:
                found = self._report()
            except Exception as error:  # a scrape must never fail on the database
                log.warning("drift left out of the scrape", error=str(error))
            else:
                if found.model_version is not None:
                    for drift in found.drifts:
                        psi.add_metric([found.model_version, drift.name], drift.psi)
                threshold.add_metric([], found.threshold)
        yield psi
        yield threshold


class ConsumerLagCollector(Collector):
    """``fraud_consumer_lag{stage,topic}``, asked of the bus at each scrape.

    A bus that cannot answer (a broker down, a topic not created yet) leaves
    that series out of the scrape instead of failing it. A broker that does not answer
    within a second is not asked for the lag at all: its clients' ten-second timeouts would
    make the scrape outlast Prometheus' timeout, the process would count as down, and the
    alert on an unreachable broker (which reads the lag's absence from a process that is
    up) would never fire.
    """

    def __init__(self) -> None:
        self._sources: tuple[Callable[[], MessageBus], Callable[[], PipelineStatus]] | None = None

    def watch(self, bus: Callable[[], MessageBus], status: Callable[[], PipelineStatus]) -> None:
        """Report the lag of the consumer groups ``status()`` names, read from ``bus()``."""
        self._sources = (bus, status)

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "fraud_consumer_lag",
            "Messages on a topic that a stage's consumer group has not committed yet.",
            labels=["stage", "topic"],
        )
        sources = self._sources
        if sources is not None:
            try:
                bus = sources[0]()
                if bus.reachable():
                    consumers = consumers_in_use(sources[1]().consumers(), bus)
                else:
                    log.warning("consumer lag unavailable: the broker does not answer")
                    consumers = []
            except Exception as error:  # a scrape must never fail on the bus
                log.warning("consumer lag unavailable", error=str(error))
                consumers = []
            for consumer in consumers:
                for topic in consumer.topics:
                    try:
                        lag = bus.lag(consumer.group, topic)
                    except Exception as error:
                        log.warning(
                            "consumer lag unavailable",
                            stage=consumer.stage,
                            topic=topic,
                            error=str(error),
                        )
                        continue
                    gauge.add_metric([consumer.stage, topic], lag)
        yield gauge


def count_across_processes(directory: Path) -> None:
    """Have every metric made from now on, in this process and in the processes it forks
    (granian's workers), kept in a file per process in ``directory``, which a scrape adds
    up. The directory is emptied of an earlier run's files first: its counts are not this
    run's (Prometheus reads the restart as a counter reset)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[SHARED_DIRECTORY] = str(directory)
    # The library picks how values are kept once, when imported, from that variable: this
    # process imported it before it knew the directory, so it is asked to pick again.
    values.ValueClass = values.get_value_class()


def shared_directory() -> str | None:
    """The directory every process of this server counts into, if they share one."""
    return os.environ.get(SHARED_DIRECTORY) or None


class PrometheusMetrics:
    """The pipeline's counters and histograms, all named ``fraud_*``, on a registry of its own.

    With ``shared_dir`` (see :func:`count_across_processes`) a scrape reports the sum of
    every process's files instead of this process's counts alone."""

    def __init__(self, shared_dir: str | None = None) -> None:
        if shared_dir is not None and not getattr(values.ValueClass, "_multiprocess", False):
            raise RuntimeError(
                f"{SHARED_DIRECTORY} must be set before prometheus-client is imported, or "
                "count_across_processes called: the counts would stay in this process"
            )
        self.registry = CollectorRegistry()
        self._messages = Counter(
            "fraud_messages",
            "Messages a stage handled and committed.",
            ["stage"],
            registry=self.registry,
        )
        self._batch_seconds = Histogram(
            "fraud_batch_seconds",
            "Time to handle, publish and commit one batch.",
            ["stage"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._dead_letters = Counter(
            "fraud_dead_letters",
            "Messages a stage sent to the dead-letter topic.",
            ["stage"],
            registry=self.registry,
        )
        self._transient_failures = Counter(
            "fraud_transient_failures",
            "Transient failures a stage met and retried.",
            ["stage"],
            registry=self.registry,
        )
        self._accepted = Counter(
            "fraud_transactions_accepted",
            "New transactions accepted from clients.",
            registry=self.registry,
        )
        self._verdicts = Counter(
            "fraud_verdicts",
            "Verdicts recorded, per decision.",
            ["decision"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "fraud_end_to_end_latency_seconds",
            "From acceptance of a transaction to its recorded verdict.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._rule_hits = Counter(
            "fraud_rule_hits",
            "Transactions an analysts' rule hit, per rule and mode (active or shadow).",
            ["rule", "mode"],
            registry=self.registry,
        )
        self._rule_errors = Counter(
            "fraud_rule_errors",
            "Transactions on which an analysts' rule raised an error, per rule.",
            ["rule"],
            registry=self.registry,
        )
        self._rule_cut_offs = Counter(
            "fraud_rule_budget_cut_offs",
            "Transactions an analysts' rule was not evaluated on because the batch's "
            "evaluation budget ran out, per rule.",
            ["rule"],
            registry=self.registry,
        )
        self._refusals = Counter(
            "fraud_transaction_refusals",
            "Transactions refused for breaking the contract, per field and rule broken, on the "
            "api path (422) or the topic path (dead-lettered by the preprocess stage).",
            ["path", "field", "rule"],
            registry=self.registry,
        )
        self._submit_answers = Counter(
            "fraud_submit_requests",
            "Answers to POST /transaction and /transactions, per route and status class "
            "(2xx, 4xx, 5xx): the submit path's availability SLI.",
            ["route", "code"],
            registry=self.registry,
        )
        self._lag = ConsumerLagCollector()
        self.registry.register(self._lag)
        self._drift = DriftCollector()
        self.registry.register(self._drift)
        self._cases = CasesCollector()
        self.registry.register(self._cases)
        self._scraped = self.registry if shared_dir is None else self._summed(shared_dir)

    def _summed(self, shared_dir: str) -> CollectorRegistry:
        """What a scrape reads when processes share ``shared_dir``: every process's files
        added up, and the collectors computed at scrape time, asked once."""
        scraped = CollectorRegistry()
        MultiProcessCollector(scraped, path=shared_dir)
        scraped.register(self._lag)
        scraped.register(self._drift)
        scraped.register(self._cases)
        return scraped

    def watch_consumer_lag(
        self, bus: Callable[[], MessageBus], status: Callable[[], PipelineStatus]
    ) -> None:
        """Have scrapes report the stages' consumer lag, read from the bus ``bus()`` returns."""
        self._lag.watch(bus, status)

    def watch_drift(self, report: Callable[[], DriftReport]) -> None:
        """Have scrapes report the champion's drift, as ``report()`` gives it."""
        self._drift.watch(report)

    def watch_cases(
        self,
        states: Callable[[], Sequence[QueueState]],
        backlog: Callable[[], Mapping[DeliveryStatus, int]],
    ) -> None:
        """Have scrapes report the review queues (cases past their SLA) and the webhook
        outbox, as ``states()`` and ``backlog()`` give them."""
        self._cases.watch(states, backlog)

    def exposition(self) -> tuple[bytes, str]:
        """The registry in the Prometheus text format, and its content type."""
        return generate_latest(self._scraped), CONTENT_TYPE_LATEST

    def submit_answered(self, route: str, status: int) -> None:
        self._submit_answers.labels(route=route, code=f"{status // 100}xx").inc()

    def batch_handled(self, stage: str, messages: int, seconds: float) -> None:
        self._messages.labels(stage=stage).inc(messages)
        self._batch_seconds.labels(stage=stage).observe(seconds)

    def dead_lettered(self, stage: str, count: int) -> None:
        self._dead_letters.labels(stage=stage).inc(count)

    def transient_failure(self, stage: str) -> None:
        self._transient_failures.labels(stage=stage).inc()

    def transactions_accepted(self, count: int) -> None:
        self._accepted.inc(count)

    def verdicts_recorded(
        self, decisions: Mapping[str, int], latencies_ms: Sequence[float]
    ) -> None:
        for decision, count in decisions.items():
            self._verdicts.labels(decision=decision).inc(count)
        for latency_ms in latencies_ms:
            self._latency.observe(latency_ms / 1000.0)

    def transactions_refused(self, path: str, refusals: Mapping[tuple[str, str], int]) -> None:
        for (field, rule), count in refusals.items():
            self._refusals.labels(path=path, field=field, rule=rule).inc(count)

    def rules_hit(self, hits: Mapping[tuple[str, str], int]) -> None:
        for (rule, mode), count in hits.items():
            self._rule_hits.labels(rule=rule, mode=mode).inc(count)

    def rules_failed(self, errors: Mapping[str, int], cut_off: Mapping[str, int]) -> None:
        for rule, count in errors.items():
            self._rule_errors.labels(rule=rule).inc(count)
        for rule, count in cut_off.items():
            self._rule_cut_offs.labels(rule=rule).inc(count)
