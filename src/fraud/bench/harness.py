"""What every pipeline benchmark run needs: its own topics and database, workers, CPU counters.

Each run gets a fresh topic prefix, consumer-group prefix and SQLite file, so
runs never read each other's messages or verdicts and the broker's and the
database's state at the start of a run is the same every time.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine

from fraud.adapters.kafka.admin import create_topics
from fraud.adapters.kafka.settings import PLAINTEXT, admin_config
from fraud.adapters.sqlalchemy.databases import create_database, drop_database, url_of
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.migrate import upgrade
from fraud.adapters.sqlalchemy.tables import transactions
from fraud.application.stream.pipeline import consumer_group
from fraud.domain.ports import Topic
from fraud.settings import KafkaSecurity

STOP_GRACE_S = 20.0
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


class BenchError(RuntimeError):
    """The benchmark cannot go on (a worker died, the groups never formed, ...)."""


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class RunSpace:
    """One run's isolated resources: topics under ``prefix``, groups under ``group``, a database.

    Used as a context manager: topics are created on entry and deleted on exit
    (unless ``keep``), so repeated runs do not pile partitions onto the broker.
    """

    bootstrap: str
    directory: Path
    label: str
    partitions: int
    keep: bool = False
    security: KafkaSecurity = PLAINTEXT
    postgres: str | None = None  # a server to make the run's database on, else a SQLite file
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    # The run's registry is its own and thrown away with it: so is the key that signs it.
    archive_key: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)

    @property
    def prefix(self) -> str:
        return f"bench-{self.run_id}-{self.label}-"

    @property
    def group(self) -> str:
        return f"bench-{self.run_id}-{self.label}"

    @property
    def broker_pid(self) -> int | None:
        """The broker's process when it runs on this machine, else None."""
        host, _, port = self.bootstrap.split(",")[0].rpartition(":")
        if host not in ("127.0.0.1", "localhost", "::1", "[::1]") or not port.isdigit():
            return None
        return listening_pid(int(port))

    @property
    def database_path(self) -> Path:
        return self.directory / f"{self.label}.db"

    @property
    def database_name(self) -> str:
        return f"bench_{self.run_id}_{self.label}".lower().replace("-", "_")

    @property
    def database_url(self) -> str:
        if self.postgres is None:
            return f"sqlite:///{self.database_path}"
        return url_of(self.postgres, self.database_name)

    def __enter__(self) -> RunSpace:
        self.directory.mkdir(parents=True, exist_ok=True)
        create_topics(
            self.bootstrap, partitions=self.partitions, prefix=self.prefix, security=self.security
        )
        if self.postgres is not None:
            create_database(self.postgres, self.database_name)
        return self

    def __exit__(self, *_: object) -> None:
        if self.keep:
            return
        admin = AdminClient(admin_config(self.bootstrap, self.security))
        try:
            for future in admin.delete_topics(
                [self.prefix + topic for topic in Topic.ALL], request_timeout=30
            ).values():
                future.result()
        except KafkaException:
            pass  # best effort: a leftover topic costs disk, not correctness
        if self.postgres is not None:
            drop_database(self.postgres, self.database_name)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.database_path}{suffix}").unlink(missing_ok=True)

    def migrate(self) -> None:
        """Migrate once here, so K workers starting together do not race on a fresh file."""
        upgrade(self.database_url)

    def worker_environment(
        self, model_dir: Path, log_level: str, batch_size: int | None
    ) -> dict[str, str]:
        env = {
            **os.environ,
            "FRAUD_BROKER": "kafka",
            "FRAUD_KAFKA_BOOTSTRAP": self.bootstrap,
            "FRAUD_TOPIC_PREFIX": self.prefix,
            "FRAUD_DATABASE_URL": self.database_url,
            "FRAUD_MODEL_DIR": str(model_dir),
            "FRAUD_LOG_FORMAT": "json",
            "FRAUD_LOG_LEVEL": log_level,
            "FRAUD_ARCHIVE_KEY": self.archive_key,
        }
        env.pop("FRAUD_ARCHIVE_KEY_FILE", None)
        if batch_size is not None:
            env["FRAUD_BATCH_SIZE"] = str(batch_size)
        return env


