"""Review cases on the in-memory store: a review opens one case however often its verdict
comes, queues route by their conditions and take declines only when they say so, claiming
is atomic, "next" takes the case of highest priority, and a disposition is the label."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fraud.adapters.cel.conditions import CelConditionCompiler
from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.memory.repository import InMemoryStore
from fraud.application.cases import WorkCases
from fraud.application.follow_ups import DecisionFollowUps
from fraud.application.labels import LabelTransaction
from fraud.application.lists import ManageLists
from fraud.application.queues import LiveQueues, ManageQueues
from fraud.application.stream.record import RecordStage
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.cases import (
    CaseStatus,
    CaseTaken,
    Disposition,
    InvalidCaseRequest,
    NoCaseWaiting,
    PriorityWeights,
    Queue,
    Resolution,
    changed_queue,
    new_queue,
)
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.lists import Listing, NewList
from fraud.domain.ports import Topic
from fraud.domain.ports.cases import CaseFilter
from fraud.domain.rules import InvalidExpression, RuleAction, RuleHit, RuleMode
from fraud.domain.webhooks import EventType
from tests.factories import ENVELOPES, txn
from tests.fakes import FixedClock

ANA = Actor("ana", "10.0.0.1")
BEN = Actor("ben", "10.0.0.2")
GIFT_CARDS = RuleHit("gift-cards", 1, RuleAction.REVIEW, RuleMode.ACTIVE, "gift cards")


def decided(
    n: int,
    decision: Decision = Decision.REVIEW,
    *,
    score: float = 0.6,
    hits: tuple[RuleHit, ...] = (),
    clock: FixedClock,
    **fields: object,
) -> TransactionRecord:
    transaction = txn(n, minutes=n, **fields)
    assessment = Assessment(
        transaction.transaction_id, score, decision, ("why",), "m1", clock.now(), hits
    )
    return TransactionRecord(transaction, clock.now(), Status.SCORED, assessment)


class Desk:
    """A store, a record stage opening cases, and the analysts' use cases, in memory."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.store = InMemoryStore()
        self.bus = MemoryBus()
        compiler = CelConditionCompiler()
        queues = LiveQueues(self.store, compiler, refresh_s=0.0)
        self.record = RecordStage(self.store, ENVELOPES, clock, tallies=[DecisionFollowUps(queues)])
        labels = LabelTransaction(self.store, self.store, clock, self.bus, ENVELOPES)
        self.lists = ManageLists(self.store, self.store, clock)
        self.work = WorkCases(self.store, self.store, labels, self.lists, clock)
        self.queues = ManageQueues(self.store, self.store, compiler, clock)

    def decide(self, *records: TransactionRecord) -> None:
        self.record.store(list(records), {}, self.clock.now())

    def cases(self, **which: object) -> list:
        return self.work.cases(CaseFilter(**which))  # type: ignore[arg-type]


@pytest.fixture
def desk(clock: FixedClock) -> Desk:
    return Desk(clock)


def test_a_review_opens_exactly_one_case_even_when_its_verdict_comes_again(desk, clock) -> None:
    review = decided(1, clock=clock)
    desk.decide(review, decided(2, Decision.APPROVE, clock=clock))
    desk.decide(review)  # redelivered: it decides nothing, so it opens nothing
    desk.decide(review, review)
    (case,) = desk.cases()
    assert (case.transaction_id, case.queue, case.status) == ("t1", "default", CaseStatus.OPEN)
    assert case.fraud_score == 0.6 and case.user_id == "alice"


def test_queues_route_by_condition_and_take_declines_only_when_they_say_so(desk, clock) -> None:
    desk.queues.add(new_queue({"name": "gift-cards", "condition": '"gift-cards" in rules'}), ANA)
    desk.queues.add(
        new_queue(
            {"name": "high-value", "condition": "tx.amount >= 1000.0", "include_declines": True}
        ),
        ANA,
    )
    desk.decide(
        decided(1, hits=(GIFT_CARDS,), clock=clock),
        decided(2, amount=5_000.0, clock=clock),
        decided(3, Decision.DECLINE, amount=5_000.0, clock=clock),
        decided(4, Decision.DECLINE, amount=10.0, clock=clock),  # no queue takes it
        decided(5, clock=clock),
    )
    queued = {case.transaction_id: case.queue for case in desk.cases()}
    assert queued == {"t1": "gift-cards", "t2": "high-value", "t3": "high-value", "t5": "default"}


