"""The pipeline's stages running in this process, and what a web process knows of them.

Each stage joins the consumer group ``<prefix>-<stage>`` on the topics it reads;
those names are the pipeline's contract with the broker (lag, rebalancing), so
every process derives them from here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from fraud.application.metrics import NO_METRICS
from fraud.application.stream.fused import FusedStage
from fraud.application.stream.preprocess import PreprocessStage
from fraud.application.stream.record import RecordStage
from fraud.application.stream.score import ScoreStage
from fraud.application.stream.stage import Stage, StageRunner
from fraud.domain.ports import MessageBus, PipelineMetrics, Topic

log = structlog.get_logger(__name__)

STAGES = ("preprocess", "score", "record")
# Every stage in one pass (``fused``): what ``fraud run`` and ``fraud worker --stage all`` run.
ALL = FusedStage.name
STAGE_TOPICS: dict[str, tuple[str, ...]] = {
    "preprocess": PreprocessStage.topics,
    "score": ScoreStage.topics,
    "record": RecordStage.topics,
    ALL: FusedStage.topics,
}
DEFAULT_GROUP_PREFIX = "fraud"


def consumer_group(stage: str, prefix: str = DEFAULT_GROUP_PREFIX) -> str:
    """The stage's consumer group; the pass of every stage joins the preprocess stage's,
    whose topic it reads."""
    return f"{prefix}-{FusedStage.group if stage == ALL else stage}"


@dataclass(frozen=True, slots=True)
class StageConsumer:
    """A stage's consumer group and the topics it reads: whose lag operators watch."""

    stage: str
    group: str
    topics: tuple[str, ...]


def stage_consumers(
    stages: Iterable[str] = STAGES, prefix: str = DEFAULT_GROUP_PREFIX
) -> list[StageConsumer]:
    return [
        StageConsumer(name, consumer_group(name, prefix), STAGE_TOPICS[name]) for name in stages
    ]


def consumers_in_use(consumers: Iterable[StageConsumer], bus: MessageBus) -> list[StageConsumer]:
    """Of the stages' consumers, those the deployment runs: the first stage's always (its
    backlog is what clients sent), the others once the bus knows their group. Workers that
    run every stage in one pass have no score or record group, whose lag would otherwise
    be counted over the whole of topics nobody needs to read."""
    known = bus.known_groups()
    return [c for c in consumers if c.group in known or Topic.TRANSACTIONS in c.topics]


class PipelineStatus(Protocol):
    """What the API and the dashboard know of the stages."""

    def running(self) -> bool | None:
        """Whether this process's stages run; None when they run in other processes."""

    def consumers(self) -> Sequence[StageConsumer]:
        """The stages' consumer groups and topics."""


class StagesElsewhere:
    """The stages run in ``fraud worker`` processes (``fraud serve``): nothing to check here."""

    def __init__(self, group_prefix: str = DEFAULT_GROUP_PREFIX) -> None:
        self._consumers = stage_consumers(STAGES, group_prefix)

    def running(self) -> bool | None:
        return None

    def consumers(self) -> Sequence[StageConsumer]:
        return self._consumers


class Pipeline:
    """The chosen stages, each a ``StageRunner`` on its own thread of this process."""

    def __init__(
        self,
        stages: Mapping[str, Callable[[], Stage]],
        bus: MessageBus,
        *,
        names: Sequence[str] = STAGES,
        group_prefix: str = DEFAULT_GROUP_PREFIX,
        batch_size: int = 500,
        poll_timeout: float = 0.05,
        metrics: PipelineMetrics = NO_METRICS,
    ) -> None:
        unknown = set(names) - set(stages)
        if unknown:
            raise ValueError(f"no such stage: {', '.join(sorted(unknown))}")
        self.bus = bus
        self.group_prefix = group_prefix
        self.stop_event = threading.Event()
        self._consumers = stage_consumers(names, group_prefix)
        self.runners = []
        for consumer in self._consumers:
            stage = stages[consumer.stage]()
            self.runners.append(
                StageRunner(
                    stage,
                    bus.consumer(consumer.group, stage.topics),
                    bus,
                    batch_size=batch_size,
                    poll_timeout=poll_timeout,
                    metrics=metrics,
                )
            )
        self.threads: list[threading.Thread] = []
        self.failures: list[str] = []

    def running(self) -> bool | None:
        return self.alive()

    def consumers(self) -> Sequence[StageConsumer]:
        return self._consumers

    def start(self) -> None:
        """Warm every stage up (a model's first call, the rule set's first read), then run
        each on its thread; :meth:`ready` says when they all hold their partitions."""
        for runner in self.runners:
            runner.warm_up()
        for runner in self.runners:
            thread = threading.Thread(
                target=self._run, args=(runner,), name=f"stage-{runner.stage.name}"
            )
            thread.start()
            self.threads.append(thread)

    def _run(self, runner: StageRunner) -> None:
        try:
            runner.run(self.stop_event)
        except Exception:  # logged by the runner; the worker reports it and exits non-zero
            self.failures.append(runner.stage.name)

    def ready(self) -> bool:
        """Every stage warm, holding its partitions, and a whole loop run since: traffic now
        meets no cold stall."""
        return bool(self.runners) and all(runner.ready.is_set() for runner in self.runners)

    def settled(self) -> int | None:
        """How many assignments the stages have settled on, once every stage has settled on
        its latest (None while one has not): it grows with each rebalance this process went
        through and came out ready from."""
        if not self.ready() or any(r.settled != r.assignments for r in self.runners):
            return None
        return sum(runner.settled for runner in self.runners)

    def held_partitions(self) -> list[str]:
        """The partitions this process's stages hold, as ``topic[partition]``."""
        return sorted(
            f"{topic}[{partition}]" for runner in self.runners for topic, partition in runner.held
        )

    def wait_until_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for runner in self.runners:
            while not runner.ready.wait(0.1):
                if not self.alive() or time.monotonic() > deadline:
                    return False
        return True

    def stopped_cleanly(self) -> bool:
        return not self.failures

    def alive(self) -> bool:
        return bool(self.threads) and all(thread.is_alive() for thread in self.threads)

    def run_until_idle(self, rounds: int = 10) -> int:
        """Run each stage's loop in this thread until no message is left in flight (tests,
        and tools that drive the pipeline step by step); returns how many were handled."""
        handled = 0
        for _ in range(rounds):
            step = sum(runner.run_once() for runner in self.runners)
            handled += step
            if step == 0:
                break
        return handled

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every stage has committed everything on its topics (or time is up)."""
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            behind = sum(
                self.bus.lag(consumer.group, topic)
                for consumer in self._consumers
                for topic in consumer.topics
            )
            if behind == 0:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        """Close the consumers of a pipeline that was stepped by hand, never started."""
        for runner in self.runners:
            runner.consumer.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Each stage finishes and commits the batch in hand, then closes its consumer."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        log.info("pipeline stopped")