def end_with_parent() -> None:
    """In a child before it runs: have Linux send it SIGTERM if the benchmark dies.

    ``WorkerPool.stop`` covers every exit Python sees; this covers the one it
    cannot (the benchmark killed outright), so no worker is left consuming.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the try/finally around every run still stops the workers


def expected_assignments(partitions: int) -> dict[str, int]:
    """Partitions each stage's group must hold in all before the pipeline is ready: the
    workers run every stage in one pass, in the group that reads transactions."""
    return {"all": partitions}


class WorkerPool:
    """``fraud worker --stage all`` processes; ``stop`` always ends them (SIGTERM, then KILL)."""

    def __init__(self, count: int, env: Mapping[str, str], group: str, log_dir: Path) -> None:
        self.count = count
        self.env = dict(env)
        self.group = group
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for index in range(1, self.count + 1):
            log = (self.log_dir / f"worker-{index}.log").open("wb")
            self._logs.append(log)
            command = [sys.executable, "-m", "fraud.entrypoints.cli.main"]
            command += ["worker", "--stage", "all", "--group", self.group]
            self.processes.append(
                subprocess.Popen(
                    command,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=end_with_parent,
                )
            )

    def check_alive(self) -> None:
        for index, process in enumerate(self.processes, start=1):
            if process.poll() is not None:
                raise BenchError(
                    f"worker {index} exited with {process.returncode}:\n{self.log_tail(index)}"
                )

    def log_tail(self, index: int, chars: int = 3_000) -> str:
        return (self.log_dir / f"worker-{index}.log").read_text(errors="replace")[-chars:]

    def wait_until_ready(
        self, bootstrap: str, security: KafkaSecurity, partitions: int, timeout_s: float
    ) -> float:
        """Wait until every stage's group is stable with all workers and all partitions, and
        every worker has said ``worker ready`` since its latest assignment (warm, its
        partitions settled on).

        Producing before then would measure start-up (imports, the model
        load, group joins) and a rebalance in mid-run instead of the pipeline.
        Returns the seconds it took.
        """
        started = time.monotonic()
        admin = AdminClient({**admin_config(bootstrap, security), "log_level": 4})
        wanted = {
            consumer_group(stage, self.group): count
            for stage, count in expected_assignments(partitions).items()
        }
        while time.monotonic() - started < timeout_s:
            self.check_alive()
            if _groups_ready(admin, wanted, self.count) and self._all_said_ready():
                return time.monotonic() - started
            time.sleep(0.25)
        raise BenchError(
            f"the workers' groups were not ready within {timeout_s:.0f}s:\n{self.log_tail(1)}"
        )

    def _all_said_ready(self) -> bool:
        """Each worker's last ``worker ready`` came after its latest assignment. Not a count
        of each: an assignment taken back before the worker settled on it (the second
        worker joining) is never followed by its own ``worker ready``."""
        for index in range(1, self.count + 1):
            log = (self.log_dir / f"worker-{index}.log").read_text(errors="replace")
            assigned = log.rfind('"partitions assigned"')
            if assigned < 0 or log.rfind('"worker ready"') < assigned:
                return False
        return True

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(process.pid) for process in self.processes)

    def stop(self) -> list[int | None]:
        """Ask each worker to finish its batch, then kill whatever has not gone after a grace."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for log in self._logs:
            log.close()
        self._logs.clear()
        return [process.returncode for process in self.processes]


def _groups_ready(admin: AdminClient, wanted: Mapping[str, int], members: int) -> bool:
    try:
        futures = admin.describe_consumer_groups(list(wanted), request_timeout=5)
        for group, future in futures.items():
            description = future.result()
            if description.state != ConsumerGroupState.STABLE:
                return False
            if len(description.members) != members:
                return False
            held = sum(len(m.assignment.topic_partitions) for m in description.members)
            if held != wanted[group]:
                return False
    except KafkaException:
        return False  # not known to the coordinator yet
    return True


class VerdictCounter:
    """Reads the run's database beside the workers (WAL lets it read while they write)."""

    def __init__(self, database_url: str, since: datetime | None = None) -> None:
        """``since``: count only transactions received from then on, through the index on
        receipt (a count over millions of earlier rows, five times a second, would take a
        share of the machine from the workers being measured)."""
        self.engine: Engine = create_engine_for(database_url)
        self.since = since

    def scored(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(self.statement()).scalar_one())

    def statement(self) -> Select[tuple[int]]:
        is_scored = transactions.c.status == "scored"
        if self.since is None:
            return select(func.count()).select_from(transactions).where(is_scored)
        # The status as a filter of the count, not a condition of the search: otherwise
        # SQLite searches the status index, every scored row of the table, and the
        # benchmark took half a core from the workers it measured (a million rows).
        return (
            select(func.count().filter(is_scored))
            .select_from(transactions)
            .where(transactions.c.received_at >= self.since)
        )

    def timings(self) -> list[tuple[datetime, datetime, datetime, float]]:
        """(received_at, scored_at, updated_at, latency_ms) of every scored transaction."""
        columns = transactions.c
        statement = select(
            columns.received_at, columns.scored_at, columns.updated_at, columns.latency_ms
        ).where(columns.status == "scored")
        with self.engine.connect() as connection:
            return [
                (row.received_at, row.scored_at, row.updated_at, row.latency_ms)
                for row in connection.execute(statement)
            ]

    def close(self) -> None:
        self.engine.dispose()