def test_a_condition_is_checked_like_a_rule_and_refused_with_its_place(desk) -> None:
    with pytest.raises(InvalidExpression, match="unknown name 'amount'"):
        desk.queues.add(new_queue({"name": "bad", "condition": "amount > 5.0"}), ANA)
    with pytest.raises(InvalidCaseRequest) as refused:
        new_queue({"name": "Bad Name", "sla_minutes": 0, "weights": {"score": 9}})
    assert {error.field for error in refused.value.errors} == {"name", "sla_minutes", "weights"}


def test_two_analysts_claiming_one_case_one_wins(desk, clock) -> None:
    desk.decide(decided(1, clock=clock))
    (case,) = desk.cases()
    assert desk.work.claim(case.id, ANA).assignee == "ana"
    with pytest.raises(CaseTaken, match="held by ana"):
        desk.work.claim(case.id, BEN)
    assert desk.work.claim(case.id, ANA).status is CaseStatus.CLAIMED  # holding it again
    with pytest.raises(CaseTaken):
        desk.work.resolve(case.id, Resolution(Disposition.FRAUD), BEN)


def test_next_claims_the_highest_priority_and_returns_the_held_one_again(desk, clock) -> None:
    desk.decide(
        decided(1, score=0.55, amount=20.0, clock=clock),
        decided(2, score=0.95, amount=900.0, clock=clock),
        decided(3, score=0.70, amount=100.0, clock=clock),
    )
    first = desk.work.claim_next("default", ANA)
    assert first.transaction_id == "t2"
    assert desk.work.claim_next("default", ANA).id == first.id  # the one ana holds
    assert desk.work.claim_next("default", BEN).transaction_id == "t3"
    desk.work.resolve(first.id, Resolution(Disposition.NOT_FRAUD), ANA)
    assert desk.work.claim_next("default", ANA).transaction_id == "t1"
    with pytest.raises(NoCaseWaiting):
        desk.work.claim_next("default", Actor("cy", "x"))


def test_a_case_that_waits_overtakes_a_fresher_larger_one() -> None:
    queue = Queue("q", sla=timedelta(hours=1), weights=PriorityWeights())
    old = queue.weights.priority(0.6, 50.0, waited=3_000, sla=3_600)
    fresh = queue.weights.priority(0.6, 200.0, waited=0, sla=3_600)
    assert old > fresh
    first_come = PriorityWeights(score=0, amount=0, waiting=1)
    assert first_come.priority(0.99, 9_999.0, 0, 3_600) == 1.0


def test_a_disposition_is_the_label_published_audited_and_told(desk, clock) -> None:
    desk.decide(decided(1, clock=clock))
    (case,) = desk.cases()
    desk.work.claim(case.id, ANA)
    (resolved,) = desk.work.resolve(case.id, Resolution(Disposition.FRAUD, note="chargeback"), ANA)
    assert resolved.status is CaseStatus.RESOLVED and resolved.resolved_by == "ana"
    record = desk.store.get("t1")
    assert record.label.is_fraud is True and record.label.analyst == "ana"
    published = desk.bus.consumer("features", [Topic.LABELS]).poll_batch(10, 0.0)
    assert [ENVELOPES.read_label(m).transaction_id for m in published] == ["t1"]
    actions = [event.action for event in desk.store.audit(100)]
    assert AuditAction.LABEL in actions and AuditAction.CASE_RESOLVED in actions
    told = {held.delivery.event_type for held in desk.store.state.deliveries.values()}
    assert told == set()  # nobody subscribes: nothing is written to the outbox
    detail = desk.work.detail(case.id)
    assert [note.text for note in detail.notes] == ["chargeback"]
    assert [event.action.value for event in detail.history] == ["claimed", "resolved"]


def test_needs_information_sets_the_case_waiting_with_no_label(desk, clock) -> None:
    desk.decide(decided(1, clock=clock))
    (case,) = desk.cases()
    (waiting,) = desk.work.resolve(case.id, Resolution(Disposition.NEEDS_INFO), ANA)
    assert waiting.status is CaseStatus.WAITING
    assert desk.store.get("t1").label is None
    assert desk.work.claim(case.id, BEN).assignee == "ben"  # the information came to ben


