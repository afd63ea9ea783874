"""How many transactions a second the Kafka pipeline sustains, and how fast each one gets through.

``fraud bench`` runs four measurements, each on fresh topics and a fresh SQLite file:

* **broker ceiling**: the same messages produced and consumed back with no
  processing (see ``fraud.bench.ceiling``);
* **throughput** with 1, 2, ... ``fraud worker --stage all`` processes: the
  workers start and join their groups first (so start-up and rebalancing are
  not timed), then N realistic transactions are published, and the clock runs
  until all N verdicts are in the database. Two paths in: ``kcat``, a client
  writing plain JSON (``fraud.bench.plain``), and ``api``, the envelopes the
  API publishes (validated and stamped already);
* **latency** at a fixed offered load: plain JSON produced at R a second, each
  message stamped by the producer when sent; p50/p95/p99/p99.9 of the
  pipeline's own ``latency_ms`` (received to scored) and of received-to-stored;
* **profile**: one worker's stages in a child process under cProfile (see
  ``fraud.bench.profile``), to say what holds the throughput back.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka
from tqdm import tqdm

from fraud.adapters.kafka.bus import KafkaBus
from fraud.adapters.kafka.settings import PLAINTEXT, producer_config
from fraud.adapters.serialization.json import JsonSerializer
from fraud.adapters.simulation.simulator import simulate
from fraud.application.envelopes import Envelopes
from fraud.bench import PATHS, PHASES, plain
from fraud.bench.ceiling import BATCH, measure_ceiling
from fraud.bench.harness import (
    BenchError,
    CpuMeter,
    RunSpace,
    VerdictCounter,
    WorkerPool,
    chunks,
    end_with_parent,
    wait_for_quiet,
)
from fraud.bench.http import loads as http_loads
from fraud.bench.http import measure_http
from fraud.bench.replay import measure_replay
from fraud.bench.users import measure_users, state_per_user
from fraud.domain.ports import OutgoingMessage, Topic
from fraud.domain.transaction import Transaction, format_instant
from fraud.settings import KafkaSecurity

READY_TIMEOUT_S = 180.0
POLL_INTERVAL_S = 0.2
TARGET_PER_S = 20_000

Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    bootstrap: str
    model_dir: Path
    out_dir: Path
    transactions: int = 50_000
    workers: tuple[int, ...] = (1, 2)
    paths: tuple[str, ...] = PATHS
    partitions: int = 6
    rate: int = 2_000
    duration_s: float = 10.0
    latency_workers: tuple[int, ...] = (1, 2)
    profile_transactions: int = 20_000
    batch_size: int | None = None
    worker_log_level: str = "info"
    run_timeout_s: float = 300.0
    settle_s: float = 60.0
    repeat: int = 1
    seed: int = 7
    phases: tuple[str, ...] = PHASES
    keep_data: bool = False
    progress: bool = True
    out_file: Path | None = None
    security: KafkaSecurity = PLAINTEXT
    # A PostgreSQL server: the throughput runs are made on it too, one fresh database each.
    postgres: str | None = None
    http_rate: int = 1_000  # offered POSTs a second of the paced HTTP runs
    wait_ms: int = 500  # the waited answer's budget
    user_counts: tuple[int, ...] = (10_000, 1_000_000)
    replay_rows: int = 388_000

    @property
    def databases(self) -> tuple[str, ...]:
        return ("sqlite",) if self.postgres is None else ("sqlite", "postgresql")

    def space(self, label: str, database: str = "sqlite") -> RunSpace:
        return RunSpace(
            self.bootstrap,
            self.out_dir,
            label,
            self.partitions,
            keep=self.keep_data,
            security=self.security,
            postgres=self.postgres if database == "postgresql" else None,
        )


@dataclass
class Results:
    config: dict[str, Any]
    machine: dict[str, Any]
    runs: dict[str, Any] = field(default_factory=dict)


def run_benchmark(config: BenchConfig, echo: Echo = print) -> dict[str, Any]:
    """Every phase in ``config.phases``; the results are written as JSON after each."""
    config.out_dir.mkdir(parents=True, exist_ok=True)
    results = Results(
        config={k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        machine=_machine(),
    )
    needed = max(
        config.transactions, round(config.rate * config.duration_s), config.profile_transactions
    )
    echo(f"simulating {needed:,} transactions (seed {config.seed})")
    population = [row.transaction for row in simulate(needed, seed=config.seed)]
    out_file = config.out_file or config.out_dir / "results.json"
    phases: dict[str, Callable[[], None]] = {
        "ceiling": lambda: _ceiling_phase(config, population, results, echo),
        "throughput": lambda: _throughput_phase(config, population, results, echo),
        "latency": lambda: _latency_phase(config, population, results, echo),
        "http": lambda: _http_phase(config, results, echo),
        "users": lambda: _users_phase(config, results, echo),
        "replay": lambda: _replay_phase(config, results, echo),
        "profile": lambda: _profile_phase(config, population, results, echo),
    }
    for name, phase in phases.items():
        if name in config.phases:
            phase()
            out_file.parent.mkdir(parents=True, exist_ok=True)
            out_file.write_text(json.dumps(asdict(results), indent=2, default=str))
    echo(f"results written to {out_file}")
    return asdict(results)


def _ceiling_phase(
    config: BenchConfig, population: Sequence[Transaction], results: Results, echo: Echo
) -> None:
    echo(f"[ceiling] {config.transactions:,} messages: produce, consume, round trip")
    with config.space("ceiling") as space:
        messages = _envelopes(population[: config.transactions])
        lines = plain.write_input(population[: config.transactions], space.directory / "kcat.txt")
        busy = _settle(config, echo)
        ceiling = measure_ceiling(space, messages, config.run_timeout_s, config.progress)
        if "kcat" in config.paths:
            # kcat into a topic nothing reads: how fast a plain client can offer the load.
            kcat_s = plain.produce(space, lines, Topic.DEAD_LETTERS)
            ceiling |= {"kcat_produce_s": round(kcat_s, 3)}
            ceiling |= {"kcat_produce_per_s": round(config.transactions / kcat_s)}
    results.runs["ceiling"] = {**ceiling, "background_busy_cores": busy}


def _throughput_phase(
    config: BenchConfig, population: Sequence[Transaction], results: Results, echo: Echo
) -> None:
    for path, database, workers in itertools.product(
        config.paths, config.databases, config.workers
    ):
        attempts = []
        for attempt in range(1, config.repeat + 1):
            echo(
                f"[throughput] {path}: {workers} worker(s) on {database}, "
                f"{config.transactions:,} transactions"
                + (f" (attempt {attempt}/{config.repeat})" if config.repeat > 1 else "")
            )
            run = measure_throughput(
                config, population[: config.transactions], path, workers, database, echo
            )
            echo(f"  {run['per_s']:,} tx/s")
            attempts.append(run)
        # The best attempt is the one least disturbed by anything else on the machine.
        best = max(attempts, key=lambda run: run["per_s"])
        results.runs[_throughput_key(path, database, workers)] = {
            **best,
            "attempts": [_attempt_summary(run) for run in attempts],
        }


def _throughput_key(path: str, database: str, workers: int) -> str:
    key = f"workers_{workers}" if database == "sqlite" else f"workers_{workers}_{database}"
    return key if path == "api" else f"{path}_{key}"


def _throughput_runs(runs: dict[str, Any]) -> list[dict[str, Any]]:
    return [run for key, run in runs.items() if "workers_" in key and "per_s" in run]


def _latency_phase(
    config: BenchConfig, population: Sequence[Transaction], results: Results, echo: Echo
) -> None:
    for workers in config.latency_workers:
        echo(f"[latency] {config.rate:,}/s for {config.duration_s:g}s on {workers} worker(s)")
        results.runs[f"latency_w{workers}"] = measure_latency(config, population, workers, echo)


def _http_phase(config: BenchConfig, results: Results, echo: Echo) -> None:
    workers = max(config.latency_workers)
    echo(
        f"[http] fraud serve and {workers} worker(s): POST /transaction unpaced, at "
        f"{config.http_rate:,}/s, and ?wait={config.wait_ms} at {config.http_rate:,}/s"
    )
    with config.space("http") as space:
        env = space.worker_environment(config.model_dir, config.worker_log_level, config.batch_size)
        results.runs["http"] = measure_http(
            space,
            env,
            workers,
            http_loads(config.http_rate, config.wait_ms),
            config.duration_s,
            lambda pool: _ready(pool, space),
            echo,
        )


def _users_phase(config: BenchConfig, results: Results, echo: Echo) -> None:
    workers = max(config.workers)
    runs = []
    for users in config.user_counts:
        echo(f"[users] {users:,} users, {workers} worker(s), {config.transactions:,} timed")
        with config.space(f"users-{users}") as space:
            env = space.worker_environment(
                config.model_dir, config.worker_log_level, config.batch_size
            )
            _settle(config, echo)
            run = measure_users(
                space,
                env,
                workers,
                users,
                config.transactions,
                lambda pool: _ready(pool, space),
                lambda counter, expected, pool: _wait_for_verdicts(config, counter, expected, pool),
                echo,
            )
        echo(f"  {run['per_s']:,} tx/s; {run['rss_bytes_per_user']:,} B of worker memory a user")
        runs.append(run)
    echo("  feature state per user, traced in this process (20,000 users)")
    state = {f"{events}_events": round(state_per_user(20_000, events)) for events in (1, 10)}
    first, last = runs[0]["per_s"], runs[-1]["per_s"]
    results.runs["users"] = {
        "runs": runs,
        "state_bytes_per_user": state,
        "ratio": round(last / first, 3) if first else None,
    }


def _replay_phase(config: BenchConfig, results: Results, echo: Echo) -> None:
    echo(f"[replay] fraud score on {config.replay_rows:,} rows")
    directory = config.out_dir / "replay"
    env = {
        **os.environ,
        "FRAUD_DATABASE_URL": f"sqlite:///{directory / 'replay.db'}",
        "FRAUD_LOG_FORMAT": "json",
    }
    _settle(config, echo)
    results.runs["replay"] = measure_replay(
        config.replay_rows, config.model_dir, directory, env, config.seed, echo
    )


def _ready(pool: WorkerPool, space: RunSpace) -> float:
    return pool.wait_until_ready(space.bootstrap, space.security, space.partitions, READY_TIMEOUT_S)


def _wait_for_verdicts(
    config: BenchConfig, counter: VerdictCounter, expected: int, pool: WorkerPool
) -> float:
    """Seconds until ``expected`` verdicts are stored; a BenchError when they never are."""
    started = time.perf_counter()
    timeout_s = config.run_timeout_s + expected / 1_000
    timeline = _follow(counter, expected, started, timeout_s, (pool.check_alive,), config.progress)
    if timeline[-1][1] < expected:
        raise BenchError(f"{timeline[-1][1]:,} of {expected:,} verdicts within {timeout_s:.0f}s")
    return timeline[-1][0]


def _profile_phase(
    config: BenchConfig, population: Sequence[Transaction], results: Results, echo: Echo
) -> None:
    if config.profile_transactions:
        echo(f"[profile] one worker's stages in-process, {config.profile_transactions:,} txns")
        results.runs["profile"] = run_profile(config, population, echo)


def _attempt_summary(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "per_s": run["per_s"],
        "steady_per_s": run["steady_per_s"],
        "seconds": run["seconds"],
        "other_cpu_s": run["cpu"]["other_cpu_s"],
        "busiest_others": run["cpu"]["busiest_others"],
    }


def _envelopes(transactions: Sequence[Transaction]) -> list[OutgoingMessage]:
    """The messages the API publishes for these transactions, received now."""
    now = datetime.now(UTC)
    envelopes = Envelopes(JsonSerializer())
    return [envelopes.transaction_message(transaction, now) for transaction in transactions]


def _publish_as_api(bus: KafkaBus, transactions: Sequence[Transaction], progress: bool) -> float:
    """Publish in API-sized batches, each stamped when sent; returns the seconds it took."""
    started = time.perf_counter()
    with tqdm(total=len(transactions), desc="publishing", unit="txn", disable=not progress) as bar:
        for batch in chunks(transactions, BATCH):
            bus.publish(Topic.TRANSACTIONS, _envelopes(batch))
            bar.update(len(batch))
    return time.perf_counter() - started


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


def _follow(
    counter: VerdictCounter,
    expected: int,
    started: float,
    timeout_s: float,
    checks: Sequence[Callable[[], None]],
    progress: bool,
) -> list[tuple[float, int]]:
    """(seconds since ``started``, verdicts stored) until all are in or the time is up."""
    timeline = [(0.0, 0)]
    deadline = time.perf_counter() + timeout_s
    with tqdm(total=expected, desc="verdicts stored", unit="txn", disable=not progress) as bar:
        while timeline[-1][1] < expected and time.perf_counter() < deadline:
            time.sleep(POLL_INTERVAL_S)
            for check in checks:
                check()
            count = counter.scored()
            timeline.append((time.perf_counter() - started, count))
            bar.update(count - bar.n)
    return timeline


def _crossing(timeline: Sequence[tuple[float, int]], level: float) -> float | None:
    """When the count reached ``level``, interpolated between polls."""
    for (t0, c0), (t1, c1) in itertools.pairwise(timeline):
        if c1 >= level:
            return t0 if c1 == c0 else t0 + (t1 - t0) * (level - c0) / (c1 - c0)
    return None


@dataclass(frozen=True)
class _Run:
    """What one run of workers left behind, from the first publish to the last verdict."""

    ready_s: float
    busy: float
    timeline: list[tuple[float, int]]
    usage: dict[str, Any]
    publish_s: float
    exit_codes: list[int | None]
    timings: list[tuple[datetime, datetime, datetime, float]]


def _run(
    config: BenchConfig,
    name: str,
    workers: int,
    count: int,
    publish: Callable[[KafkaBus, RunSpace], float],
    echo: Echo,
    *,
    with_timings: bool = False,
    database: str = "sqlite",
) -> _Run:
    """Start ``workers`` on a fresh space, publish with ``publish`` and follow the verdicts
    until ``count`` are stored; the workers, topics and database go afterwards."""
    with config.space(name, database) as space:
        space.migrate()
        env = space.worker_environment(config.model_dir, config.worker_log_level, config.batch_size)
        pool = WorkerPool(workers, env, space.group, space.directory / f"logs-{name}")
        counter = VerdictCounter(space.database_url)
        bus = KafkaBus(
            space.bootstrap, topic_prefix=space.prefix, client_id="bench", security=space.security
        )
        try:
            pool.start()
            ready_s = pool.wait_until_ready(
                space.bootstrap, space.security, space.partitions, READY_TIMEOUT_S
            )
            echo(f"  workers ready after {ready_s:.1f}s (groups stable, partitions assigned)")
            busy = _settle(config, echo)
            cpu = CpuMeter(pool, space.broker_pid)
            cpu.start()
            publisher = _Publisher(lambda: publish(bus, space))
            started = time.perf_counter()
            publisher.start()
            timeline = _follow(
                counter,
                count,
                started,
                config.run_timeout_s,
                (pool.check_alive, publisher.check),
                config.progress,
            )
            usage = cpu.stop()
            publish_s = publisher.result(config.run_timeout_s)
            timings = counter.timings() if with_timings else []
        finally:
            bus.close()
            exit_codes = pool.stop()
            counter.close()
    return _Run(ready_s, busy, timeline, usage, publish_s, exit_codes, timings)


def measure_throughput(
    config: BenchConfig,
    transactions: Sequence[Transaction],
    path: str,
    workers: int,
    database: str,
    echo: Echo,
) -> dict[str, Any]:
    """N transactions through K workers: from the first publish to the last verdict stored."""
    count = len(transactions)
    name = f"{path}-w{workers}-{database}"
    publish: Callable[[KafkaBus, RunSpace], float]
    if path == "kcat":
        lines = plain.write_input(transactions, config.out_dir / f"{name}.txt")
        publish = lambda _, space: plain.produce(space, lines)  # noqa: E731
    else:
        publish = lambda bus, _: _publish_as_api(bus, transactions, progress=False)  # noqa: E731
    run = _run(config, name, workers, count, publish, echo, database=database)
    timeline, usage = run.timeline, run.usage
    done_s, stored = timeline[-1]
    ten, ninety = _crossing(timeline, 0.1 * count), _crossing(timeline, 0.9 * count)
    steady = 0.8 * count / (ninety - ten) if ten is not None and ninety and ninety > ten else None
    return {
        "path": path,
        "workers": workers,
        "database": database,
        "partitions": config.partitions,
        "transactions": count,
        "stored": stored,
        "completed": stored >= count,
        "ready_s": round(run.ready_s, 2),
        "background_busy_cores": run.busy,
        "publish_s": round(run.publish_s, 3),
        "first_verdict_s": _crossing(timeline, 1),
        "seconds": round(done_s, 3),
        "per_s": round(stored / done_s) if done_s else 0,
        "steady_per_s": round(steady) if steady else None,
        "cpu": usage,
        "worker_cpu_us_per_txn": round(1e6 * usage["workers_cpu_s"] / max(1, stored), 1),
        "broker_cpu_us_per_txn": (
            round(1e6 * usage["broker_cpu_s"] / max(1, stored), 1)
            if usage["broker_cpu_s"] is not None
            else None
        ),
        "worker_exit_codes": run.exit_codes,
        "timeline": [(round(t, 2), c) for t, c in timeline],
    }


def measure_latency(
    config: BenchConfig, population: Sequence[Transaction], workers: int, echo: Echo
) -> dict[str, Any]:
    """Plain JSON produced at ``config.rate`` a second, each message stamped by the producer
    when sent (the stages take the broker's timestamp as receipt); latency from the DB."""
    count = round(config.rate * config.duration_s)
    transactions = population[:count]
    run = _run(
        config,
        f"latency-w{workers}",
        workers,
        count,
        lambda _, space: _produce_paced(space, transactions, config.rate),
        echo,
        with_timings=True,
    )
    timings = run.timings
    scored_ms = [latency for _, _, _, latency in timings]
    stored_ms = [
        (updated - received).total_seconds() * 1000.0 for received, _, updated, _ in timings
    ]
    return {
        "workers": workers,
        "offered_per_s": config.rate,
        "achieved_per_s": round(count / run.publish_s) if run.publish_s else None,
        "transactions": count,
        "stored": len(timings),
        "received_to_scored_ms": _percentiles(scored_ms),
        "received_to_stored_ms": _percentiles(stored_ms),
        "received_to_stored_ms_by_second": _by_second(timings),
        "background_busy_cores": run.busy,
        "cpu": run.usage,
        "worker_exit_codes": run.exit_codes,
    }


def _produce_paced(space: RunSpace, transactions: Sequence[Transaction], rate: int) -> float:
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
    if producer.flush(30):
        raise BenchError("the paced producer could not deliver every message within 30s")
    return seconds


def _by_second(
    timings: Sequence[tuple[datetime, datetime, datetime, float]],
) -> list[dict[str, Any]]:
    """Latency per second of sending: shows warm-up and queueing that one percentile hides."""
    if not timings:
        return []
    first = min(received for received, _, _, _ in timings)
    seconds: dict[int, list[float]] = {}
    for received, _, updated, _ in timings:
        second = int((received - first).total_seconds())
        seconds.setdefault(second, []).append((updated - received).total_seconds() * 1000.0)
    return [
        {"second": second, "count": len(values), **(_percentiles(values) or {})}
        for second, values in sorted(seconds.items())
    ]


def _settle(config: BenchConfig, echo: Echo) -> float:
    busy = wait_for_quiet(config.settle_s)
    if busy > 0.3:
        echo(f"  warning: the machine is busy with other work ({busy} cores): figures will be low")
    return busy


def _percentiles(values: Sequence[float]) -> dict[str, float] | None:
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


def run_profile(
    config: BenchConfig, population: Sequence[Transaction], echo: Echo
) -> dict[str, Any]:
    """Pre-produce two copies of the data, then ``fraud.bench.profile`` drains them in a child."""
    count = config.profile_transactions
    profile_dir = config.out_dir / "profile"
    profile_dir.mkdir(parents=True, exist_ok=True)
    with config.space("prof-plain") as plain, config.space("prof-cprofile") as profiled:
        for space in (plain, profiled):
            bus = KafkaBus(
                space.bootstrap,
                topic_prefix=space.prefix,
                client_id="bench",
                security=space.security,
            )
            try:
                _publish_as_api(bus, population[:count], config.progress)
            finally:
                bus.close()
        env = plain.worker_environment(config.model_dir, config.worker_log_level, config.batch_size)
        command = [sys.executable, "-m", "fraud.bench.profile"]
        command += ["--plain-prefix", plain.prefix, "--plain-database", plain.database_url]
        command += ["--profiled-prefix", profiled.prefix]
        command += ["--profiled-database", profiled.database_url]
        command += ["--group", plain.group, "--transactions", str(count)]
        command += ["--out-dir", str(profile_dir)]
        log_path = profile_dir / "profile-worker.log"
        busy = _settle(config, echo)
        echo("  running the stages (plain pass, then cProfile pass)")
        with log_path.open("wb") as log:
            try:
                subprocess.run(
                    command,
                    env=env,
                    preexec_fn=end_with_parent,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=config.run_timeout_s * 3,
                    check=True,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise BenchError(f"the profile run failed ({error}):\n{tail}") from None
    summary: dict[str, Any] = json.loads((profile_dir / "profile.json").read_text())
    summary["files"] = sorted(str(path) for path in profile_dir.iterdir())
    summary["background_busy_cores"] = busy
    return summary


def _machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "sqlite": sqlite3.sqlite_version,
        "started_at": datetime.now(UTC).isoformat(),
    }


def _disturbance(usage: dict[str, Any]) -> str:
    """A note when something outside the benchmark took a noticeable share of the machine."""
    if usage["other_cpu_s"] < 0.1 * usage["wall_s"] * usage["cores"]:
        return ""
    names = ", ".join(usage["busiest_others"]) or "unnamed"
    return f"; DISTURBED: {usage['other_cpu_s']} CPU-s by others ({names})"


def _column(run: dict[str, Any]) -> str:
    database = run.get("database", "sqlite")
    return database if run.get("path", "api") == "api" else f"{database} ({run['path']})"


def _scaling_table(runs: dict[str, Any]) -> list[str]:
    """Transactions a second by worker count (rows) and path and database (columns), with
    the gain over one worker: where the curve bends."""
    throughput = _throughput_runs(runs)
    columns = list(dict.fromkeys(_column(run) for run in throughput))
    counts = sorted({run["workers"] for run in throughput})
    if len(counts) < 2:
        return []
    figures = {(_column(run), run["workers"]): run["per_s"] for run in throughput}
    lines = [
        "",
        f"scaling on {throughput[0].get('partitions', '?')} partitions (tx/s, x one worker)",
    ]
    lines.append(f"{'workers':>8}" + "".join(f"{column:>22}" for column in columns))
    for count in counts:
        cells = []
        for column in columns:
            per_s, one = figures.get((column, count)), figures.get((column, counts[0]))
            gain = f" ({per_s / one:.2f}x)" if per_s and one else ""
            cells.append(f"{per_s:,}{gain}" if per_s is not None else "-")
        lines.append(f"{count:>8}" + "".join(f"{cell:>22}" for cell in cells))
    return lines


def _latency_lines(latency: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"latency at {latency['offered_per_s']:,}/s offered ({latency['achieved_per_s']:,}/s "
        f"sent as plain JSON, {latency['workers']} worker(s), {latency['stored']:,}/"
        f"{latency['transactions']:,} stored):",
    ]
    for label, key in (
        ("received -> scored", "received_to_scored_ms"),
        ("received -> recorded", "received_to_stored_ms"),
    ):
        figures = latency[key]
        if figures:
            lines.append(
                f"  {label:<20} p50 {figures['p50']:>7.1f} ms  p95 {figures['p95']:>7.1f} ms"
                f"  p99 {figures['p99']:>7.1f} ms  p99.9 {figures.get('p99_9', 0):>7.1f} ms"
                f"  max {figures['max']:>7.1f} ms"
            )
    timeline = latency.get("received_to_stored_ms_by_second") or []
    if timeline:
        # Per second of sending, so a stall shows instead of being averaged away.
        lines.append("  received -> recorded, p99 by second of sending (ms):")
        cells = [
            f"{s['second']:>3}s " + (f"{s['p99']:>7.1f}" if "p99" in s else "      -")
            for s in timeline
        ]
        for start in range(0, len(cells), 6):
            lines.append("    " + "   ".join(cells[start : start + 6]))
    return lines


def _http_lines(http: dict[str, Any] | None) -> list[str]:
    if not http:
        return []
    if "skipped" in http:
        return ["", f"http: skipped ({http['skipped']})"]
    lines = ["", f"http ({http['server']}, {http['workers']} worker(s)), measured with wrk:"]
    for name, label in (
        ("ingest", "POST, unpaced"),
        ("ingest_paced", "POST, paced"),
        ("waited", "POST ?wait, paced"),
    ):
        run = http.get(name)
        if not run:
            continue
        offered = f"{run['offered_per_s']:,}/s offered" if run["offered_per_s"] else "unpaced"
        outcome = (
            f"{run['decided']:,} decided in time (200), {run['pending']:,} pending (202)"
            if run["wait_ms"]
            else f"{run['pending'] + run['decided']:,} accepted"
        )
        lines.append(
            f"  {label:<20} {run['connections']:>4} conns, {offered:<16} {run['per_s']:>7,} req/s"
            f"  p50 {run['p50']:>7.1f} ms  p99 {run['p99']:>7.1f} ms  p99.9 {run['p99_9']:>7.1f} ms"
            f"  {outcome}, {run['other']:,} other, {run['socket_errors'] + run['timeouts']:,} "
            "socket errors"
        )
    return lines


def _users_lines(users: dict[str, Any] | None) -> list[str]:
    if not users:
        return []
    lines = ["", "cost by users (kcat, each user met once first, then timed):"]
    for run in users["runs"]:
        rss = run["workers_rss_mb"]
        lines.append(
            f"  {run['users']:>10,} users  {run['per_s']:>7,} tx/s  workers' memory "
            f"{rss['started']:,} -> {rss['users_met']:,} MB = {run['rss_bytes_per_user']:,} B/user;"
            f" CPU µs/txn: workers {run.get('worker_cpu_us_per_txn')}, "
            f"broker {run.get('broker_cpu_us_per_txn')}"
            + (_disturbance(run["cpu"]) if "cpu" in run else "")
        )
    if users["ratio"] is not None and len(users["runs"]) > 1:
        lines.append(f"  most users / fewest: {users['ratio']:.2f}x the throughput")
    state = users["state_bytes_per_user"]
    lines.append(
        f"  feature state per user: {state['1_events']:,} B with one purchase, "
        f"{state['10_events']:,} B with ten"
    )
    return lines


def format_report(results: dict[str, Any]) -> str:
    """The figures as a table, with the 20,000 tx/s target beside them."""
    runs = results["runs"]
    lines = [f"{'measurement':<40}{'tx/s':>10}{'steady tx/s':>13}{'seconds':>9}  notes"]
    ceiling = runs.get("ceiling")
    if ceiling:
        lines.append(
            f"{'broker produce (KafkaBus.publish)':<40}{ceiling['produce_per_s']:>10,}"
            f"{'':>13}{ceiling['produce_s']:>9.2f}  {ceiling['message_bytes_avg']} B/msg"
        )
        if "kcat_produce_per_s" in ceiling:
            lines.append(
                f"{'broker produce (kcat, plain JSON)':<40}{ceiling['kcat_produce_per_s']:>10,}"
                f"{'':>13}{ceiling['kcat_produce_s']:>9.2f}  the offered load's ceiling"
            )
        lines.append(
            f"{'broker consume (plain consumer)':<40}{ceiling['consume_per_s']:>10,}"
            f"{'':>13}{ceiling['consume_s']:>9.2f}"
        )
        lines.append(
            f"{'broker round trip (concurrent)':<40}{ceiling['round_trip_per_s']:>10,}"
            f"{'':>13}{ceiling['round_trip_s']:>9.2f}  "
            f"pipeline crosses it 3x: <= {ceiling['pipeline_bound_per_s']:,}/s"
        )
    throughput = _throughput_runs(runs)
    for run in throughput:
        steady = f"{run['steady_per_s']:,}" if run["steady_per_s"] else "-"
        status = "" if run["completed"] else f"INCOMPLETE {run['stored']}/{run['transactions']} "
        label = f"pipeline {run.get('path', 'api')}, {run['workers']} worker(s), " + run.get(
            "database", "sqlite"
        )
        lines.append(
            f"{label:<40}{run['per_s']:>10,}"
            f"{steady:>13}{run['seconds']:>9.2f}  {status}busy "
            f"{run['cpu']['machine_busy_cores']}/{run['cpu']['cores']} cores; CPU µs/txn: "
            f"workers {run['worker_cpu_us_per_txn']}, broker {run['broker_cpu_us_per_txn']}"
            + _disturbance(run["cpu"])
        )
    lines.extend(_scaling_table(runs))
    for key, run in runs.items():
        if key.startswith("latency"):
            lines.extend(_latency_lines(run))
    lines.extend(_http_lines(runs.get("http")))
    lines.extend(_users_lines(runs.get("users")))
    replay = runs.get("replay")
    if replay:
        lines.append("")
        lines.append(
            f"replay (fraud score, {replay['processes']} processes): {replay['rows']:,} rows in "
            f"{replay['seconds_after_startup']:.2f}s after {replay['startup_s']:.2f}s of start-up"
            f" = {replay['rows_per_s']:,} rows/s"
        )
    best = max((run["per_s"] for run in throughput), default=None)
    if best is not None:
        verdict = "meets" if best >= TARGET_PER_S else "is below"
        lines.append("")
        lines.append(
            f"best pipeline figure {best:,} tx/s {verdict} the {TARGET_PER_S:,} tx/s target"
        )
    profile = runs.get("profile")
    if profile:
        lines.append("")
        lines.append(profile["summary_text"])
        lines.append(f"(full profile: {Path(profile['files'][0]).parent})")
    return "\n".join(lines)
