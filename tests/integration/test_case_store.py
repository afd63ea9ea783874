"""Cases, lists and the webhook outbox in the SQL store (SQLite and PostgreSQL, schema from
the migrations) and the in-memory fake: a verdict opens one case however often it is
recorded; of two analysts claiming one case at once, and two senders claiming deliveries at
once, each through a connection of its own, exactly one gets each; a list's changes reach
a worker's copy in order; the earliest pending delivery's due time is read without a claim."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest

from fraud.adapters.cel.conditions import CelConditionCompiler
from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.sqlalchemy.cases import SqlCaseQueries
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.lists import SqlListQueries
from fraud.adapters.sqlalchemy.queries import SqlQueries
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.adapters.sqlalchemy.webhooks import SqlWebhookQueries
from fraud.application.cases import WorkCases
from fraud.application.follow_ups import DecisionFollowUps
from fraud.application.labels import LabelTransaction
from fraud.application.lists import LiveLists, ManageLists
from fraud.application.queues import LiveQueues
from fraud.application.stream.record import RecordStage
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.cases import CaseStatus, CaseTaken, Disposition, Resolution
from fraud.domain.identity import Actor
from fraud.domain.lists import NewEntry, NewList
from fraud.domain.ports.cases import CaseFilter
from fraud.domain.ports.webhooks import Settled
from fraud.domain.webhooks import DeliveryStatus, EventType, Subscription, decision_event
from tests.factories import ENVELOPES, txn
from tests.fakes import FixedClock
from tests.postgres import BACKENDS, migrated_url_for

pytestmark = pytest.mark.integration

ANA, BEN = Actor("ana", "10.0.0.1"), Actor("ben", "10.0.0.2")


@dataclass
class Stores:
    """One backend's write side (a fresh factory per call: a connection pool of its own),
    and its read side."""

    unit_of_work: Callable[[], object]
    reads: Callable[[], tuple[object, object, object, object]]  # verdicts, cases, lists, hooks
    concurrent: bool


@pytest.fixture(params=[*BACKENDS, "memory"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "memory":
        memory = InMemoryStore()
        return Stores(lambda: memory, lambda: (memory,) * 4, False)
    url = migrated_url_for(request.param, request)

    def engine():
        made = create_engine_for(url)
        request.addfinalizer(made.dispose)
        return made

    def reads():
        shared = engine()
        return (
            SqlQueries(shared),
            SqlCaseQueries(shared),
            SqlListQueries(shared),
            SqlWebhookQueries(shared),
        )

    return Stores(lambda: SqlUnitOfWorkFactory(engine()), reads, True)


def decided(n: int, clock: FixedClock, decision: Decision = Decision.REVIEW) -> TransactionRecord:
    transaction = txn(n, minutes=n, user_id=f"card-{n % 3}")
    verdict = Assessment(transaction.transaction_id, 0.7, decision, ("why",), "m1", clock.now())
    return TransactionRecord(transaction, clock.now(), Status.SCORED, verdict)


def work_cases(stores: Stores, clock: FixedClock) -> WorkCases:
    unit_of_work = stores.unit_of_work()
    verdicts, cases, lists, _ = stores.reads()
    labels = LabelTransaction(unit_of_work, verdicts, clock, MemoryBus(), ENVELOPES)
    return WorkCases(unit_of_work, cases, labels, ManageLists(unit_of_work, lists, clock), clock)


def record(stores: Stores, clock: FixedClock, records: list[TransactionRecord]) -> None:
    _, cases, _, _ = stores.reads()
    queues = LiveQueues(cases, CelConditionCompiler(), refresh_s=0.0)
    stage = RecordStage(
        stores.unit_of_work(), ENVELOPES, clock, tallies=[DecisionFollowUps(queues)]
    )
    stage.store(records, {}, clock.now())


def test_a_verdict_opens_one_case_however_often_it_is_recorded(stores, clock) -> None:
    batch = [decided(n, clock) for n in range(6)] + [decided(9, clock, Decision.APPROVE)]
    record(stores, clock, batch)
    record(stores, clock, batch[:3])  # a redelivery
    record(stores, clock, [batch[4], batch[4]])
    opened = work_cases(stores, clock).cases(CaseFilter())
    assert sorted(case.transaction_id for case in opened) == [f"t{n}" for n in range(6)]
    assert {case.status for case in opened} == {CaseStatus.OPEN}


def test_two_analysts_claiming_one_case_at_once_one_wins(stores, clock) -> None:
    if not stores.concurrent:
        pytest.skip("the in-memory fake has one writer")
    record(stores, clock, [decided(n, clock) for n in range(12)])
    ana, ben = work_cases(stores, clock), work_cases(stores, clock)  # connections of their own
    cases = ana.cases(CaseFilter())
    for case in cases:
        start = threading.Barrier(2)

        def claim(work: WorkCases, who: Actor, case_id: int = case.id, start=start) -> str | None:
            start.wait()
            try:
                return work.claim(case_id, who).assignee
            except CaseTaken:
                return None

        with ThreadPoolExecutor(2) as pool:
            got = list(pool.map(claim, (ana, ben), (ANA, BEN)))
        winners = [who for who in got if who is not None]
        assert len(winners) == 1, got
        assert ana.queries.case(case.id).assignee == winners[0]


def test_resolving_a_case_labels_it_and_a_second_disposition_changes_nothing(stores, clock) -> None:
    record(stores, clock, [decided(n, clock) for n in range(3)])
    work = work_cases(stores, clock)
    first = work.cases(CaseFilter())[-1]
    work.claim(first.id, ANA)
    (done,) = work.resolve(first.id, Resolution(Disposition.FRAUD), ANA)
    assert (done.status, done.disposition) == (CaseStatus.RESOLVED, Disposition.FRAUD)
    with pytest.raises(CaseTaken, match="is resolved"):
        work.resolve(first.id, Resolution(Disposition.NOT_FRAUD), BEN)
    verdicts, _, _, _ = stores.reads()
    assert verdicts.get(first.transaction_id).label.is_fraud is True


def test_a_lists_changes_reach_a_workers_copy_in_order(stores, clock) -> None:
    unit_of_work = stores.unit_of_work()
    _, _, lists, _ = stores.reads()
    manage = ManageLists(unit_of_work, lists, clock)
    manage.create(NewList("blocked_cards", "user_id", ""), ANA)
    wall = lambda: clock.now().timestamp()  # noqa: E731
    live = LiveLists(lists, refresh_s=0.0, wall=wall)
    manage.add("blocked_cards", NewEntry("a", "stolen", days=1), ANA)
    live.refresh()
    assert live.contains("blocked_cards", "a")
    for value in "bcd":
        manage.add("blocked_cards", NewEntry(value, "stolen"), ANA)
    manage.remove("blocked_cards", "b", ANA)
    manage.add("blocked_cards", NewEntry("a", "again"), ANA)  # no expiry now
    live.refresh()
    assert [live.contains("blocked_cards", v) for v in "abcd"] == [True, False, True, True]
    assert lists.versions() == {"blocked_cards": 6}
    clock.advance(2 * 86_400)
    assert live.contains("blocked_cards", "a")
    shown, entries = manage.show("blocked_cards")
    assert shown.entries == 3 and {entry.value for entry in entries} == {"a", "c", "d"}


def test_two_senders_claiming_at_once_never_hold_one_delivery(stores, clock) -> None:
    if not stores.concurrent:
        pytest.skip("the in-memory fake has one writer")
    writer = stores.unit_of_work()
    with writer() as uow:
        uow.webhooks.subscribe(
            Subscription(0, "https://example.com/a", tuple(EventType), "t", clock.now()), "s1"
        )
        uow.webhooks.subscribe(
            Subscription(0, "https://example.com/b", (EventType.CASE_RESOLVED,), "t", clock.now()),
            "s2",
        )
        events = [decision_event(decided(n, clock, Decision.DECLINE)) for n in range(40)]
        uow.webhooks.enqueue(events, clock.now())
        uow.webhooks.enqueue(events[:10], clock.now())  # written again: once
        uow.commit()
    _, _, _, hooks = stores.reads()
    assert hooks.backlog()["pending"] == 40
    start = threading.Barrier(4)
    lease = clock.now() + timedelta(seconds=30)

    def claim(owner: str) -> set[int]:
        unit_of_work = stores.unit_of_work()
        start.wait()
        held: set[int] = set()
        while True:
            with unit_of_work() as uow:
                claimed = uow.webhooks.claim(owner, clock.now(), lease, 3)
                uow.commit()
            if not claimed:
                return held
            held |= {c.delivery.id for c in claimed}

    with ThreadPoolExecutor(4) as pool:
        held = list(pool.map(claim, ["s-1", "s-2", "s-3", "s-4"]))
    every = [delivery for mine in held for delivery in mine]
    assert len(every) == len(set(every)) == 40


def test_the_next_delivery_due_is_read_until_it_is_delivered(stores, clock) -> None:
    """What an idle sender reads instead of claiming: when the earliest pending delivery
    falls due, held by a sender or not, and nothing once none is pending."""
    _, _, _, hooks = stores.reads()
    assert hooks.next_due() is None
    writer = stores.unit_of_work()
    with writer() as uow:
        uow.webhooks.subscribe(
            Subscription(0, "https://example.com/a", tuple(EventType), "t", clock.now()), "s1"
        )
        uow.webhooks.enqueue([decision_event(decided(1, clock, Decision.DECLINE))], clock.now())
        uow.commit()
    assert hooks.next_due() == clock.now()
    with writer() as uow:
        (claimed,) = uow.webhooks.claim("s-1", clock.now(), clock.now() + timedelta(seconds=30), 5)
        uow.commit()
    assert hooks.next_due() == clock.now()  # held, still pending: due when its lease ends
    delivered = Settled(claimed.delivery.id, DeliveryStatus.DELIVERED, 1, None, None, clock.now())
    with writer() as uow:
        uow.webhooks.settle("s-1", [delivered], [])
        uow.commit()
    assert hooks.next_due() is None
