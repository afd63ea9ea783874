"""Offline replay (:mod:`fraud.bench.replay`): how fast ``fraud score`` scores a file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fraud.bench.context import Bench
from fraud.bench.replay import measure_replay
from fraud.domain.transaction import Transaction


def run(bench: Bench, population: Sequence[Transaction]) -> dict[str, Any]:
    bench.echo(f"[replay] fraud score on {bench.config.offline.replay_rows:,} rows")
    bench.settle()
    return {"replay": measure_replay(bench)}
