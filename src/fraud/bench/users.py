"""Whether the cost per transaction stays flat as the number of card holders grows, and what
each one costs in memory.

For each user count U the workers first meet every user once (U transactions, one
each, produced by kcat as plain JSON and not timed), so their state holds U users
as a long-running worker's would; then N transactions over those users are timed
from the first byte produced to the last verdict stored. The workers' resident
memory before and after meeting the users gives the bytes a user costs a
worker process, everything included; ``state_per_user`` measures the features'
own state alone, in this process.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fraud.bench import plain
from fraud.bench.context import Bench
from fraud.bench.harness import BenchError, CpuMeter, RunSpace, VerdictCounter, WorkerPool
from fraud.bench.runs import per_transaction_us
from fraud.domain.features import UserHistory
from fraud.domain.transaction import KNOWN_DEVICE_TYPES, KNOWN_MERCHANT_TYPES, Transaction

MERCHANTS = 2_000
SEED = 11


def write_stream(path: Path, run: str, times: Iterator[tuple[int, datetime]], seed: int) -> int:
    """kcat input (``user TAB json``) for ``(user number, time)`` pairs: amounts, merchants,
    types and devices drawn as a card network's mix would be; returns the lines written."""
    rng = random.Random(seed)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for user_number, at in times:
            user = f"u{user_number}"
            out.write(
                f'{user}\t{{"transaction_id":"{run}-{written}","user_id":"{user}",'
                f'"amount":{round(rng.lognormvariate(3.5, 1.0), 2)},'
                f'"merchant":"m{rng.randrange(MERCHANTS)}",'
                f'"timestamp":"{at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}",'
                f'"merchant_type":"{rng.choice(KNOWN_MERCHANT_TYPES)}",'
                f'"device_type":"{rng.choice(KNOWN_DEVICE_TYPES)}",'
                f'"location_match":{1 if rng.random() < 0.9 else 0}}}\n'
            )
            written += 1
    return written


def _spread(count: int, start: datetime, span: timedelta) -> Iterator[datetime]:
    step = span / max(1, count)
    return (start + step * index for index in range(count))


def measure_users(bench: Bench, space: RunSpace, workers: int, users: int) -> dict[str, Any]:
    """Meet ``users`` users once each, then time the throughput runs' transaction count
    over them."""
    transactions, echo = bench.config.throughput.transactions, bench.echo
    space.migrate()
    meet, timed = _streams(space, users, transactions)
    env = bench.worker_environment(space)
    pool = WorkerPool(workers, env, space.group, space.directory / f"logs-users-{users}")
    counter = VerdictCounter(space.database_url)
    try:
        pool.start()
        echo(f"  workers ready after {bench.ready(pool, space):.1f}s")
        rss_before = _rss_bytes(pool)
        echo(f"  meeting {users:,} users (one transaction each, not timed)")
        plain.produce(space, meet)
        meet_s = bench.wait_for_verdicts(counter, users, pool)
        rss_met = _rss_bytes(pool)
        echo(f"  {transactions:,} transactions over them, timed")
        seconds, usage = _timed(bench, space, pool, timed)
        rss_after = _rss_bytes(pool)
    finally:
        pool.stop()
        counter.close()
    return {
        "users": users,
        "workers": workers,
        "transactions": transactions,
        "meet_s": round(meet_s, 2),
        "seconds": round(seconds, 3),
        "per_s": round(transactions / seconds),
        "workers_rss_mb": {
            "started": round(rss_before / 2**20, 1),
            "users_met": round(rss_met / 2**20, 1),
            "after_timed": round(rss_after / 2**20, 1),
        },
        "rss_bytes_per_user": round((rss_met - rss_before) / users),
        "cpu": usage,
        "worker_cpu_us_per_txn": per_transaction_us(usage["workers_cpu_s"], transactions),
        "broker_cpu_us_per_txn": per_transaction_us(usage["broker_cpu_s"], transactions),
    }


def _streams(space: RunSpace, users: int, transactions: int) -> tuple[Path, Path]:
    """kcat input: each user met once, then ``transactions`` over them to be timed. Live
    timestamps, the users met in the hour before the timed run's hour: no day barrier in
    the timed part unless the run straddles midnight."""
    now = datetime.now(UTC)
    meet = space.directory / f"users-{users}-meet.txt"
    meeting = zip(
        range(users), _spread(users, now - timedelta(hours=2), timedelta(hours=1)), strict=True
    )
    write_stream(meet, f"{space.run_id}-meet", meeting, SEED)
    rng = random.Random(SEED + 1)
    timed = space.directory / f"users-{users}-timed.txt"
    chosen = (rng.randrange(users) for _ in range(transactions))
    timing = _spread(transactions, now - timedelta(hours=1), timedelta(hours=1))
    write_stream(timed, f"{space.run_id}-timed", zip(chosen, timing, strict=True), SEED + 2)
    return meet, timed


def _timed(
    bench: Bench, space: RunSpace, pool: WorkerPool, timed: Path
) -> tuple[float, dict[str, Any]]:
    """Seconds from the first byte of ``timed`` produced to its last verdict stored, and
    the CPU each process used meanwhile."""
    transactions = bench.config.throughput.transactions
    recent = VerdictCounter(space.database_url, since=datetime.now(UTC))
    cpu = CpuMeter(pool, space.broker_pid)
    try:
        cpu.start()
        started = time.perf_counter()
        plain.produce(space, timed)
        bench.wait_for_verdicts(recent, transactions, pool)
        seconds = time.perf_counter() - started
        return seconds, cpu.stop()
    finally:
        recent.close()


def _rss_bytes(pool: WorkerPool) -> int:
    """The workers' resident memory together, from /proc."""
    total = 0
    for process in pool.processes:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    if not total:
        raise BenchError("could not read the workers' memory from /proc")
    return total


def state_per_user(users: int, events: int, seed: int = 5) -> float:
    """Bytes of behaviour state per user (traced allocations): each of ``users`` users made
    ``events`` purchases over 30 days at varied merchants, and is kept by id as
    ``BehaviourProfiles`` keeps it. What is kept per merchant (its labelled risk) is shared
    by every user who buys there, and left out."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=30) / events
    histories: dict[str, UserHistory] = {}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for purchase in range(events):
            for number in range(users):
                user = f"u{number}"
                transaction = Transaction(
                    transaction_id=f"t{purchase}-{number}",
                    user_id=user,
                    amount=round(rng.lognormvariate(3.5, 1.0), 2),
                    merchant=f"m{rng.randrange(MERCHANTS)}",  # its own copy, as parsed JSON
                    timestamp=start + step * purchase,
                    merchant_type=rng.choice(KNOWN_MERCHANT_TYPES),
                    device_type=rng.choice(KNOWN_DEVICE_TYPES),
                    location_match=rng.random() < 0.9,
                )
                history = histories.get(user)
                if history is None:
                    history = histories[user] = UserHistory()
                history.observe(transaction, transaction.timestamp.timestamp())
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return used / users
