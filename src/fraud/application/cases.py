"""Working review cases: a queue in priority order, claiming (the next case, or one), notes,
and dispositions that become labels, the card's other cases resolved with one the same way,
and a case's card or merchant listed in one action.

A disposition of fraud or not fraud is the transaction's label exactly as one given on its
page (``fraud-labels``, the label history, the audit log, ``label.created``), written in
the same unit of work as the case it resolves, so a case is never resolved without its
label nor labelled without being resolved. The case's change comes first, and is
conditional: an analyst who lost the case to another changes nothing and publishes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from fraud.application.identity import audited
from fraud.application.labels import LabelTransaction
from fraud.application.lists import ManageLists
from fraud.domain.assessment import AnalystLabel, TransactionRecord
from fraud.domain.cases import (
    Case,
    CaseAction,
    CaseEvent,
    CaseNote,
    CaseStatus,
    CaseTaken,
    Disposition,
    NoCaseWaiting,
    Queue,
    QueueState,
    Resolution,
    UnknownCase,
    UnknownQueue,
    routing_order,
)
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.lists import ListEntry, Listing, UnknownList
from fraud.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from fraud.domain.ports.cases import CaseFilter, CaseQueries
from fraud.domain.webhooks import case_resolved_event

log = structlog.get_logger(__name__)

# The open cases a queue's order is made from (oldest first): past this many, a case waits
# until older ones are worked, whatever its priority.
CANDIDATES = 500
# How many of the top cases "next" tries when others claim them first.
NEXT_TRIES = 20
CARD_TRANSACTIONS = 10
MERCHANT_FRAUDS = 10
UNRESOLVED = (CaseStatus.OPEN, CaseStatus.CLAIMED, CaseStatus.WAITING)


@dataclass(frozen=True, slots=True)
class Ranked:
    """A case with its priority now and when its SLA runs out."""

    case: Case
    priority: float
    due_at: datetime


@dataclass(frozen=True, slots=True)
class QueueView:
    """A queue's page: its figures, its open cases by priority, and those held or waiting."""

    state: QueueState
    ranked: list[Ranked]
    held: list[Ranked]


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """A case's page: the case, its transaction, its notes and history, the card's recent
    transactions and other cases, and the merchant's confirmed frauds."""

    case: Ranked
    record: TransactionRecord | None
    notes: list[CaseNote]
    history: list[CaseEvent]
    card_transactions: list[TransactionRecord]
    card_cases: list[Case]
    merchant_frauds: list[str]


