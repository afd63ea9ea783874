"""One run of ``fraud worker`` processes, as the throughput and latency phases make it: the
workers start and join their groups first (start-up and rebalancing are not timed), the
transactions are published beside the measurement, and the clock runs until their
verdicts are stored; and the figures read from what a run left behind."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fraud.bench.context import Bench, Timeline
from fraud.bench.harness import BenchError, CpuMeter, RunSpace, VerdictCounter, WorkerPool
from fraud.domain.ports import MessageBus

Publish = Callable[[MessageBus, RunSpace], float]  # publishes a run's input; its seconds
Timing = tuple[datetime, datetime, datetime, float]  # received, scored, stored, latency_ms


@dataclass(frozen=True, slots=True)
class Plan:
    """What one run does: ``workers`` on a fresh space ``name`` (on ``database``), fed by
    ``publish`` until ``count`` verdicts are stored; ``with_timings``: each verdict's times
    are read back afterwards."""

    name: str
    workers: int
    count: int
    publish: Publish
    database: str = "sqlite"
    with_timings: bool = False


@dataclass(frozen=True)
class WorkersRun:
    """What one run of workers left behind, from the first publish to the last verdict."""

    ready_s: float
    busy: float
    timeline: Timeline
    usage: dict[str, Any]
    publish_s: float
    exit_codes: list[int | None]
    timings: list[Timing]


def run_workers(bench: Bench, plan: Plan) -> WorkersRun:
    """Start the plan's workers on a fresh space, publish and follow the verdicts until all
    are stored; the workers, topics and database go afterwards."""
    with bench.config.space(plan.name, plan.database) as space, bench.bus(space) as bus:
        space.migrate()
        with _Workers(bench, plan, space) as workers:
            ready_s = bench.ready(workers.pool, space)
            bench.echo(f"  workers ready after {ready_s:.1f}s (groups stable, partitions assigned)")
            busy = bench.settle()
            measured = _measured(bench, plan, bus, workers)
    return WorkersRun(ready_s, busy, exit_codes=workers.exit_codes, **measured)


class _Workers:
    """A run's ``fraud worker`` processes and the count of their verdicts: started on
    entering, stopped (their exit codes kept) and closed on leaving, whatever happened."""

    def __init__(self, bench: Bench, plan: Plan, space: RunSpace) -> None:
        self.space = space
        log_dir = space.directory / f"logs-{plan.name}"
        self.pool = WorkerPool(plan.workers, bench.worker_environment(space), space.group, log_dir)
        self.counter = VerdictCounter(space.database_url)
        self.exit_codes: list[int | None] = []

    def __enter__(self) -> _Workers:
        try:
            self.pool.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.exit_codes = self.pool.stop()
        finally:
            self.counter.close()


def _measured(bench: Bench, plan: Plan, bus: MessageBus, workers: _Workers) -> dict[str, Any]:
    """The timed part: the publisher beside, the verdicts followed, the CPU each used."""
    timeout_s = bench.config.runs.timeout_s
    cpu = CpuMeter(workers.pool, workers.space.broker_pid)
    cpu.start()
    publisher = _Publisher(lambda: plan.publish(bus, workers.space))
    started = time.perf_counter()
    publisher.start()
    checks = (workers.pool.check_alive, publisher.check)
    timeline = bench.follow(workers.counter, plan.count, started, timeout_s, checks)
    usage = cpu.stop()
    return {
        "timeline": timeline,
        "usage": usage,
        "publish_s": publisher.result(timeout_s),
        "timings": workers.counter.timings() if plan.with_timings else [],
    }


class _Publisher(threading.Thread):
    """Publishes beside the measurement, so the verdict count is followed from the first send."""

    def __init__(self, send: Callable[[], float]) -> None:
        super().__init__(name="bench-publisher", daemon=True)
        self._send = send
        self.seconds: float | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.seconds = self._send()
        except BaseException as error:  # handed to the measuring thread by check()
            self.error = error

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def result(self, timeout_s: float) -> float:
        self.join(timeout_s)
        self.check()
        if self.seconds is None:
            raise BenchError(f"publishing did not finish within {timeout_s:.0f}s")
        return self.seconds


def crossing(timeline: Sequence[tuple[float, int]], level: float) -> float | None:
    """When the count reached ``level``, interpolated between polls."""
    for (t0, c0), (t1, c1) in itertools.pairwise(timeline):
        if c1 >= level:
            return t0 if c1 == c0 else t0 + (t1 - t0) * (level - c0) / (c1 - c0)
    return None


def percentiles(values: Sequence[float]) -> dict[str, float] | None:
    if len(values) < 2:
        return None
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": round(cuts[49], 1),
        "p95": round(cuts[94], 1),
        "p99": round(cuts[98], 1),
        "p99_9": round(statistics.quantiles(values, n=1000, method="inclusive")[998], 1),
        "max": round(max(values), 1),
        "mean": round(statistics.fmean(values), 1),
    }


def per_transaction_us(cpu_s: float | None, transactions: int) -> float | None:
    """CPU microseconds a transaction, of ``cpu_s`` CPU-seconds (None: not measured)."""
    return None if cpu_s is None else round(1e6 * cpu_s / max(1, transactions), 1)
