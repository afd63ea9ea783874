"""Cost by users (:mod:`fraud.bench.users`): whether the cost per transaction stays flat as
the card holders grow, and the memory each one costs a worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fraud.bench.context import Bench
from fraud.bench.users import measure_users, state_per_user
from fraud.domain.transaction import Transaction

TRACED_USERS = 20_000


def run(bench: Bench, population: Sequence[Transaction]) -> dict[str, Any]:
    config = bench.config
    workers = max(config.throughput.workers)
    runs = []
    for users in config.offline.user_counts:
        bench.echo(
            f"[users] {users:,} users, {workers} worker(s), "
            f"{config.throughput.transactions:,} timed"
        )
        with config.space(f"users-{users}") as space:
            bench.settle()
            run = measure_users(bench, space, workers, users)
        bench.echo(
            f"  {run['per_s']:,} tx/s; {run['rss_bytes_per_user']:,} B of worker memory a user"
        )
        runs.append(run)
    bench.echo(f"  feature state per user, traced in this process ({TRACED_USERS:,} users)")
    state = {f"{events}_events": round(state_per_user(TRACED_USERS, events)) for events in (1, 10)}
    first, last = runs[0]["per_s"], runs[-1]["per_s"]
    return {
        "users": {
            "runs": runs,
            "state_bytes_per_user": state,
            "ratio": round(last / first, 3) if first else None,
        }
    }
