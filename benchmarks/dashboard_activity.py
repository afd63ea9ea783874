"""What does the live dashboard cost the database? The activity window on a busy SQLite.

Stores ``--rate`` verdicts a second for the last five minutes with their per-second
tallies, in batches of 5000 as the record stage would, then times the activity
monitor: its first refresh reads the whole window, later ones only the last
seconds plus the settle period. Also times tallying itself, the record stage's
extra work per batch.

    python benchmarks/dashboard_activity.py --rate 5000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.migrate import upgrade
from fraud.adapters.sqlalchemy.queries import SqlQueries
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.application.monitoring import ActivityMonitor
from fraud.application.stream.record import verdict_samples
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.monitoring import tally
from fraud.domain.transaction import Transaction

SPAN_SECONDS = 300


class MovingClock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current


def verdict(n: int, scored_at: datetime) -> TransactionRecord:
    transaction = Transaction(
        transaction_id=f"bench-{n}",
        user_id=f"user-{n % 5000}",
        amount=10.0 + n % 300,
        merchant="Corner Shop",
        timestamp=scored_at,
        merchant_type="grocery",
        device_type="pos",
        location_match=True,
    )
    decision = Decision.DECLINE if n % 500 == 0 else Decision.APPROVE
    return TransactionRecord(
        transaction=transaction,
        received_at=scored_at - timedelta(milliseconds=3 + n % 20),
        status=Status.SCORED,
        assessment=Assessment(
            transaction_id=transaction.transaction_id,
            fraud_score=0.97 if decision is Decision.DECLINE else (n % 1000) / 100_000,
            decision=decision,
            reasons=(),
            model_version="bench",
            scored_at=scored_at,
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=5000, help="verdicts per second stored")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        upgrade(url)
        engine = create_engine_for(url)
        unit_of_work = SqlUnitOfWorkFactory(engine)
        now = datetime.now(UTC)
        start = now - timedelta(seconds=SPAN_SECONDS)
        total = args.rate * SPAN_SECONDS
        tally_seconds = 0.0
        for first in range(0, total, 5000):
            batch = [
                verdict(n, start + timedelta(seconds=n / args.rate))
                for n in range(first, min(first + 5000, total))
            ]
            began = time.perf_counter()
            tallies = tally(verdict_samples(batch))
            tally_seconds += time.perf_counter() - began
            with unit_of_work() as uow:
                uow.verdicts.decide(batch)
                uow.activity.log(tallies)
                uow.commit()
        clock = MovingClock(now)
        monitor = ActivityMonitor(SqlQueries(engine), clock)
        began = time.perf_counter()
        snapshot = monitor.snapshot()
        first_refresh = time.perf_counter() - began
        steady = []
        for _ in range(10):
            clock.current += timedelta(seconds=2)
            began = time.perf_counter()
            monitor.snapshot()
            steady.append(time.perf_counter() - began)
        print(
            json.dumps(
                {
                    "verdicts_in_window": sum(snapshot.totals.decisions.values()),
                    "tally_us_per_verdict": round(tally_seconds / total * 1e6, 2),
                    "first_refresh_ms": round(first_refresh * 1000, 1),
                    "steady_refresh_ms_median": round(sorted(steady)[len(steady) // 2] * 1000, 1),
                    "steady_refresh_ms_max": round(max(steady) * 1000, 1),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
