"""What ``fraud bench`` measures and how, in the groups its options come in: how every run
is made, then what each phase offers the pipeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraud.bench import PATHS, PHASES
from fraud.settings import Settings
from fraud.urls import masked

if TYPE_CHECKING:  # the harness brings the Kafka and SQL clients: not for `fraud --help`
    from fraud.bench.harness import RunSpace


@dataclass(frozen=True, slots=True)
class Runs:
    """How every run is made: topics of ``partitions`` partitions, workers at a batch size
    and log level, how long a run may wait for its verdicts and for the machine to settle
    before it starts, and whether its topics and databases are kept afterwards.
    ``postgres``: a server the throughput runs are also made on (one fresh database each)."""

    partitions: int = 6
    batch_size: int | None = None
    worker_log_level: str = "info"
    timeout_s: float = 300.0
    settle_s: float = 60.0
    keep_data: bool = False
    postgres: str | None = None
    seed: int = 7

    @property
    def databases(self) -> tuple[str, ...]:
        return ("sqlite",) if self.postgres is None else ("sqlite", "postgresql")


@dataclass(frozen=True, slots=True)
class Throughput:
    """``transactions`` through each count of ``workers``, arriving by each of ``paths``,
    ``repeat`` times (the best is reported); also the broker ceiling's message count."""

    transactions: int = 50_000
    workers: tuple[int, ...] = (1, 2)
    paths: tuple[str, ...] = PATHS
    repeat: int = 1


@dataclass(frozen=True, slots=True)
class Latency:
    """``rate`` transactions a second offered for ``duration_s`` to each count of
    ``workers`` (the HTTP runs last as long)."""

    rate: int = 2_000
    duration_s: float = 10.0
    workers: tuple[int, ...] = (1, 2)


@dataclass(frozen=True, slots=True)
class Http:
    """POSTs a second offered to the paced HTTP runs, and the waited answer's budget."""

    rate: int = 1_000
    wait_ms: int = 500


@dataclass(frozen=True, slots=True)
class Offline:
    """The card holders of the users phase, the rows `fraud score` replays, and the
    transactions through the profiled worker (0 skips the profile)."""

    user_counts: tuple[int, ...] = (10_000, 1_000_000)
    replay_rows: int = 388_000
    profile_transactions: int = 20_000


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """A whole benchmark: the process's settings (the broker, its security), the model the
    workers score with, where the results go, the phases run, and each group above."""

    settings: Settings
    model_dir: Path
    out_dir: Path
    phases: tuple[str, ...] = PHASES
    runs: Runs = field(default_factory=Runs)
    throughput: Throughput = field(default_factory=Throughput)
    latency: Latency = field(default_factory=Latency)
    http: Http = field(default_factory=Http)
    offline: Offline = field(default_factory=Offline)
    progress: bool = True
    out_file: Path | None = None

    @property
    def results_file(self) -> Path:
        return self.out_file or self.out_dir / "results.json"

    def space(self, label: str, database: str = "sqlite") -> RunSpace:
        """A run's own topics and database, on the broker the settings name."""
        from fraud.bench.harness import RunSpace

        return RunSpace(
            self.settings.kafka_bootstrap,
            self.out_dir,
            label,
            self.runs.partitions,
            keep=self.runs.keep_data,
            security=self.settings.kafka_security,
            postgres=self.runs.postgres if database == "postgresql" else None,
        )

    def described(self) -> dict[str, Any]:
        """The configuration as the results file records it (no setting that may hold a
        secret: the broker's address and security protocol alone)."""
        groups = ("throughput", "latency", "http", "offline")
        return {
            "bootstrap": self.settings.kafka_bootstrap,
            "security_protocol": self.settings.kafka_security.protocol,
            "model_dir": str(self.model_dir),
            "out_dir": str(self.out_dir),
            "phases": self.phases,
            **{group: asdict(getattr(self, group)) for group in groups},
            "runs": {
                **asdict(self.runs),
                "postgres": self.runs.postgres and masked(self.runs.postgres),
            },
        }
