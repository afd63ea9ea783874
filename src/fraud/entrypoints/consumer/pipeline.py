"""Run pipeline stages in threads of this process, and stop them cleanly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import structlog

from fraud.adapters.prometheus.metrics import WatchedConsumer
from fraud.application.preprocess import PreprocessStage
from fraud.application.record import RecordStage
from fraud.application.score import ScoreStage
from fraud.application.stage import Stage, StageRunner
from fraud.containers import Container

log = structlog.get_logger(__name__)

STAGES = ("preprocess", "score", "record")
STAGE_TOPICS: dict[str, tuple[str, ...]] = {
    "preprocess": PreprocessStage.topics,
    "score": ScoreStage.topics,
    "record": RecordStage.topics,
}


def consumer_group(stage: str, prefix: str = "fraud") -> str:
    return f"{prefix}-{stage}"


def watched_consumers(
    stages: Iterable[str] = STAGES, prefix: str = "fraud"
) -> list[WatchedConsumer]:
    """The consumer groups whose lag ``/metrics`` reports."""
    return [
        WatchedConsumer(name, consumer_group(name, prefix), STAGE_TOPICS[name]) for name in stages
    ]


class Pipeline:
    """The chosen stages, each a ``StageRunner`` on its own thread."""

    def __init__(
        self, container: Container, stages: Iterable[str] = STAGES, *, group_prefix: str = "fraud"
    ) -> None:
        self.container = container
        self.group_prefix = group_prefix
        stages = tuple(stages)
        self.stop_event = threading.Event()
        settings = container.config()
        factories: dict[str, Callable[[], Stage]] = {
            "preprocess": container.preprocess_stage,
            "score": container.score_stage,
            "record": container.record_stage,
        }
        bus = container.bus()
        metrics = container.metrics()
        self.runners = []
        for name in stages:
            stage = factories[name]()
            self.runners.append(
                StageRunner(
                    stage,
                    bus.consumer(consumer_group(name, group_prefix), stage.topics),
                    bus,
                    batch_size=settings["batch_size"],
                    poll_timeout=settings["poll_timeout_s"],
                    metrics=metrics,
                )
            )
        self.watched = watched_consumers(stages, group_prefix)
        metrics.watch_consumer_lag(container.bus, self.watched)
        self.threads: list[threading.Thread] = []
        self.failures: list[str] = []

    def start(self) -> None:
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

    def stopped_cleanly(self) -> bool:
        return not self.failures

    def alive(self) -> bool:
        return bool(self.threads) and all(thread.is_alive() for thread in self.threads)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every stage has committed everything on its topics (or time is up)."""
        bus = self.container.bus()
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            behind = sum(
                bus.lag(consumer_group(runner.stage.name, self.group_prefix), topic)
                for runner in self.runners
                for topic in runner.stage.topics
            )
            if behind == 0:
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 30.0) -> None:
        """Each stage finishes and commits the batch in hand, then closes its consumer."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        log.info("pipeline stopped")
