"""The broker ceiling: the pipeline's messages produced and consumed back with no
processing (:mod:`fraud.bench.ceiling`), and how fast kcat offers plain JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fraud.bench import plain
from fraud.bench.ceiling import measure_ceiling
from fraud.bench.context import Bench
from fraud.domain.ports import Topic
from fraud.domain.transaction import Transaction


def run(bench: Bench, population: Sequence[Transaction]) -> dict[str, Any]:
    config = bench.config
    count = config.throughput.transactions
    bench.echo(f"[ceiling] {count:,} messages: produce, consume, round trip")
    with config.space("ceiling") as space, bench.bus(space) as bus:
        messages = bench.envelopes(population[:count])
        lines = plain.write_input(population[:count], space.directory / "kcat.txt")
        busy = bench.settle()
        ceiling = measure_ceiling(space, bus, messages, config.runs.timeout_s, config.progress)
        if "kcat" in config.throughput.paths:
            # kcat into a topic nothing reads: how fast a plain client can offer the load.
            kcat_s = plain.produce(space, lines, Topic.DEAD_LETTERS)
            ceiling |= {"kcat_produce_s": round(kcat_s, 3)}
            ceiling |= {"kcat_produce_per_s": round(count / kcat_s)}
    return {"ceiling": {**ceiling, "background_busy_cores": busy}}
