"""Analysts' rules in the SQL store (SQLite and PostgreSQL, schema from the migrations) and
in the in-memory fake, held to one contract: versions follow each other, a racing change
loses, the history only grows, the rule set's version moves with every change, and the
rules that hit a verdict come back with it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.queries import SqlQueries
from fraud.adapters.sqlalchemy.rules import SqlRuleQueries
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.domain.assessment import Decision
from fraud.domain.rules import Rule, RuleAction, RuleHealth, RuleHit, RuleMode
from tests.integration.test_sql_repository import T0, Store, save, scored
from tests.postgres import BACKENDS, migrated_url_for

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 3, 10, tzinfo=UTC)
GIFT = Rule("gift-cards", 'tx.merchant_type == "online"', RuleAction.REVIEW, "gift cards")


@pytest.fixture(params=[*BACKENDS, "memory"])
def stores(request: pytest.FixtureRequest) -> tuple[Store, object]:
    """Both sides of the verdict store and the rules' read side."""
    if request.param == "memory":
        memory = InMemoryStore()
        return Store(memory, memory), memory
    url = migrated_url_for(request.param, request)
    engine = create_engine_for(url)
    request.addfinalizer(engine.dispose)
    return Store(SqlUnitOfWorkFactory(engine), SqlQueries(engine)), SqlRuleQueries(engine)


def change(store: Store, rule: Rule, by: str = "alice", minutes: int = 0):
    with store.unit_of_work() as uow:
        made = uow.rules.save(rule, by, AT + timedelta(minutes=minutes))
        uow.commit()
    return made


def test_versions_follow_each_other_and_a_racing_change_loses(stores) -> None:
    store, rules = stores
    assert rules.rule_set_version() == 0 and rules.rule_set().rules == ()

    first = change(store, GIFT)
    assert first is not None and first.set_version == rules.rule_set_version() >= 1
    assert change(store, GIFT) is None  # the name is taken
    shadow = replace(GIFT, mode=RuleMode.SHADOW, version=2)
    second = change(store, shadow, "bob", 1)
    assert second is not None and second.set_version > first.set_version
    assert change(store, replace(GIFT, reason="late", version=2)) is None  # v2 exists

    assert rules.rule("gift-cards") == shadow
    assert rules.rule_set().rules == (shadow,)
    disabled = replace(shadow, mode=RuleMode.DISABLED, version=3)
    third = change(store, disabled, minutes=2)
    assert third is not None
    assert rules.rule_set().version == third.set_version
    assert rules.rule_set().rules == ()  # disabled rules are not evaluated
    assert rules.rules() == [disabled]
    history = rules.history("gift-cards")
    assert [(c.rule.version, c.rule.mode, c.by) for c in history] == [
        (1, RuleMode.ACTIVE, "alice"),
        (2, RuleMode.SHADOW, "bob"),
        (3, RuleMode.DISABLED, "alice"),
    ]
    assert [c.at for c in history] == [AT, AT + timedelta(minutes=1), AT + timedelta(minutes=2)]
    assert rules.history("nothing") == [] and rules.rule("nothing") is None


def test_a_change_not_committed_is_not_seen(stores) -> None:
    store, rules = stores
    with store.unit_of_work() as uow:
        uow.rules.save(GIFT, "alice", AT)
    assert rules.rule_set_version() == 0 and rules.rules() == []


def test_the_rules_that_hit_a_verdict_come_back_with_it(stores) -> None:
    store, _ = stores
    hits = (
        RuleHit("gift-cards", 3, RuleAction.DECLINE, RuleMode.ACTIVE, "gift cards"),
        RuleHit("watch", 1, RuleAction.REVIEW, RuleMode.SHADOW, "watching"),
    )
    record = scored("t-1", Decision.DECLINE)
    assert record.assessment is not None
    ruled = replace(record, assessment=replace(record.assessment, rule_hits=hits, rules_version=7))
    plain = scored("t-2")
    save(store, lambda uow: uow.verdicts.decide([ruled, plain]))
    assert store.queries.get("t-1") == ruled
    assert store.queries.get("t-2") == plain  # no rules consulted: none recorded

    rescored = replace(ruled.assessment, fraud_score=0.2, decision=Decision.REVIEW)
    save(store, lambda uow: uow.verdicts.decide([replace(ruled, assessment=rescored)]))
    again = store.queries.get("t-1")
    assert again is not None and again.versions[0].rule_hits == hits


def test_scored_verdicts_are_read_by_receipt_for_a_backtest(stores) -> None:
    store, _ = stores
    records = [scored(f"t-{n}", received_at=T0 + timedelta(hours=n)) for n in range(5)]
    save(store, lambda uow: uow.verdicts.decide(records))
    found = store.queries.scored_between(T0 + timedelta(hours=1), T0 + timedelta(hours=3))
    assert sorted(r.transaction.transaction_id for r in found) == ["t-1", "t-2", "t-3"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_reads_in_keyset_pages_miss_nothing_and_repeat_nothing(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fraud.adapters.sqlalchemy import queries as sql_queries

    monkeypatch.setattr(sql_queries, "ACCEPTED_PAGE", 2)
    url = migrated_url_for(backend, request)
    engine = create_engine_for(url)
    request.addfinalizer(engine.dispose)
    store = Store(SqlUnitOfWorkFactory(engine), SqlQueries(engine))
    # Seven verdicts, three of them received at the same instant (ties on the page edge).
    instants = [T0, T0, T0, T0 + timedelta(hours=1), *(T0 + timedelta(hours=h) for h in (2, 3, 4))]
    records = [scored(f"t-{n}", received_at=at) for n, at in enumerate(instants)]
    save(store, lambda uow: uow.verdicts.decide(records))
    read = [
        r.transaction.transaction_id
        for r in store.queries.scored_between(T0, T0 + timedelta(hours=9))
    ]
    assert sorted(read) == [f"t-{n}" for n in range(7)] and len(set(read)) == 7
    accepted = [t.transaction_id for t in store.queries.accepted_since(T0 - timedelta(days=1))]
    assert sorted(accepted) == sorted(read)


def test_the_rules_evaluated_at_a_version_and_their_tallies_add_up(stores) -> None:
    store, rules = stores
    first = change(store, GIFT).set_version
    other = Rule("late-night", "score > 0.9", RuleAction.DECLINE, "late")
    second = change(store, other, minutes=1).set_version
    third = change(store, replace(GIFT, mode=RuleMode.DISABLED, version=2), minutes=2).set_version
    assert rules.evaluated_at(first) == {"gift-cards"}
    assert rules.evaluated_at(second) == {"gift-cards", "late-night"}
    assert rules.evaluated_at(third) == {"late-night"}

    period = datetime(2026, 12, 3, 10, 5, tzinfo=UTC)
    for counts in (
        {"gift-cards": RuleHealth(10, 1, 0), "late-night": RuleHealth(10, 0, 2)},
        {"gift-cards": RuleHealth(5, 5, 0)},  # another worker, the same period: added up
    ):
        with store.unit_of_work() as uow:
            uow.rule_tallies.add(period, counts)
            uow.commit()
    with store.unit_of_work() as uow:
        uow.rule_tallies.add(period - timedelta(hours=2), {"gift-cards": RuleHealth(99, 99, 99)})
        uow.commit()
    since = period - timedelta(hours=1)
    assert rules.health(since) == {
        "gift-cards": RuleHealth(15, 6, 0),
        "late-night": RuleHealth(10, 0, 2),
    }
    assert (
        rules.health(since)["gift-cards"].warning == "raised an error on 40.0% of its evaluations"
    )