_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process (0 when it is gone), from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, interrupt) CPU seconds of all cores since boot: busy is all but idle and iowait."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    interrupts = sum(values[5:7])  # irq, softirq: loopback networking lands here
    return (sum(values[:8]) - idle) / _TICKS, interrupts / _TICKS


def machine_busy_seconds() -> float:
    return machine_cpu_seconds()[0]


def process_table() -> dict[int, tuple[str, float]]:
    """Every process's (name, CPU seconds), to name whatever else used the machine in a run."""
    table = {}
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            stat = (process / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        table[int(process.name)] = (name, (int(fields[11]) + int(fields[12])) / _TICKS)
    return table


def listening_pid(port: int) -> int | None:
    """The process listening on local TCP ``port`` (the broker), to count its CPU apart."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (process / "fd").iterdir()):
                return int(process.name)
        except OSError:
            continue  # gone, or not ours to look at
    return None


def wait_for_quiet(max_wait_s: float, threshold_cores: float = 0.3) -> float:
    """Wait (up to ``max_wait_s``) until the machine is nearly idle; returns its busy cores.

    The figures are only comparable when nothing else (a test run, a build)
    competes for the same cores, so each run waits for a quiet second first
    and records how busy the machine was anyway.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        before, started = machine_busy_seconds(), time.monotonic()
        time.sleep(1.0)
        busy = (machine_busy_seconds() - before) / (time.monotonic() - started)
        if busy <= threshold_cores or time.monotonic() >= deadline:
            return round(busy, 2)


@dataclass
class CpuMeter:
    """CPU used between ``start`` and ``stop``: the workers, the broker, this process, the rest.

    The rest is named (the busiest other processes, and interrupts) because on a
    shared machine a test run elsewhere would otherwise pass for pipeline cost.
    """

    workers: WorkerPool | None = None
    broker_pid: int | None = None
    _start: tuple[float, ...] = ()
    _table: dict[int, tuple[str, float]] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)

    def _sample(self) -> tuple[float, ...]:
        times = os.times()
        return (
            time.monotonic(),
            self.workers.cpu_seconds() if self.workers else 0.0,
            process_cpu_seconds(self.broker_pid) if self.broker_pid else 0.0,
            times.user + times.system,
            *machine_cpu_seconds(),
        )

    def start(self) -> None:
        self._table = process_table()
        self._start = self._sample()

    def stop(self) -> dict[str, Any]:
        end = self._sample()
        wall, workers, broker, bench, machine, interrupts = (
            b - a for a, b in zip(self._start, end, strict=True)
        )
        wall = max(wall, 1e-9)
        self.result = {
            "wall_s": round(wall, 3),
            "workers_cpu_s": round(workers, 2),
            "broker_cpu_s": round(broker, 2) if self.broker_pid else None,
            "bench_cpu_s": round(bench, 2),
            "other_cpu_s": round(max(0.0, machine - workers - broker - bench), 2),
            "interrupts_cpu_s": round(interrupts, 2),
            "busiest_others": self._busiest_others(),
            "machine_busy_cores": round(machine / wall, 2),
            "cores": os.cpu_count() or 0,
        }
        return self.result

    def _busiest_others(self, count: int = 3) -> list[str]:
        known = {os.getpid(), self.broker_pid}
        if self.workers is not None:
            known.update(process.pid for process in self.workers.processes)
        used = []
        for pid, (name, cpu) in process_table().items():
            if pid in known:
                continue
            before = self._table.get(pid, (name, 0.0))[1]
            if cpu - before >= 0.05:
                used.append((cpu - before, f"{name}[{pid}] {cpu - before:.2f}s"))
        return [text for _, text in sorted(used, reverse=True)[:count]]
