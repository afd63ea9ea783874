"""The loop every pipeline stage runs: poll a batch, handle it, publish, then commit.

Offsets are committed only after a batch's output is durable (published, or
written to the database by the stage itself), so a crash redelivers the batch
and nothing accepted is lost. Transient failures are retried with backoff and
never dead-lettered; a batch that fails otherwise is split so that only the
messages that fail on their own go to the dead-letter topic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import structlog

from fraud.application.metrics import NO_METRICS
from fraud.application.stream.dead_letters import dead_letter
from fraud.application.stream.envelopes import TRANSACTION_ID_HEADER
from fraud.domain.errors import MessageRefused, TransientFailure
from fraud.domain.ports import (
    TRACEPARENT,
    AssignedPartition,
    Message,
    MessageBus,
    MessageConsumer,
    OutgoingMessage,
    PipelineMetrics,
    Topic,
)
from fraud.domain.ports.tracing import trace_id_of
from fraud.domain.refusals import Refusal

log = structlog.get_logger(__name__)

# A loop of the stage longer than this is logged with where its time went: a stall shows
# itself in the worker's log, not only as a latency percentile.
SLOW_LOOP_S = 0.25


def tracing(logger_name: str) -> bool:
    """Whether per-transaction debug lines would be written: asked once a batch, not a line."""
    return logging.getLogger(logger_name).isEnabledFor(logging.DEBUG)


@dataclass
class BatchOutput:
    """What handling a batch produced, per topic; and the messages it held back, to be
    handed out again (each partition from its first held message) and not committed."""

    messages: dict[str, list[OutgoingMessage]] = field(default_factory=lambda: defaultdict(list))
    held: list[Message] = field(default_factory=list)
    # What the transactions dead-lettered for breaking the contract broke: (field, rule).
    refused: Counter[Refusal] = field(default_factory=Counter)

    def add(self, topic: str, message: OutgoingMessage) -> None:
        self.messages[topic].append(message)

    def dead_letter(
        self, message: Message, stage: str, error: str, refused: Iterable[Refusal] = ()
    ) -> None:
        log.warning(
            "message dead-lettered",
            stage=stage,
            source_topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            error=error,
            transaction_id=message.headers.get(TRANSACTION_ID_HEADER),
            trace_id=trace_id_of(message.headers.get(TRACEPARENT)),
        )
        self.add(Topic.DEAD_LETTERS, dead_letter(message, stage, error))
        self.refused.update(refused)

    def merge(self, other: BatchOutput) -> None:
        for topic, messages in other.messages.items():
            self.messages[topic].extend(messages)
        self.held.extend(other.held)
        self.refused.update(other.refused)


class Stage(Protocol):
    name: str
    topics: tuple[str, ...]

    def handle(self, batch: Sequence[Message]) -> BatchOutput:
        """Process a batch; messages it cannot read go to the output as dead letters."""


@runtime_checkable
class StatefulStage(Stage, Protocol):
    """A stage whose state is rebuilt from the log when it takes partitions over."""

    def restore(
        self, assigned: Sequence[AssignedPartition], bus: MessageBus
    ) -> Sequence[AssignedPartition]:
        """Rebuild the state of newly owned partitions; returns the partitions that must
        resume elsewhere than at their committed offset, and where."""


@runtime_checkable
class PacedStage(Stage, Protocol):
    """A stage that may hold messages back until others catch up, and must hear, between
    batches, which of its partitions have gone idle."""

    def tick(self, idle: set[tuple[str, int]]) -> BatchOutput:
        """What to publish now that ``idle`` partitions have nothing more to hand out."""

    def releasable(self) -> set[tuple[str, int]]:
        """The partitions held back that may be handed out again now."""

    def wait_for_others(self, timeout: float) -> BatchOutput:
        """Wait at most ``timeout`` seconds for what the other workers write, and learn it:
        called when a whole batch was held back, so that the batch goes as soon as the
        others catch up rather than after a fixed pause."""

    def close(self) -> None:
        """Let go of what it reads besides its consumer."""


@runtime_checkable
class WarmingStage(Stage, Protocol):
    """A stage with work to do once before its first batch (a model's first call, the rule
    set's first read), so that the first transactions wait for none of it."""

    def warm_up(self, batch_size: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.05
    maximum: float = 5.0

    def delay(self, attempt: int) -> float:
        return min(self.maximum, self.initial * 2.0**attempt)


class LoopTimer:
    """Where one loop of a stage spent its time, phase by phase."""

    def __init__(self) -> None:
        self.started = self._last = time.monotonic()
        self.laps: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        self.laps[phase] = now - self._last
        self._last = now

    def total(self) -> float:
        return self._last - self.started

    def laps_ms(self) -> dict[str, float]:
        return {f"{phase}_ms": round(seconds * 1000, 1) for phase, seconds in self.laps.items()}


class StageRunner:
    def __init__(
        self,
        stage: Stage,
        consumer: MessageConsumer,
        bus: MessageBus,
        *,
        batch_size: int = 500,
        poll_timeout: float = 0.1,
        backoff: Backoff = Backoff(),
        metrics: PipelineMetrics = NO_METRICS,
    ) -> None:
        self.stage = stage
        self.consumer = consumer
        self.bus = bus
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        self.backoff = backoff
        self.metrics = metrics
        self.processed = 0
        # Set once the consumer holds partitions (their state restored) and a whole loop has
        # run after that: the stage is ready to take traffic without a cold stall.
        self.ready = threading.Event()
        self.held: list[tuple[str, int]] = []  # as of the latest assignment
        # Assignments received, and how many of them a whole loop has run after: the stage
        # is settled on its partitions when the two are equal.
        self.assignments = 0
        self.settled = 0
        consumer.on_assigned(self._assigned)

    @property
    def stage(self) -> Stage:
        return self._stage

    @stage.setter
    def stage(self, stage: Stage) -> None:
        self._stage = stage
        # Whether it is paced, asked once: isinstance of a runtime protocol reads the
        # protocol's members every time, a third of a millisecond in each loop.
        self._paced = stage if isinstance(stage, PacedStage) else None

    def _assigned(self, assigned: Sequence[AssignedPartition]) -> Sequence[AssignedPartition]:
        resume: Sequence[AssignedPartition] = []
        if isinstance(self.stage, StatefulStage):
            resume = self._restore(self.stage, assigned)
        self.held = [(p.topic, p.partition) for p in assigned]
        if assigned:
            self.assignments += 1
        return resume

    def warm_up(self) -> None:
        """The stage's own warm-up, before it joins its group."""
        if isinstance(self.stage, WarmingStage):
            started = time.monotonic()
            self.stage.warm_up(self.batch_size)
            log.info(
                "stage warmed up",
                stage=self.stage.name,
                seconds=round(time.monotonic() - started, 3),
            )

    def _restore(
        self, stage: StatefulStage, assigned: Sequence[AssignedPartition]
    ) -> Sequence[AssignedPartition]:
        mine = [p for p in assigned if p.topic in stage.topics]
        if not mine:
            return []
        started = time.monotonic()
        resume: list[Sequence[AssignedPartition]] = []
        # A partition's state that cannot be read now (a broker away) is read again.
        self._retrying(lambda: resume.append(stage.restore(mine, self.bus)), "restore", None)
        log.info(
            "state restored",
            stage=stage.name,
            partitions=[f"{p.topic}[{p.partition}]@{p.resume_at}" for p in mine],
            seconds=round(time.monotonic() - started, 3),
        )
        return resume[-1]

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set; the batch in hand is finished and committed first."""
        log.info("stage started", stage=self.stage.name, topics=list(self.stage.topics))
        try:
            while not stop.is_set():
                self.run_once(stop)
        except Exception:
            log.exception(
                "stage crashed; uncommitted messages are redelivered on restart",
                stage=self.stage.name,
            )
            raise
        finally:
            self.consumer.close()
            if self._paced is not None:
                self._paced.close()
            log.info("stage stopped", stage=self.stage.name, processed=self.processed)

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Handle one batch; returns how many messages it handled (0 when none came)."""
        assignments = self.assignments
        handled = self._run_once(stop)
        if assignments > self.settled:
            # A whole loop ran with the partitions held: a paced stage has said which of
            # them are idle, so other workers hold nothing back waiting to hear it.
            self.settled = assignments
            self.ready.set()
        return handled

    def _run_once(self, stop: threading.Event | None) -> int:
        timer = LoopTimer()
        paced = self._paced
        if paced is not None:
            ticked = paced.tick(self.consumer.idle_partitions())
            if not self._retrying(lambda: self._publish(ticked), "tick", stop):
                return 0
            self.consumer.resume(paced.releasable())
            timer.lap("tick")
        batch = self.consumer.poll_batch(self.batch_size, self.poll_timeout)
        if not batch:
            return 0
        timer.lap("poll")
        started = time.monotonic()
        held: list[Message] = []
        if not self._retrying(lambda: held.extend(self._deliver(batch)), "batch", stop):
            return 0  # shutting down: the uncommitted batch is redelivered later
        timer.lap("handle_and_publish")
        if held:
            self.consumer.rewind(held)
        # A commit that keeps failing is covered by the next one: only redelivery is at stake.
        self._retrying(self.consumer.commit, "commit", stop)
        timer.lap("commit")
        handled = len(batch) - len(held)
        self.processed += handled
        if handled:
            self.metrics.batch_handled(self.stage.name, handled, time.monotonic() - started)
        elif paced is not None:
            # All of it waits on other partitions: wait for their news, not a spin, and not
            # a fixed pause either (each one was a poll timeout added to the held batch).
            news = paced.wait_for_others(self.poll_timeout)
            self._retrying(lambda: self._publish(news), "wait", stop)
        if timer.total() > SLOW_LOOP_S:
            log.warning(
                "a slow loop of the stage",
                stage=self.stage.name,
                messages=len(batch),
                held=len(held),
                **timer.laps_ms(),
            )
        return handled

    def _retrying(
        self, action: Callable[[], None], what: str, stop: threading.Event | None
    ) -> bool:
        """Run ``action`` until it gets past transient failures; False if stopped meanwhile."""
        attempt = 0
        while True:
            try:
                action()
                return True
            except TransientFailure as failure:
                self.metrics.transient_failure(self.stage.name)
                delay = self.backoff.delay(attempt)
                log.warning(
                    f"transient failure, retrying {what}",
                    stage=self.stage.name,
                    error=str(failure),
                    attempt=attempt + 1,
                    retry_in_s=delay,
                )
                attempt += 1
                if (stop or threading.Event()).wait(delay):
                    return False

    def _deliver(self, batch: Sequence[Message]) -> list[Message]:
        """Handle and publish ``batch``; returns the messages the stage held back."""
        try:
            output = self.stage.handle(batch)
        except TransientFailure:
            raise
        except Exception:
            log.exception("batch failed, handling its messages one by one", stage=self.stage.name)
            output = self._handle_one_by_one(batch)
        try:
            self._publish(output)
        except MessageRefused as refused:
            # Something in the batch's output can never be published (too large): find
            # whose, one message at a time, and dead-letter just that one.
            log.warning(
                "the bus refused the batch's output, publishing it message by message",
                stage=self.stage.name,
                error=str(refused),
            )
            return self._deliver_one_by_one(batch)
        return output.held

    def _publish(self, output: BatchOutput) -> None:
        # Every output topic in one wait for the broker, then the state store: its
        # checkpoint says the batch's outputs are durable.
        outputs = {t: m for t, m in output.messages.items() if m and t != Topic.STATE}
        if outputs:
            self.bus.publish_all(outputs)
        if state := output.messages.get(Topic.STATE):
            self.bus.publish(Topic.STATE, state)
        # Counted once the whole output is durable, so a retried batch is not counted twice.
        if dead := len(output.messages.get(Topic.DEAD_LETTERS, ())):
            self.metrics.dead_lettered(self.stage.name, dead)
        if output.refused:
            self.metrics.transactions_refused("topic", output.refused)

    def _deliver_one_by_one(self, batch: Sequence[Message]) -> list[Message]:
        held: list[Message] = []
        for message in batch:
            output = self._handle_one_by_one([message])
            held.extend(output.held)
            try:
                self._publish(output)
            except MessageRefused as refused:
                letter = BatchOutput()
                letter.dead_letter(message, self.stage.name, f"its output was refused: {refused}")
                self._publish(letter)
        return held

    def _handle_one_by_one(self, batch: Sequence[Message]) -> BatchOutput:
        output = BatchOutput()
        for message in batch:
            try:
                output.merge(self.stage.handle([message]))
            except TransientFailure:
                raise
            except Exception as error:
                if message.topic == Topic.DEAD_LETTERS:
                    # Never fed back to the topic it came from, and never fatal: the
                    # letter stays in the dead-letter topic for an operator.
                    log.error(
                        "a dead letter could not be handled; skipped",
                        stage=self.stage.name,
                        partition=message.partition,
                        offset=message.offset,
                        error=f"{type(error).__name__}: {error}",
                        transaction_id=message.headers.get(TRANSACTION_ID_HEADER),
                    )
                    continue
                output.dead_letter(message, self.stage.name, f"{type(error).__name__}: {error}")
        return output
