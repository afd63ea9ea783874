"""The phases of ``fraud bench``, in the order they run: each takes the benchmark under way
and the simulated transactions, and returns its figures by name for the results file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fraud.bench.context import Bench
from fraud.bench.phases import ceiling, http, latency, profile, replay, throughput, users
from fraud.domain.transaction import Transaction

Phase = Callable[[Bench, Sequence[Transaction]], dict[str, Any]]

PHASE_RUNS: dict[str, Phase] = {
    "ceiling": ceiling.run,
    "throughput": throughput.run,
    "latency": latency.run,
    "http": http.run,
    "users": users.run,
    "replay": replay.run,
    "profile": profile.run,
}
