"""Review cases and their queues on SQLAlchemy Core.

Opening is one ``INSERT ... ON CONFLICT (transaction_id) DO NOTHING`` per batch, so a
redelivered verdict opens nothing twice; every change of a case is an ``UPDATE`` whose
``WHERE`` says what the case must still be, so of two analysts acting at once the one whose
statement comes second changes nothing (on PostgreSQL it waits for the first to commit and
reads the row again; on SQLite writers take turns).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from fraud.adapters.sqlalchemy.appends import insert_new
from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.repository import Executor, dialect_of, fetch
from fraud.adapters.sqlalchemy.tables import case_events, case_notes, cases, queues
from fraud.adapters.sqlalchemy.upserts import insert_missing
from fraud.domain.assessment import Decision
from fraud.domain.cases import (
    Case,
    CaseAction,
    CaseEvent,
    CaseNote,
    CaseStatus,
    Disposition,
    NewCase,
    PriorityWeights,
    Queue,
    QueueState,
)
from fraud.domain.ports.cases import CaseFilter

_UNHELD = (CaseStatus.OPEN.value, CaseStatus.WAITING.value)
_ON_THE_CLOCK = tuple(status.value for status in CaseStatus if status.on_the_clock)


def to_case(row: Mapping[str, Any]) -> Case:
    return Case(
        id=row["id"],
        transaction_id=row["transaction_id"],
        user_id=row["user_id"],
        merchant=row["merchant"],
        amount=row["amount"],
        currency=row["currency"],
        fraud_score=row["fraud_score"],
        decision=Decision(row["decision"]),
        queue=row["queue"],
        opened_at=row["opened_at"],
        status=CaseStatus(row["status"]),
        assignee=row["assignee"],
        claimed_at=row["claimed_at"],
        resolved_at=row["resolved_at"],
        disposition=None if row["disposition"] is None else Disposition(row["disposition"]),
        resolved_by=row["resolved_by"],
    )


def _case_row(case: NewCase) -> dict[str, Any]:
    return {
        "transaction_id": case.transaction_id,
        "user_id": case.user_id,
        "merchant": case.merchant,
        "amount": case.amount,
        "currency": case.currency,
        "fraud_score": case.fraud_score,
        "decision": case.decision.value,
        "queue": case.queue,
        "opened_at": case.opened_at,
        "status": CaseStatus.OPEN.value,
    }


def to_queue(row: Mapping[str, Any]) -> Queue:
    return Queue(
        name=row["name"],
        condition=row["condition"],
        sla=timedelta(seconds=row["sla_s"]),
        include_declines=bool(row["include_declines"]),
        weights=PriorityWeights(**row["weights"]),
        position=row["position"],
        description=row["description"],
        version=row["version"],
    )


def queue_row(queue: Queue, by: str, at: datetime) -> dict[str, Any]:
    weights = queue.weights
    return {
        "name": queue.name,
        "condition": queue.condition,
        "sla_s": int(queue.sla.total_seconds()),
        "include_declines": queue.include_declines,
        "weights": {"score": weights.score, "amount": weights.amount, "waiting": weights.waiting},
        "position": queue.position,
        "description": queue.description,
        "version": queue.version,
        "changed_at": at,
        "changed_by": by,
    }


class SqlCaseRepository:
    """The ``CaseRepository`` port, written on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def open(self, new: Sequence[NewCase]) -> None:
        rows = [_case_row(case) for case in new]
        with transient_errors_translated():
            insert_new(self._executor, cases, rows, dialect_of(self._executor), ("transaction_id",))

    def get(self, case_id: int) -> Case | None:
        rows = fetch(self._executor, select(cases).where(cases.c.id == case_id))
        return to_case(rows[0]) if rows else None

    def of_card(self, user_id: str, statuses: Collection[CaseStatus]) -> list[Case]:
        statement = (
            select(cases)
            .where(cases.c.user_id == user_id, cases.c.status.in_([s.value for s in statuses]))
            .order_by(cases.c.opened_at, cases.c.id)
        )
        return [to_case(row) for row in fetch(self._executor, statement)]

    def claim(self, case_id: int, by: str, at: datetime) -> bool:
        statement = (
            update(cases)
            .where(
                cases.c.id == case_id,
                or_(
                    cases.c.status.in_(_UNHELD),
                    and_(cases.c.status == CaseStatus.CLAIMED.value, cases.c.assignee == by),
                ),
            )
            .values(status=CaseStatus.CLAIMED.value, assignee=by, claimed_at=at)
        )
        return self._changed(statement)

    def release(self, case_id: int, by: str) -> bool:
        statement = (
            update(cases)
            .where(
                cases.c.id == case_id,
                cases.c.status == CaseStatus.CLAIMED.value,
                cases.c.assignee == by,
            )
            .values(status=CaseStatus.OPEN.value, assignee=None, claimed_at=None)
        )
        return self._changed(statement)

    def settle(
        self, case_id: int, disposition: Disposition, by: str, at: datetime
    ) -> CaseStatus | None:
        resolved = disposition.label is not None
        status = CaseStatus.RESOLVED if resolved else CaseStatus.WAITING
        statement = (
            update(cases)
            .where(
                cases.c.id == case_id,
                cases.c.status != CaseStatus.RESOLVED.value,
                or_(
                    cases.c.assignee.is_(None),
                    cases.c.assignee == by,
                    cases.c.status == CaseStatus.WAITING.value,
                ),
            )
            .values(
                status=status.value,
                disposition=disposition.value,
                assignee=by,
                resolved_at=at if resolved else None,
                resolved_by=by if resolved else None,
            )
        )
        return status if self._changed(statement) else None

    def add_notes(self, notes: Sequence[tuple[int, CaseNote]]) -> None:
        rows = [
            {"case_id": case_id, "at": note.at, "by": note.by, "text": note.text}
            for case_id, note in notes
        ]
        if rows:
            with transient_errors_translated():
                self._executor.execute(insert(case_notes), rows)

    def log(self, events: Sequence[tuple[int, CaseEvent]]) -> None:
        rows = [
            {
                "case_id": case_id,
                "at": event.at,
                "by": event.by,
                "action": event.action.value,
                "detail": event.detail,
            }
            for case_id, event in events
        ]
        if rows:
            with transient_errors_translated():
                self._executor.execute(insert(case_events), rows)

    def _changed(self, statement: Any) -> bool:
        with transient_errors_translated():
            return bool(self._executor.execute(statement).rowcount)