class WorkCases:
    """What an analyst does with cases."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        cases: CaseQueries,
        labels: LabelTransaction,
        lists: ManageLists,
        clock: Clock,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = cases
        self.labels = labels
        self.lists = lists
        self.clock = clock

    # --- reading ---------------------------------------------------------------------------

    def cases(self, which: CaseFilter) -> list[Case]:
        return self.queries.cases(which)

    def queue_states(self) -> list[QueueState]:
        """Every queue, in routing order, with its cases counted and those past the SLA."""
        order = {q.name: i for i, q in enumerate(routing_order(self.queries.queues()))}
        states = self.queries.queue_states(self.clock.now())
        return sorted(states, key=lambda state: order.get(state.queue.name, len(order)))

    def queue(self, name: str) -> QueueView:
        queue = self._queue(name)
        now = self.clock.now()
        state = next(s for s in self.queries.queue_states(now) if s.queue.name == name)
        ranked = self._ranked(queue, self.queries.waiting_in(name, CANDIDATES), now)
        held = self.queries.cases(
            CaseFilter(queue=name, statuses=(CaseStatus.CLAIMED, CaseStatus.WAITING))
        )
        return QueueView(state, ranked, self._ranked(queue, held, now))

    def detail(self, case_id: int) -> CaseDetail:
        case = self._case(case_id)
        queue = self.queries.queue(case.queue) or Queue(case.queue)
        verdicts = self.labels.queries
        card = verdicts.recent(CARD_TRANSACTIONS + 1, user_id=case.user_id)
        others = self.queries.cases(CaseFilter(user_id=case.user_id, statuses=UNRESOLVED))
        return CaseDetail(
            self._ranked(queue, [case], self.clock.now())[0],
            verdicts.get(case.transaction_id),
            self.queries.case_notes(case_id),
            self.queries.case_history(case_id),
            [r for r in card if r.transaction.transaction_id != case.transaction_id][
                :CARD_TRANSACTIONS
            ],
            [other for other in others if other.id != case.id],
            [
                transaction_id
                for transaction_id in self.queries.merchant_frauds(case.merchant, MERCHANT_FRAUDS)
                if transaction_id != case.transaction_id
            ],
        )

    def _case(self, case_id: int) -> Case:
        case = self.queries.case(case_id)
        if case is None:
            raise UnknownCase(case_id)
        return case

    def _queue(self, name: str) -> Queue:
        queue = self.queries.queue(name)
        if queue is None:
            raise UnknownQueue(name)
        return queue

    @staticmethod
    def _ranked(queue: Queue, cases: Sequence[Case], now: datetime) -> list[Ranked]:
        ranked = [Ranked(case, queue.priority(case, now), queue.due(case)) for case in cases]
        return sorted(ranked, key=lambda r: (-r.priority, r.case.opened_at, r.case.id))

    # --- acting ----------------------------------------------------------------------------

    def claim(self, case_id: int, by: Actor) -> Case:
        """Hold the case: of two analysts claiming it at once, one gets it and the other a
        :class:`CaseTaken`."""
        now = self.clock.now()
        with self.unit_of_work() as uow:
            if not uow.cases.claim(case_id, by.subject, now):
                raise self._refusal(uow, case_id)
            uow.cases.log([(case_id, CaseEvent(now, by.subject, CaseAction.CLAIMED))])
            claimed = uow.cases.get(case_id)
            uow.commit()
        assert claimed is not None
        log.info("case claimed", case_id=case_id, by=by.subject)
        return claimed

    def claim_next(self, queue_name: str, by: Actor) -> Case:
        """The case ``by`` holds in the queue, or else the open one of highest priority,
        claimed (the next below it when another analyst takes it first)."""
        queue = self._queue(queue_name)
        held = self.queries.cases(
            CaseFilter(queue=queue.name, statuses=(CaseStatus.CLAIMED,), assignee=by.subject)
        )
        if held:
            return held[-1]
        now = self.clock.now()
        for ranked in self._ranked(queue, self.queries.waiting_in(queue.name, CANDIDATES), now)[
            :NEXT_TRIES
        ]:
            try:
                return self.claim(ranked.case.id, by)
            except CaseTaken:
                continue
        raise NoCaseWaiting(queue.name)

    def release(self, case_id: int, by: Actor) -> Case:
        now = self.clock.now()
        with self.unit_of_work() as uow:
            if not uow.cases.release(case_id, by.subject):
                raise self._refusal(uow, case_id)
            uow.cases.log([(case_id, CaseEvent(now, by.subject, CaseAction.RELEASED))])
            released = uow.cases.get(case_id)
            uow.commit()
        assert released is not None
        return released

    def note(self, case_id: int, text: str, by: Actor) -> CaseNote:
        self._case(case_id)
        note = CaseNote(self.clock.now(), by.subject, text)
        with self.unit_of_work() as uow:
            uow.cases.add_notes([(case_id, note)])
            uow.cases.log([(case_id, CaseEvent(note.at, by.subject, CaseAction.NOTED))])
            uow.commit()
        return note

    def resolve(self, case_id: int, resolution: Resolution, by: Actor) -> list[Case]:
        """Dispose of the case (and, with ``whole_card``, of the card's other cases nobody
        else holds): fraud or not fraud resolves it with the transaction's label; needs
        information sets it waiting. Returns the cases changed, the one asked first."""
        case = self._case(case_id)
        disposition = resolution.disposition
        now = self.clock.now()
        with self.unit_of_work() as uow:
            targets = [case]
            if resolution.whole_card:
                card = uow.cases.of_card(case.user_id, UNRESOLVED)
                targets += [other for other in card if other.id != case.id]
            changed = [c for c in targets if uow.cases.settle(c.id, disposition, by.subject, now)]
            if not changed or changed[0].id != case.id:
                raise self._refusal(uow, case_id)
            done = [found for c in changed if (found := uow.cases.get(c.id)) is not None]
            if disposition.label is not None:
                self._label(uow, done, AnalystLabel(disposition.label, by.subject, now), by)
            action = CaseAction.RESOLVED if disposition.label is not None else CaseAction.WAITING
            uow.cases.log(
                [
                    (c.id, CaseEvent(now, by.subject, action, _told(disposition, c, case)))
                    for c in done
                ]
            )
            if resolution.note:
                uow.cases.add_notes([(case.id, CaseNote(now, by.subject, resolution.note))])
            uow.commit()
        log.info(
            "case disposed",
            case_id=case_id,
            disposition=disposition.value,
            cases=len(done),
            by=by.subject,
        )
        return done

    def _label(
        self, uow: UnitOfWork, cases: Sequence[Case], label: AnalystLabel, by: Actor
    ) -> None:
        """The cases' transactions labelled as the disposition says, their events published
        and the resolutions told to webhook subscribers and the audit log."""
        records = [r for c in cases if (r := self.labels.queries.get(c.transaction_id))]
        self.labels.publish(records, label)
        self.labels.store(uow, records, label, by)
        at = label.labelled_at
        uow.webhooks.enqueue([case_resolved_event(case, at) for case in cases], at)
        uow.audit.append(
            [
                audited(
                    by,
                    AuditAction.CASE_RESOLVED,
                    f"case:{case.id}",
                    at,
                    f"{label_word(label.is_fraud)}: transaction {case.transaction_id}",
                )
                for case in cases
            ]
        )

    def list_value(self, case_id: int, listing: Listing, by: Actor) -> ListEntry:
        """Add the case's value of the list's field (its card for a list of user_ids, its
        merchant for one of merchants) to the list: "block this card for 30 days"."""
        case = self._case(case_id)
        with self.unit_of_work() as uow:
            listed = uow.lists.get(listing.list_name)
            if listed is None:
                raise UnknownList(listing.list_name)
            value = self._value_of(case, listed.field)
            entry = self.lists.add_in(uow, listed.name, listing.entry(value), by)
            detail = f"{listed.field} {value} on list {listed.name}"
            uow.cases.log(
                [(case_id, CaseEvent(entry.added_at, by.subject, CaseAction.LISTED, detail))]
            )
            uow.commit()
        return entry

    def _value_of(self, case: Case, field: str) -> str:
        if field == "user_id":
            return case.user_id
        if field == "merchant":
            return case.merchant
        record = self.labels.queries.get(case.transaction_id)
        if record is None:
            raise UnknownCase(case.id)
        return str(record.transaction.to_dict()[field])

    @staticmethod
    def _refusal(uow: UnitOfWork, case_id: int) -> UnknownCase | CaseTaken:
        current = uow.cases.get(case_id)
        if current is None:
            return UnknownCase(case_id)
        return CaseTaken(case_id, current.assignee, current.status)


def _told(disposition: Disposition, case: Case, asked: Case) -> str:
    """A history line's detail: the disposition, and the case it came with if another."""
    return disposition.value + ("" if case.id == asked.id else f" (with case {asked.id})")


def label_word(is_fraud: bool) -> str:
    return "fraud" if is_fraud else "not fraud"
