"""What a client meets over HTTP (:mod:`fraud.bench.http`): ``fraud serve`` and the most
workers of the latency runs, POSTs unpaced, paced, and waited for their verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fraud.bench.context import Bench
from fraud.bench.http import measure_http
from fraud.domain.transaction import Transaction


def run(bench: Bench, population: Sequence[Transaction]) -> dict[str, Any]:
    config = bench.config
    workers = max(config.latency.workers)
    bench.echo(
        f"[http] fraud serve and {workers} worker(s): POST /transaction unpaced, at "
        f"{config.http.rate:,}/s, and ?wait={config.http.wait_ms} at {config.http.rate:,}/s"
    )
    with config.space("http") as space:
        return {"http": measure_http(bench, space, workers)}