def test_resolving_the_whole_card_leaves_cases_another_analyst_holds(desk, clock) -> None:
    desk.decide(
        *(decided(n, clock=clock) for n in range(1, 5)), decided(9, clock=clock, user_id="bob")
    )
    ids = {case.transaction_id: case.id for case in desk.cases()}
    desk.work.claim(ids["t4"], BEN)
    done = desk.work.resolve(ids["t1"], Resolution(Disposition.FRAUD, whole_card=True), ANA)
    assert [case.transaction_id for case in done] == ["t1", "t2", "t3"]
    labelled = {tid for tid in ("t1", "t2", "t3", "t4", "t9") if desk.store.get(tid).label}
    assert labelled == {"t1", "t2", "t3"}


def test_a_case_lists_its_card_in_one_action(desk, clock) -> None:
    desk.lists.create(NewList("blocked_cards", "user_id", "cards we refuse"), ANA)
    desk.decide(decided(1, clock=clock))
    (case,) = desk.cases()
    entry = desk.work.list_value(case.id, Listing("blocked_cards", "stolen", 30), ANA)
    assert entry.value == "alice" and entry.expires_at == clock.now() + timedelta(days=30)
    assert desk.work.detail(case.id).history[-1].detail == "user_id alice on list blocked_cards"


def test_a_queue_counts_its_cases_past_the_sla_and_says_when_it_nears_it(desk, clock) -> None:
    desk.queues.change("default", {"sla_minutes": 10}, ANA)
    desk.decide(decided(1, clock=clock))
    clock.advance(9 * 60)
    desk.decide(decided(2, clock=clock))
    (state,) = desk.work.queue_states()
    assert (state.open, state.past_sla) == (2, 0)
    assert "90% of the SLA" in state.warning(clock.now())
    clock.advance(2 * 60)
    (state,) = desk.work.queue_states()
    assert state.past_sla == 1
    assert state.warning(clock.now()) == "1 past the SLA of 10 min"


def test_a_queue_change_is_its_next_version_and_names_what_breaks() -> None:
    queue = Queue("q")
    changed = changed_queue(queue, {"include_declines": True, "position": 5})
    assert (changed.version, changed.include_declines, changed.position) == (2, True, 5)
    with pytest.raises(InvalidCaseRequest, match="body: must change at least one"):
        changed_queue(queue, {})


def test_a_resolved_case_with_a_subscriber_tells_it(desk, clock) -> None:
    from fraud.domain.webhooks import Subscription

    with desk.store() as uow:
        uow.webhooks.subscribe(
            Subscription(0, "https://example.com/hook", tuple(EventType), "tests", clock.now()),
            "whsec_x",
        )
        uow.commit()
    desk.decide(decided(1, clock=clock), decided(2, Decision.DECLINE, clock=clock))
    desk.decide(decided(1, clock=clock))  # redelivered: told once
    (case,) = desk.cases()
    desk.work.resolve(case.id, Resolution(Disposition.NOT_FRAUD), ANA)
    told = sorted(held.delivery.event_type.value for held in desk.store.state.deliveries.values())
    assert told == ["case.resolved", "decision.decline", "decision.review", "label.created"]


def test_a_queue_whose_condition_no_longer_compiles_is_left_out_not_the_stage_held(
    desk, clock
) -> None:
    with desk.store() as uow:  # stored before a change of the language, say
        uow.queues.save(Queue("broken", condition="tx.amount >"), "tests", clock.now())
        uow.commit()
    desk.decide(decided(1, clock=clock))
    assert [case.queue for case in desk.cases()] == ["default"]


def test_imported_labels_are_told_to_subscribers_too(desk, clock) -> None:
    from fraud.application.labels import ImportLabels
    from fraud.domain.label_risk import KnownLabel
    from fraud.domain.webhooks import Subscription

    with desk.store() as uow:
        uow.webhooks.subscribe(
            Subscription(0, "https://example.com/h", (EventType.LABEL_CREATED,), "t", clock.now()),
            "whsec_x",
        )
        uow.commit()
    desk.decide(decided(1, clock=clock), decided(2, Decision.APPROVE, clock=clock))
    imported = ImportLabels(desk.store, clock, desk.bus, ENVELOPES)(
        [KnownLabel("t1", True, clock.now()), KnownLabel("t2", False, clock.now())], ANA
    )
    assert imported.imported == 2
    told = [held.delivery.event_type for held in desk.store.state.deliveries.values()]
    assert told == [EventType.LABEL_CREATED, EventType.LABEL_CREATED]
