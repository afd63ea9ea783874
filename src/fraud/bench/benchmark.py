"""How many transactions a second the Kafka pipeline sustains, and how fast each one gets
through, measured as its users drive it: real ``fraud worker`` processes on fresh topics and
databases, wired through the container as every entrypoint is.

The phases (:mod:`fraud.bench.phases`), each on its own topics and database:

* **ceiling**: the same messages produced and consumed back with no processing;
* **throughput** with 1, 2, ... ``fraud worker --stage all`` processes, from the first
  publish to the last verdict stored, by kcat (plain JSON) and as the API publishes;
* **latency** at a fixed offered load, overall and by second of sending;
* **http**: ``fraud serve`` under wrk, unpaced, paced and waiting for the verdict;
* **users**: the cost per transaction and the memory per card holder as they grow;
* **replay**: ``fraud score`` on a file;
* **profile**: one worker's stages under cProfile, to say what holds the throughput back.

The results are written as JSON after each phase; :mod:`fraud.bench.report` prints them.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka

from fraud.adapters.simulation.simulator import simulate
from fraud.bench.config import BenchConfig
from fraud.bench.context import Bench, Echo
from fraud.bench.phases import PHASE_RUNS
from fraud.domain.transaction import Transaction


def run_benchmark(config: BenchConfig, echo: Echo = print) -> dict[str, Any]:
    """Every phase in ``config.phases``; the results are written as JSON after each."""
    config.out_dir.mkdir(parents=True, exist_ok=True)
    bench = Bench.of(config, echo)
    results: dict[str, Any] = {"config": config.described(), "machine": machine(), "runs": {}}
    try:
        population = _population(bench)
        for name, phase in PHASE_RUNS.items():
            if name in config.phases:
                results["runs"].update(phase(bench, population))
                _write(config.results_file, results)
    finally:
        bench.container.shutdown_resources()
    echo(f"results written to {config.results_file}")
    return results


def _population(bench: Bench) -> list[Transaction]:
    """Enough simulated transactions for the largest phase."""
    config = bench.config
    needed = max(
        config.throughput.transactions,
        round(config.latency.rate * config.latency.duration_s),
        config.offline.profile_transactions,
    )
    bench.echo(f"simulating {needed:,} transactions (seed {config.runs.seed})")
    return [row.transaction for row in simulate(needed, seed=config.runs.seed)]


def _write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "sqlite": sqlite3.sqlite_version,
        "started_at": datetime.now(UTC).isoformat(),
    }
