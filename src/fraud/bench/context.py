"""What every phase of ``fraud bench`` works with: the configuration, the container it wires
through (``bootstrap``, as every entrypoint does), and how it says what it is doing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from tqdm import tqdm

from fraud.bench.config import BenchConfig
from fraud.bench.harness import BenchError, RunSpace, VerdictCounter, WorkerPool, wait_for_quiet
from fraud.containers import Container, bootstrap
from fraud.domain.ports import MessageBus, OutgoingMessage
from fraud.domain.transaction import Transaction

READY_TIMEOUT_S = 180.0
POLL_INTERVAL_S = 0.2
BUSY_CORES = 0.3  # other work on the machine above this many cores makes figures low

Echo = Callable[[str], None]
Timeline = list[tuple[float, int]]  # (seconds since the start, verdicts stored)


@dataclass(frozen=True)
class Bench:
    """A benchmark under way: ``config``, ``echo`` for its progress lines, and the container
    of the process (its envelopes and simulator); :meth:`wired` gives a run's own."""

    config: BenchConfig
    echo: Echo
    container: Container

    @classmethod
    def of(cls, config: BenchConfig, echo: Echo) -> Bench:
        return cls(config, echo, bootstrap(config.settings))

    @contextmanager
    def bus(self, space: RunSpace) -> Iterator[MessageBus]:
        """The bus on ``space``'s topics, wired by the container as a worker's is; closed
        (what is in flight delivered) on leaving."""
        settings = replace(
            self.config.settings,
            broker="kafka",
            kafka_bootstrap=space.bootstrap,
            kafka_security=space.security,
            topic_prefix=space.prefix,
            database_url=space.database_url,
        )
        container = bootstrap(settings)
        try:
            yield container.bus()
        finally:
            container.shutdown_resources()

    def envelopes(self, transactions: Sequence[Transaction]) -> list[OutgoingMessage]:
        """The messages the API publishes for these transactions, received now."""
        now = datetime.now(UTC)
        envelopes = self.container.envelopes()
        return [envelopes.transaction_message(transaction, now) for transaction in transactions]

    def worker_environment(self, space: RunSpace) -> dict[str, str]:
        runs = self.config.runs
        return space.worker_environment(
            self.config.model_dir, runs.worker_log_level, runs.batch_size
        )

    def settle(self) -> float:
        """Wait for other work on the machine to finish (up to the configured time); the
        cores it still kept busy, said when they will make the figures low."""
        busy = wait_for_quiet(self.config.runs.settle_s)
        if busy > BUSY_CORES:
            self.echo(
                f"  warning: the machine is busy with other work ({busy} cores): "
                "figures will be low"
            )
        return busy

    def ready(self, pool: WorkerPool, space: RunSpace) -> float:
        """Seconds until every worker of ``pool`` said it is ready on ``space``."""
        return pool.wait_until_ready(
            space.bootstrap, space.security, space.partitions, READY_TIMEOUT_S
        )

    def wait_for_verdicts(self, counter: VerdictCounter, expected: int, pool: WorkerPool) -> float:
        """Seconds until ``expected`` verdicts are stored; a BenchError when they never are."""
        started = time.perf_counter()
        timeout_s = self.config.runs.timeout_s + expected / 1_000
        timeline = self.follow(counter, expected, started, timeout_s, (pool.check_alive,))
        if timeline[-1][1] < expected:
            raise BenchError(
                f"{timeline[-1][1]:,} of {expected:,} verdicts within {timeout_s:.0f}s"
            )
        return timeline[-1][0]

    def follow(
        self,
        counter: VerdictCounter,
        expected: int,
        started: float,
        timeout_s: float,
        checks: Sequence[Callable[[], None]],
    ) -> Timeline:
        """The verdicts stored, polled until all ``expected`` are in or the time is up;
        each of ``checks`` raises when the run can no longer finish."""
        timeline = [(0.0, 0)]
        deadline = time.perf_counter() + timeout_s
        progress = self.config.progress
        with tqdm(total=expected, desc="verdicts stored", unit="txn", disable=not progress) as bar:
            while timeline[-1][1] < expected and time.perf_counter() < deadline:
                time.sleep(POLL_INTERVAL_S)
                for check in checks:
                    check()
                count = counter.scored()
                timeline.append((time.perf_counter() - started, count))
                bar.update(count - bar.n)
        return timeline
