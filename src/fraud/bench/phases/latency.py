"""Latency at a fixed offered load: plain JSON produced at R a second, each message stamped
by the producer when sent; p50/p95/p99/p99.9 of the pipeline's own ``latency_ms``
(received to scored) and of received to stored, overall and by second of sending."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import confluent_kafka

from fraud.adapters.kafka.settings import producer_config
from fraud.bench.context import Bench
from fraud.bench.harness import BenchError, RunSpace
from fraud.bench.runs import Plan, Timing, percentiles, run_workers
from fraud.domain.ports import Topic
from fraud.domain.transaction import Transaction, format_instant

FLUSH_TIMEOUT_S = 30


def run(bench: Bench, population: Sequence[Transaction]) -> dict[str, Any]:
    latency = bench.config.latency
    runs = {}
    for workers in latency.workers:
        bench.echo(
            f"[latency] {latency.rate:,}/s for {latency.duration_s:g}s on {workers} worker(s)"
        )
        runs[f"latency_w{workers}"] = measure(bench, population, workers)
    return runs


def measure(bench: Bench, population: Sequence[Transaction], workers: int) -> dict[str, Any]:
    """Plain JSON produced at the configured rate, each message stamped by the producer when
    sent (the stages take the broker's timestamp as receipt); latency from the database."""
    rate = bench.config.latency.rate
    count = round(rate * bench.config.latency.duration_s)
    transactions = population[:count]
    plan = Plan(
        f"latency-w{workers}",
        workers,
        count,
        lambda _, space: produce_paced(space, transactions, rate),
        with_timings=True,
    )
    run = run_workers(bench, plan)
    timings = run.timings
    return {
        "workers": workers,
        "offered_per_s": rate,
        "achieved_per_s": round(count / run.publish_s) if run.publish_s else None,
        "transactions": count,
        "stored": len(timings),
        "received_to_scored_ms": percentiles([latency for _, _, _, latency in timings]),
        "received_to_stored_ms": percentiles([_stored_ms(timing) for timing in timings]),
        "received_to_stored_ms_by_second": by_second(timings),
        "background_busy_cores": run.busy,
        "cpu": run.usage,
        "worker_exit_codes": run.exit_codes,
    }


def _stored_ms(timing: Timing) -> float:
    received, _, stored, _ = timing
    return (stored - received).total_seconds() * 1000.0


def produce_paced(space: RunSpace, transactions: Sequence[Transaction], rate: int) -> float:
    """Produce plain JSON as it falls due, every millisecond or so, the way a payment
    switch's own producer would (no linger: each message leaves when it is sent).

    Each is stamped with the moment it is sent, as a card authorisation is: the simulated
    history spans many days, and a partition's first transaction of a day waits until every
    other partition has reached that day (issue 13's day barrier), which live traffic meets
    once a day at midnight, not every few seconds as replayed history would."""
    producer = confluent_kafka.Producer(
        {**producer_config(space.bootstrap, "bench-paced", space.security), "linger.ms": 0}
    )
    topic = space.prefix + Topic.TRANSACTIONS
    bodies = [transaction.to_dict() for transaction in transactions]
    sent = 0
    started = time.perf_counter()
    while sent < len(transactions):
        due = min(len(transactions), int((time.perf_counter() - started) * rate) + 1)
        now = format_instant(datetime.now(UTC))
        for index in range(sent, due):
            value = json.dumps({**bodies[index], "timestamp": now}, separators=(",", ":"))
            producer.produce(topic, value.encode(), key=transactions[index].user_id)
        sent = due
        producer.poll(0)
        time.sleep(0.001)
    seconds = time.perf_counter() - started
    if producer.flush(FLUSH_TIMEOUT_S):
        raise BenchError(
            f"the paced producer could not deliver every message within {FLUSH_TIMEOUT_S}s"
        )
    return seconds


def by_second(timings: Sequence[Timing]) -> list[dict[str, Any]]:
    """Latency per second of sending: shows warm-up and queueing that one percentile hides."""
    if not timings:
        return []
    first = min(received for received, _, _, _ in timings)
    seconds: dict[int, list[float]] = {}
    for timing in timings:
        second = int((timing[0] - first).total_seconds())
        seconds.setdefault(second, []).append(_stored_ms(timing))
    return [
        {"second": second, "count": len(values), **(percentiles(values) or {})}
        for second, values in sorted(seconds.items())
    ]
