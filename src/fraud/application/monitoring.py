"""Read side for operators: the live activity window and the pipeline's health."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import structlog

from fraud.domain.monitoring import ActivitySnapshot, ActivityWindow
from fraud.domain.ports import Clock, MessageBus, Topic, UnitOfWorkFactory

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
        unit_of_work: UnitOfWorkFactory,
        clock: Clock,
        *,
        bucket_seconds: int = 2,
        span_seconds: int = 300,
        settle: timedelta = timedelta(seconds=15),
        interval: timedelta = timedelta(seconds=1),
    ) -> None:
        self.unit_of_work = unit_of_work
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
        with self.unit_of_work() as uow:
            tallies = uow.verdicts.activity_since(start)
        self._window.rebuild_from(start, tallies)
        self._refreshed_at = now


Consumers = Mapping[str, tuple[str, Sequence[str]]]  # stage -> its consumer group and topics


@dataclass(frozen=True, slots=True)
class StageHealth:
    stage: str
    group: str
    lag: dict[str, int | None]  # by topic; None when the bus could not say


@dataclass(frozen=True, slots=True)
class PipelineHealth:
    stages: list[StageHealth]
    dead_letters: int | None  # messages on the dead-letter topic; None when unknown


def pipeline_health(bus: MessageBus, consumers: Consumers) -> PipelineHealth:
    """Each stage's consumer lag per topic and the dead letters waiting.

    A bus that cannot answer (a broker down) yields None for that figure rather
    than an error: the dashboard should show the gap, not fail.
    """
    stages = [
        StageHealth(
            stage=stage,
            group=group,
            lag={topic: _asked(partial(bus.lag, group, topic)) for topic in topics},
        )
        for stage, (group, topics) in consumers.items()
    ]
    return PipelineHealth(stages, _asked(partial(bus.size, Topic.DEAD_LETTERS)))


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
    multiply them.
    """

    def __init__(
        self, bus: MessageBus, clock: Clock, interval: timedelta = timedelta(seconds=2)
    ) -> None:
        self.bus = bus
        self.clock = clock
        self.interval = interval
        self._lock = threading.Lock()
        self._last: tuple[datetime, Consumers, PipelineHealth] | None = None

    def health(self, consumers: Consumers) -> PipelineHealth:
        with self._lock:
            now = self.clock.now()
            if self._last is not None:
                looked_at, watched, health = self._last
                if watched == consumers and now - looked_at < self.interval:
                    return health
            health = pipeline_health(self.bus, consumers)
            self._last = (now, dict(consumers), health)
            return health
