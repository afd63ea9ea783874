"""Review queues and the webhook outbox on ``/metrics``, read from the store at scrape time:

* ``fraud_cases{queue,status}``: cases not resolved, per queue and status;
* ``fraud_cases_past_sla{queue}``: cases open or held longer than their queue's SLA (waiting
  on information stops the clock), what an alert on breaches reads;
* ``fraud_case_oldest_open_seconds{queue}``: how long the oldest case on the clock has waited;
* ``fraud_case_sla_seconds{queue}``: each queue's SLA, to compare it with;
* ``fraud_webhook_deliveries{status}``: the outbox's deliveries pending, delivered, failed.

A store that cannot answer leaves them out of the scrape rather than failing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fraud.domain.cases import QueueState
from fraud.domain.webhooks import DeliveryStatus

log = structlog.get_logger(__name__)


class CasesCollector(Collector):
    def __init__(self) -> None:
        self._states: Callable[[], Sequence[QueueState]] | None = None
        self._backlog: Callable[[], Mapping[DeliveryStatus, int]] | None = None

    def watch(
        self,
        states: Callable[[], Sequence[QueueState]],
        backlog: Callable[[], Mapping[DeliveryStatus, int]],
    ) -> None:
        self._states = states
        self._backlog = backlog

    def collect(self) -> Iterator[Metric]:
        cases = GaugeMetricFamily(
            "fraud_cases",
            "Review cases not resolved, per queue and status.",
            labels=["queue", "status"],
        )
        past = GaugeMetricFamily(
            "fraud_cases_past_sla",
            "Cases open or held longer than their queue's SLA.",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "fraud_case_oldest_open_seconds",
            "How long the queue's oldest case on the clock (open or held) has waited.",
            labels=["queue"],
        )
        sla = GaugeMetricFamily("fraud_case_sla_seconds", "Each queue's SLA.", labels=["queue"])
        deliveries = GaugeMetricFamily(
            "fraud_webhook_deliveries",
            "Webhook deliveries in the outbox, per status.",
            labels=["status"],
        )
        if self._states is not None:
            try:
                states = self._states()
            except Exception as error:  # a scrape must never fail on the database
                log.warning("review queues left out of the scrape", error=str(error))
                states = []
            now = datetime.now(UTC)
            for state in states:
                name = state.queue.name
                for status, count in (
                    ("open", state.open),
                    ("claimed", state.claimed),
                    ("waiting", state.waiting),
                ):
                    cases.add_metric([name, status], count)
                past.add_metric([name], state.past_sla)
                opened = state.oldest_open_at
                oldest.add_metric([name], 0.0 if opened is None else (now - opened).total_seconds())
                sla.add_metric([name], state.queue.sla.total_seconds())
        if self._backlog is not None:
            try:
                backlog = self._backlog()
            except Exception as error:
                log.warning("webhook outbox left out of the scrape", error=str(error))
                backlog = {}
            for status, count in backlog.items():
                deliveries.add_metric([status.value], count)
        yield from (cases, past, oldest, sla, deliveries)
