"""Review queues: managing them (admins; every change a version, audited), and the routing a
record stage holds: the queues in routing order with their conditions compiled, read again
within a second of a change."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import structlog

from fraud.application.identity import audited
from fraud.application.live import Versioned
from fraud.domain.assessment import TransactionRecord
from fraud.domain.cases import (
    DEFAULT_QUEUE,
    Queue,
    QueueExists,
    UnknownQueue,
    changed_queue,
    route,
    routing_order,
)
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.ports import Clock, UnitOfWorkFactory
from fraud.domain.ports.cases import CaseQueries, ConditionCompiler, Conditions
from fraud.domain.rules import InvalidExpression

log = structlog.get_logger(__name__)


class ManageQueues:
    """Add and change queues; each change is the queue's next version and an audit line."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        queries: CaseQueries,
        compiler: ConditionCompiler,
        clock: Clock,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.compiler = compiler
        self.clock = clock

    def queues(self) -> list[Queue]:
        return routing_order(self.queries.queues())

    def get(self, name: str) -> Queue:
        queue = self.queries.queue(name)
        if queue is None:
            raise UnknownQueue(name)
        return queue

    def add(self, queue: Queue, by: Actor) -> Queue:
        self.compiler.check(queue.condition)
        first = replace(queue, version=1)
        now = self.clock.now()
        with self.unit_of_work() as uow:
            if not uow.queues.save(first, by.subject, now):
                raise QueueExists(queue.name)
            detail = _described(first)
            uow.audit.append(
                [audited(by, AuditAction.QUEUE_ADDED, f"queue:{queue.name}", now, detail)]
            )
            uow.commit()
        log.info("queue added", queue=queue.name, by=by.subject)
        return first

    def change(self, name: str, changes: object, by: Actor) -> Queue:
        now = self.clock.now()
        with self.unit_of_work() as uow:
            current = uow.queues.get(name)
            if current is None:
                raise UnknownQueue(name)
            changed = changed_queue(current, changes)
            if changed.condition != current.condition:
                self.compiler.check(changed.condition)
            if not uow.queues.save(changed, by.subject, now):
                raise QueueExists(name)  # changed meanwhile: read it again
            detail = _described(changed)
            uow.audit.append([audited(by, AuditAction.QUEUE_CHANGED, f"queue:{name}", now, detail)])
            uow.commit()
        log.info("queue changed", queue=name, version=changed.version, by=by.subject)
        return changed


def _described(queue: Queue) -> str:
    weights = queue.weights
    return (
        f"version {queue.version}: condition {queue.condition}; SLA {queue.sla}; "
        f"declines {'in' if queue.include_declines else 'out'}; position {queue.position}; "
        f"priority exponents {weights.score:g}/{weights.amount:g}/{weights.waiting:g}"
    )


@dataclass(frozen=True, slots=True)
class Routing:
    """The queues in routing order, their conditions compiled once."""

    queues: tuple[Queue, ...]
    conditions: Conditions

    def route(self, records: Sequence[TransactionRecord]) -> list[str | None]:
        """The queue each decided record's case goes to (None: it opens none)."""
        holding = self.conditions.holding(records)
        routed = []
        for record, holds in zip(records, holding, strict=True):
            assert record.assessment is not None
            routed.append(route(record.assessment.decision, self.queues, holds, DEFAULT_QUEUE))
        return routed


class LiveQueues:
    """The routing a record stage holds, read again within ``refresh_s`` of any queue's
    change."""

    def __init__(
        self,
        queries: CaseQueries,
        compiler: ConditionCompiler,
        refresh_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queries = queries
        self.compiler = compiler
        self._held = Versioned(queries.queue_set_version, self._load, refresh_s, monotonic)

    def current(self) -> Routing:
        return self._held.current()

    def _load(self) -> Routing:
        queues = tuple(
            queue for queue in routing_order(self.queries.queues()) if self._usable(queue)
        )
        conditions = self.compiler.compile([queue.condition for queue in queues])
        log.info("queues loaded", queues=[queue.name for queue in queues])
        return Routing(queues, conditions)

    def _usable(self, queue: Queue) -> bool:
        """A condition stored before a change of the language that no longer compiles leaves
        its queue out of the routing (its cases go on to the next queue), never the stage
        held back."""
        try:
            self.compiler.check(queue.condition)
        except InvalidExpression as refused:
            log.error(
                "queue condition does not compile; the queue is left out",
                queue=queue.name,
                error=str(refused),
            )
            return False
        return True
