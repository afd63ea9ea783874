"""Where review cases and their queues are kept: the write side, in a unit of work (opened
with the verdicts that open them, claimed and resolved with the labels they give), and the
read side the queue and case pages and the API read."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fraud.domain.assessment import TransactionRecord
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


class CaseRepository(Protocol):
    """Cases, written on the caller's transaction. Every change of a case is conditional on
    what it was, so of two analysts acting on one case at once, exactly one succeeds."""

    def open(self, cases: Sequence[NewCase]) -> None:
        """Open a case for each transaction that has none yet (one per transaction, whoever
        asks how often): one statement for the batch."""

    def get(self, case_id: int) -> Case | None: ...

    def of_card(self, user_id: str, statuses: Collection[CaseStatus]) -> list[Case]:
        """The card's cases in these statuses, oldest first."""

    def claim(self, case_id: int, by: str, at: datetime) -> bool:
        """Hold the case for ``by``: True when it was open or waiting (or ``by`` held it
        already); False when another holds it or it is resolved."""

    def release(self, case_id: int, by: str) -> bool:
        """Put a case ``by`` holds back in its queue; False when ``by`` does not hold it."""

    def settle(
        self, case_id: int, disposition: Disposition, by: str, at: datetime
    ) -> CaseStatus | None:
        """Resolve the case (fraud, not fraud) or set it waiting (needs information), as
        ``by``: only when it is not resolved and nobody else holds it. Returns its new status,
        or None when nothing was changed."""

    def add_notes(self, notes: Sequence[tuple[int, CaseNote]]) -> None: ...

    def log(self, events: Sequence[tuple[int, CaseEvent]]) -> None:
        """Append lines to cases' histories."""


class QueueRepository(Protocol):
    def get(self, name: str) -> Queue | None: ...

    def save(self, queue: Queue, by: str, at: datetime) -> bool:
        """Store ``queue`` as its name's next version (1: a new queue); False when the stored
        queue is not at the version before it (a change came first, or the name is taken)."""


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which cases to list: any of a queue, statuses, an assignee, a card; newest first."""

    queue: str | None = None
    statuses: tuple[CaseStatus, ...] = ()
    assignee: str | None = None
    user_id: str | None = None
    limit: int = 100


class CaseQueries(Protocol):
    def case(self, case_id: int) -> Case | None: ...

    def cases(self, which: CaseFilter) -> list[Case]: ...

    def waiting_in(self, queue: str, limit: int) -> list[Case]:
        """The queue's open cases (not held, not waiting on information), oldest first, at
        most ``limit``: what its priority order is made from."""

    def case_notes(self, case_id: int) -> list[CaseNote]: ...

    def case_history(self, case_id: int) -> list[CaseEvent]: ...

    def queues(self) -> list[Queue]: ...

    def queue(self, name: str) -> Queue | None: ...

    def queue_set_version(self) -> int:
        """Grows with every queue added or changed (0: none yet)."""

    def queue_states(self, now: datetime) -> list[QueueState]:
        """Every queue with its cases counted by status, those past its SLA, and when the
        oldest case on the clock was opened."""

    def merchant_frauds(self, merchant: str, limit: int) -> list[str]:
        """The merchant's transactions confirmed as fraud, latest label first (their ids)."""


class Conditions(Protocol):
    """Queues' conditions compiled once: which hold for each decided transaction."""

    def holding(self, records: Sequence[TransactionRecord]) -> list[list[bool]]:
        """For each record, whether each condition holds, in the order compiled (one that
        cannot be evaluated on a record does not hold)."""


class ConditionCompiler(Protocol):
    def check(self, expression: str) -> None:
        """Raise :class:`~fraud.domain.rules.InvalidExpression` for a condition that does
        not compile, reads a name other than ``tx``, ``features``, ``score``, ``decision``
        and ``rules``, or breaks a limit of the rules' expressions."""

    def compile(self, expressions: Sequence[str]) -> Conditions: ...