class SqlQueueRepository:
    """The ``QueueRepository`` port, written on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def get(self, name: str) -> Queue | None:
        rows = fetch(self._executor, select(queues).where(queues.c.name == name))
        return to_queue(rows[0]) if rows else None

    def save(self, queue: Queue, by: str, at: datetime) -> bool:
        row = queue_row(queue, by, at)
        with transient_errors_translated():
            if queue.version == 1:
                dialect = dialect_of(self._executor)
                return bool(insert_missing(self._executor, queues, [row], dialect))
            statement = (
                update(queues)
                .where(queues.c.name == queue.name, queues.c.version == queue.version - 1)
                .values(row)
            )
            return bool(self._executor.execute(statement).rowcount)


class SqlCaseQueries:
    """The ``CaseQueries`` port on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _rows(self, statement: Any) -> list[Any]:
        with transient_errors_translated(), self._engine.connect() as connection:
            return fetch(connection, statement)

    def case(self, case_id: int) -> Case | None:
        rows = self._rows(select(cases).where(cases.c.id == case_id))
        return to_case(rows[0]) if rows else None

    def cases(self, which: CaseFilter) -> list[Case]:
        conditions = []
        if which.queue is not None:
            conditions.append(cases.c.queue == which.queue)
        if which.statuses:
            conditions.append(cases.c.status.in_([status.value for status in which.statuses]))
        if which.assignee is not None:
            conditions.append(cases.c.assignee == which.assignee)
        if which.user_id is not None:
            conditions.append(cases.c.user_id == which.user_id)
        statement = (
            select(cases)
            .where(*conditions)
            .order_by(cases.c.opened_at.desc(), cases.c.id.desc())
            .limit(which.limit)
        )
        return [to_case(row) for row in self._rows(statement)]

    def waiting_in(self, queue: str, limit: int) -> list[Case]:
        statement = (
            select(cases)
            .where(cases.c.queue == queue, cases.c.status == CaseStatus.OPEN.value)
            .order_by(cases.c.opened_at, cases.c.id)
            .limit(limit)
        )
        return [to_case(row) for row in self._rows(statement)]

    def case_notes(self, case_id: int) -> list[CaseNote]:
        statement = (
            select(case_notes).where(case_notes.c.case_id == case_id).order_by(case_notes.c.id)
        )
        return [CaseNote(row["at"], row["by"], row["text"]) for row in self._rows(statement)]

    def case_history(self, case_id: int) -> list[CaseEvent]:
        statement = (
            select(case_events).where(case_events.c.case_id == case_id).order_by(case_events.c.id)
        )
        return [
            CaseEvent(row["at"], row["by"], CaseAction(row["action"]), row["detail"])
            for row in self._rows(statement)
        ]

    def queues(self) -> list[Queue]:
        return [to_queue(row) for row in self._rows(select(queues).order_by(queues.c.name))]

    def queue(self, name: str) -> Queue | None:
        rows = self._rows(select(queues).where(queues.c.name == name))
        return to_queue(rows[0]) if rows else None

    def queue_set_version(self) -> int:
        with transient_errors_translated(), self._engine.connect() as connection:
            return int(connection.execute(select(func.sum(queues.c.version))).scalar() or 0)

    def queue_states(self, now: datetime) -> list[QueueState]:
        counts = (
            select(
                cases.c.queue,
                cases.c.status,
                func.count(),
                func.min(cases.c.opened_at),
            )
            .where(cases.c.status != CaseStatus.RESOLVED.value)
            .group_by(cases.c.queue, cases.c.status)
        )
        with transient_errors_translated(), self._engine.connect() as connection:
            every = [to_queue(row) for row in fetch(connection, select(queues))]
            by_queue: dict[str, dict[str, tuple[int, datetime]]] = {}
            for queue, status, count, oldest in connection.execute(counts):
                by_queue.setdefault(queue, {})[status] = (int(count), oldest)
            past = {
                queue.name: int(
                    connection.execute(
                        select(func.count()).where(
                            cases.c.queue == queue.name,
                            cases.c.status.in_(_ON_THE_CLOCK),
                            cases.c.opened_at < now - queue.sla,
                        )
                    ).scalar()
                    or 0
                )
                for queue in every
            }
        return [_state(queue, by_queue.get(queue.name, {}), past[queue.name]) for queue in every]

    def merchant_frauds(self, merchant: str, limit: int) -> list[str]:
        statement = (
            select(cases.c.transaction_id)
            .where(cases.c.merchant == merchant, cases.c.disposition == Disposition.FRAUD.value)
            .order_by(cases.c.resolved_at.desc())
            .limit(limit)
        )
        with transient_errors_translated(), self._engine.connect() as connection:
            return list(connection.execute(statement).scalars())


def _state(queue: Queue, counts: Mapping[str, tuple[int, datetime]], past: int) -> QueueState:
    def count(status: CaseStatus) -> int:
        return counts.get(status.value, (0, None))[0]

    on_clock = [counts[s][1] for s in _ON_THE_CLOCK if s in counts and counts[s][1] is not None]
    return QueueState(
        queue,
        open=count(CaseStatus.OPEN),
        claimed=count(CaseStatus.CLAIMED),
        waiting=count(CaseStatus.WAITING),
        past_sla=past,
        oldest_open_at=min(on_clock, default=None),
    )
