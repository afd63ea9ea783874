"""Review cases and queues in memory: the same contracts as the SQL adapter, staged in the
unit of work and applied on commit to the state as it is then (so a claim staged by two
units of work succeeds for the first to commit, as a conditional update would)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial

from fraud.adapters.memory.state import Staged, State
from fraud.domain.cases import (
    Case,
    CaseEvent,
    CaseNote,
    CaseStatus,
    Disposition,
    NewCase,
    Queue,
    QueueState,
)
from fraud.domain.ports.cases import CaseFilter


def _open(state: State, cases: Sequence[NewCase]) -> None:
    for new in cases:
        if new.transaction_id in state.case_of:
            continue
        case_id = max(state.cases, default=0) + 1
        state.cases[case_id] = Case(case_id, *(getattr(new, f) for f in NewCase.__slots__))
        state.case_of[new.transaction_id] = case_id


def _claim(state: State, case_id: int, by: str, at: datetime) -> bool:
    case = state.cases.get(case_id)
    if case is None:
        return False
    if case.status in (CaseStatus.OPEN, CaseStatus.WAITING) or (
        case.status is CaseStatus.CLAIMED and case.assignee == by
    ):
        state.cases[case_id] = replace(case, status=CaseStatus.CLAIMED, assignee=by, claimed_at=at)
        return True
    return False


def _release(state: State, case_id: int, by: str) -> bool:
    case = state.cases.get(case_id)
    if case is None or case.status is not CaseStatus.CLAIMED or case.assignee != by:
        return False
    state.cases[case_id] = replace(case, status=CaseStatus.OPEN, assignee=None, claimed_at=None)
    return True


def _settle(
    state: State, case_id: int, disposition: Disposition, by: str, at: datetime
) -> CaseStatus | None:
    case = state.cases.get(case_id)
    if case is None or case.status is CaseStatus.RESOLVED:
        return None
    if case.assignee not in (None, by) and case.status is not CaseStatus.WAITING:
        return None
    resolved = disposition.label is not None
    status = CaseStatus.RESOLVED if resolved else CaseStatus.WAITING
    state.cases[case_id] = replace(
        case,
        status=status,
        disposition=disposition,
        assignee=by,
        resolved_at=at if resolved else None,
        resolved_by=by if resolved else None,
    )
    return status


def _append(state: State, table: str, items: Sequence[tuple[int, object]]) -> None:
    kept = getattr(state, table)
    for case_id, item in items:
        kept[case_id] = (*kept.get(case_id, ()), item)


class InMemoryCaseRepository:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def open(self, cases: Sequence[NewCase]) -> None:
        if cases:
            self._staged.write(partial(_open, cases=list(cases)))

    def get(self, case_id: int) -> Case | None:
        return self._staged.state.cases.get(case_id)

    def of_card(self, user_id: str, statuses: Collection[CaseStatus]) -> list[Case]:
        found = [
            case
            for case in self._staged.state.cases.values()
            if case.user_id == user_id and case.status in statuses
        ]
        return sorted(found, key=lambda case: (case.opened_at, case.id))

    def claim(self, case_id: int, by: str, at: datetime) -> bool:
        return bool(self._staged.write(partial(_claim, case_id=case_id, by=by, at=at)))

    def release(self, case_id: int, by: str) -> bool:
        return bool(self._staged.write(partial(_release, case_id=case_id, by=by)))

    def settle(
        self, case_id: int, disposition: Disposition, by: str, at: datetime
    ) -> CaseStatus | None:
        write = partial(_settle, case_id=case_id, disposition=disposition, by=by, at=at)
        status = self._staged.write(write)
        assert status is None or isinstance(status, CaseStatus)
        return status

    def add_notes(self, notes: Sequence[tuple[int, CaseNote]]) -> None:
        self._staged.write(partial(_append, table="case_notes", items=list(notes)))

    def log(self, events: Sequence[tuple[int, CaseEvent]]) -> None:
        self._staged.write(partial(_append, table="case_events", items=list(events)))


def _save_queue(state: State, queue: Queue) -> bool:
    stored = state.queues.get(queue.name)
    follows = (
        stored is None
        if queue.version == 1
        else (stored is not None and stored.version == queue.version - 1)
    )
    if follows:
        state.queues[queue.name] = queue
    return follows


class InMemoryQueueRepository:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def get(self, name: str) -> Queue | None:
        return self._staged.state.queues.get(name)

    def save(self, queue: Queue, by: str, at: datetime) -> bool:
        return bool(self._staged.write(partial(_save_queue, queue=queue)))


class InMemoryCaseQueries:
    """The read side of cases, over the committed state (``self.state``)."""

    state: State
    lock: threading.Lock

    def _cases(self) -> list[Case]:
        with self.lock:
            return list(self.state.cases.values())

    def case(self, case_id: int) -> Case | None:
        with self.lock:
            return self.state.cases.get(case_id)

    def cases(self, which: CaseFilter) -> list[Case]:
        found = [
            case
            for case in self._cases()
            if (which.queue is None or case.queue == which.queue)
            and (not which.statuses or case.status in which.statuses)
            and (which.assignee is None or case.assignee == which.assignee)
            and (which.user_id is None or case.user_id == which.user_id)
        ]
        found.sort(key=lambda case: (case.opened_at, case.id), reverse=True)
        return found[: which.limit]

    def waiting_in(self, queue: str, limit: int) -> list[Case]:
        found = [c for c in self._cases() if c.queue == queue and c.status is CaseStatus.OPEN]
        return sorted(found, key=lambda case: (case.opened_at, case.id))[:limit]

    def case_notes(self, case_id: int) -> list[CaseNote]:
        with self.lock:
            return list(self.state.case_notes.get(case_id, ()))

    def case_history(self, case_id: int) -> list[CaseEvent]:
        with self.lock:
            return list(self.state.case_events.get(case_id, ()))

    def queues(self) -> list[Queue]:
        with self.lock:
            return sorted(self.state.queues.values(), key=lambda queue: queue.name)

    def queue(self, name: str) -> Queue | None:
        with self.lock:
            return self.state.queues.get(name)

    def queue_set_version(self) -> int:
        with self.lock:
            return sum(queue.version for queue in self.state.queues.values())

    def queue_states(self, now: datetime) -> list[QueueState]:
        cases = self._cases()
        states = []
        for queue in self.queues():
            mine = [case for case in cases if case.queue == queue.name]
            on_clock = [case for case in mine if case.status.on_the_clock]
            states.append(
                QueueState(
                    queue,
                    open=sum(case.status is CaseStatus.OPEN for case in mine),
                    claimed=sum(case.status is CaseStatus.CLAIMED for case in mine),
                    waiting=sum(case.status is CaseStatus.WAITING for case in mine),
                    past_sla=sum(case.opened_at < now - queue.sla for case in on_clock),
                    oldest_open_at=min((case.opened_at for case in on_clock), default=None),
                )
            )
        return states

    def merchant_frauds(self, merchant: str, limit: int) -> list[str]:
        found = [
            case
            for case in self._cases()
            if case.merchant == merchant and case.disposition is Disposition.FRAUD
        ]
        found.sort(key=lambda case: case.resolved_at or case.opened_at, reverse=True)
        return [case.transaction_id for case in found[:limit]]
