"""Tracing where nobody collects it, and the decorators that trace a stage's batches and a
bus's publishing without the stage or the relay knowing (the composition root applies them
only when tracing is on, so that off costs nothing)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from fraud.application.stream.stage import BatchOutput, Stage
from fraud.domain.ports import TRACEPARENT, Message, MessageBus, OutgoingMessage, Tracer

_NOTHING: nullcontext[None] = nullcontext()


class NoTracing:
    """A ``Tracer`` that makes no span: tracing off, and tests that ignore it."""

    @property
    def enabled(self) -> bool:
        return False

    def carried(self) -> str | None:
        return None

    def serving(self, name: str, carried: str | None) -> AbstractContextManager[None]:
        return _NOTHING

    def answered(self, status: int) -> None:
        pass

    def span(self, name: str) -> AbstractContextManager[None]:
        return _NOTHING

    def batch(self, step: str, carried: Iterable[str | None]) -> AbstractContextManager[None]:
        return _NOTHING


NO_TRACING = NoTracing()


def carried_by(messages: Iterable[Message | OutgoingMessage]) -> Iterator[str | None]:
    """Each message's ``traceparent``, as it came."""
    return (message.headers.get(TRACEPARENT) for message in messages)


class TracedStage:
    """A split stage (preprocess, score or record alone) whose every batch is a step traced
    in the trace of each transaction it holds. Everything else (its state, its pace, its
    warm-up) is the stage's own."""

    def __init__(self, stage: Stage, tracer: Tracer) -> None:
        self.stage = stage
        self.tracer = tracer
        self.name = stage.name
        self.topics = stage.topics

    def handle(self, batch: Sequence[Message]) -> BatchOutput:
        with self.tracer.batch(self.name, carried_by(batch)):
            return self.stage.handle(batch)

    def __getattr__(self, name: str) -> Any:
        # restore, tick, releasable, close, warm_up: present exactly when the stage has them,
        # so the runner sees the same kind of stage.
        return getattr(self.stage, name)


class TracedPublishing:
    """A bus whose publishing of transactions is a step (``publish``) traced in each
    transaction's trace: the outbox relay's. Everything else is the bus's own."""

    def __init__(self, bus: MessageBus, tracer: Tracer, step: str = "publish") -> None:
        self.bus = bus
        self.tracer = tracer
        self.step = step

    def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        with self.tracer.batch(self.step, carried_by(messages)):
            self.bus.publish(topic, messages)

    def publish_all(self, messages: Mapping[str, Sequence[OutgoingMessage]]) -> None:
        every = [message for outgoing in messages.values() for message in outgoing]
        with self.tracer.batch(self.step, carried_by(every)):
            self.bus.publish_all(messages)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bus, name)
