"""A record stage reads what its tallies count with (the queues and their conditions, the
rules of the set in force, the registry's roles, the drift report its first flush checks)
in its warm-up, before the worker says it is ready, and its first batch reads none of it
again: the first transactions after a start waited 50 to 90 ms for those reads."""

from __future__ import annotations

from fraud.adapters.cel.conditions import CelConditionCompiler
from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.numpy.drift import NumpyBinCounter
from fraud.application.canary import CanaryTally
from fraud.application.drift import DriftTally, DriftWatch
from fraud.application.follow_ups import DecisionFollowUps
from fraud.application.queues import LiveQueues
from fraud.application.rule_health import RuleTally
from fraud.application.stream.record import RecordStage
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from tests.factories import ENVELOPES, txn
from tests.fakes import Counted, FixedClock


def reviewed(n: int, clock: FixedClock, rules_version: int) -> TransactionRecord:
    transaction = txn(n, minutes=n)
    verdict = Assessment(
        transaction.transaction_id,
        0.7,
        Decision.REVIEW,
        ("why",),
        "m1",
        clock.now(),
        rules_version=rules_version,
    )
    return TransactionRecord(transaction, clock.now(), Status.SCORED, verdict)


def test_the_first_batch_reads_nothing_the_warm_up_read() -> None:
    clock, store = FixedClock(), InMemoryStore()
    cases = Counted(store, "queues")
    rules = Counted(store, "evaluated_at")
    models = Counted(store, "roles")
    stage = RecordStage(
        store,
        ENVELOPES,
        clock,
        tallies=[
            DecisionFollowUps(LiveQueues(cases, CelConditionCompiler(), refresh_s=60.0)),
            RuleTally(rules, clock),
            CanaryTally(models, clock),
        ],
    )

    stage.warm_up(500)
    read = {**cases.calls, **rules.calls, **models.calls}
    assert read == {"queues": 1, "evaluated_at": 1, "roles": 1}

    in_force = store.rule_set_version()
    decided = stage.store([reviewed(n, clock, in_force) for n in range(5)], {}, clock.now())

    assert len(decided) == 5
    assert {**cases.calls, **rules.calls, **models.calls} == read


def test_the_drift_report_the_first_flush_checks_is_worked_out_in_the_warm_up() -> None:
    clock, store = FixedClock(), InMemoryStore()
    models = Counted(store, "roles")
    watch = DriftWatch(models, store, clock)
    stage = RecordStage(
        store,
        ENVELOPES,
        clock,
        tallies=[DriftTally(models, NumpyBinCounter(), clock, watch=watch)],
    )

    stage.warm_up(500)
    read = dict(models.calls)
    assert read["roles"] >= 2  # the references' and the report's

    in_force = store.rule_set_version()
    stage.store([reviewed(n, clock, in_force) for n in range(5)], {}, clock.now())

    assert models.calls == read  # the first flush's check found the report worked out
