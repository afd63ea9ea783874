"""Read side for operators: the live activity window and the pipeline's health."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

import structlog

from fraud.application.stream.pipeline import PipelineStatus, StageConsumer, consumers_in_use
from fraud.domain.monitoring import ActivitySnapshot, ActivityWindow
from fraud.domain.ports import ActivityQueries, Clock, MessageBus, Topic

log = structlog.get_logger(__name__)


class ActivityMonitor:
    """Keeps the dashboard's rolling window of verdicts current, reading only recent rows.

    It reads the per-second tallies the record stage logs with every batch. The
    first refresh reads the whole span; later ones read the seconds since
    ``settle`` before the previous refresh, because a batch is committed a moment
    after it was scored and would otherwise be missed. Refreshes happen at
    most once per ``interval`` however many dashboards ask, and one lock makes the
    monitor safe to share between a web server's threads.
    """

    def __init__(
        self,
        activity: ActivityQueries,
        clock: Clock,
        *,
        bucket_seconds: int = 2,
        span_seconds: int = 300,
        settle: timedelta = timedelta(seconds=15),
        interval: timedelta = timedelta(seconds=1),
    ) -> None:
        self.activity = activity
        self.clock = clock
        self.settle = settle
        self.interval = interval
        self._window = ActivityWindow(bucket_seconds, span_seconds)
        self._lock = threading.Lock()
        self._refreshed_at: datetime | None = None

    def snapshot(self) -> ActivitySnapshot:
        with self._lock:
            now = self.clock.now()
            if self._refreshed_at is None or now - self._refreshed_at >= self.interval:
                self._refresh(now)
            return self._window.snapshot(now)

    def _refresh(self, now: datetime) -> None:
        oldest = now - timedelta(seconds=self._window.span_seconds)
        since = oldest if self._refreshed_at is None else self._refreshed_at - self.settle
        start = self._window.bucket_start(max(since, oldest))
        tallies = self.activity.activity_since(start)
        self._window.rebuild_from(start, tallies)
        self._refreshed_at = now


@dataclass(frozen=True, slots=True)
class StageHealth:
    stage: str
    group: str
    lag: dict[str, int | None]  # by topic; None when the bus could not say


@dataclass(frozen=True, slots=True)
class PipelineHealth:
    running: bool | None  # whether this process's stages run; None when they run elsewhere
    stages: list[StageHealth]
    dead_letters: int | None  # messages on the dead-letter topic; None when unknown


def pipeline_health(bus: MessageBus, status: PipelineStatus) -> PipelineHealth:
    """Each stage's consumer lag per topic and the dead letters waiting.

    A bus that cannot answer (a broker down) yields None for that figure rather
    than an error: the dashboard should show the gap, not fail.
    """
    stages = [
        StageHealth(
            stage=consumer.stage,
            group=consumer.group,
            lag={
                topic: _asked(partial(bus.lag, consumer.group, topic)) for topic in consumer.topics
            },
        )
        for consumer in _in_use(status.consumers(), bus)
    ]
    return PipelineHealth(status.running(), stages, _asked(partial(bus.size, Topic.DEAD_LETTERS)))


def _in_use(consumers: Sequence[StageConsumer], bus: MessageBus) -> Sequence[StageConsumer]:
    try:
        return consumers_in_use(consumers, bus)
    except Exception as error:  # a broker down: every stage, each figure unknown
        log.warning("consumer groups unavailable", error=str(error))
        return consumers


def _asked(question: Callable[[], int]) -> int | None:
    try:
        answer = question()
    except Exception as error:  # a broker down is shown as unknown, not raised
        log.warning("pipeline figure unavailable", error=str(error))
        return None
    return int(answer)


class PipelineWatch:
    """:func:`pipeline_health` at most once per ``interval``, shared by every request.

    On Kafka each look costs a few broker round trips (a quarter of a second on
    the local broker), so a room of analysts with the dashboard open must not
    multiply them. Whether the stages run is asked afresh each time: it is free.
    """

    def __init__(
        self,
        bus: MessageBus,
        clock: Clock,
        status: PipelineStatus,
        interval: timedelta = timedelta(seconds=2),
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.status = status
        self.interval = interval
        self._lock = threading.Lock()
        self._last: tuple[datetime, PipelineHealth] | None = None

    def health(self) -> PipelineHealth:
        with self._lock:
            now = self.clock.now()
            if self._last is not None:
                looked_at, health = self._last
                if now - looked_at < self.interval:
                    return replace(health, running=self.status.running())
            health = pipeline_health(self.bus, self.status)
            self._last = (now, health)
            return health
