"""Value lists: rules read them as ``lists.NAME`` at the same cost whatever their size, a
worker's copy follows every change by reading only what changed, an expired entry stops
matching, and a list is capped."""

from __future__ import annotations

import pytest

from fraud.adapters.cel.rules import CelRuleCompiler
from fraud.adapters.memory.repository import InMemoryStore
from fraud.application.lists import LiveLists, ManageLists
from fraud.domain.features import FEATURE_NAMES, FeatureVector
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.lists import (
    InvalidListRequest,
    ListExists,
    ListFull,
    NewEntry,
    NewList,
    UnknownEntry,
    UnknownList,
)
from fraud.domain.rules import InvalidExpression, Rule, RuleAction
from tests.factories import txn
from tests.fakes import FixedClock

ANA = Actor("ana", "10.0.0.1")
FEATURES = FeatureVector(tuple(0.0 for _ in FEATURE_NAMES))
BLOCKED = Rule("blocked", "tx.user_id in lists.blocked_cards", RuleAction.DECLINE, "blocked card")


class Wall:
    """Seconds since the epoch, moved by the test (what an entry's expiry is compared with)."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock

    def __call__(self) -> float:
        return self.clock.now().timestamp()


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def manage(store, clock) -> ManageLists:
    made = ManageLists(store, store, clock)
    made.create(NewList("blocked_cards", "user_id", "cards we refuse"), ANA)
    return made


def hits(lists: LiveLists, *users: str) -> list[bool]:
    compiled = CelRuleCompiler(lists=lists).compile([BLOCKED])
    found = compiled.evaluate(
        [txn(n, user_id=user) for n, user in enumerate(users)],
        [FEATURES] * len(users),
        [0.1] * len(users),
    )
    return [bool(row) for row in found.hits]


def test_a_rule_reads_a_list_and_an_expired_entry_stops_matching(store, manage, clock) -> None:
    live = LiveLists(store, refresh_s=0.0, wall=Wall(clock))
    manage.add("blocked_cards", NewEntry("mallory", "stolen", days=1), ANA)
    manage.add("blocked_cards", NewEntry("trudy", "confirmed fraud"), ANA)
    live.refresh()
    assert hits(live, "mallory", "trudy", "alice") == [True, True, False]
    clock.advance(86_400 + 1)
    assert hits(live, "mallory", "trudy") == [False, True]


class Reads:
    """The store's list queries, counting the whole lists read."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.snapshots = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def snapshot(self, name: str, at: object) -> object:
        self.snapshots += 1
        return self.store.snapshot(name, at)


def test_a_worker_reads_only_the_changes_after_its_version(store, manage, clock) -> None:
    reads = Reads(store)
    live = LiveLists(reads, refresh_s=0.0, wall=Wall(clock))
    manage.add("blocked_cards", NewEntry("mallory", "stolen"), ANA)
    live.refresh()
    manage.add("blocked_cards", NewEntry("trudy", "stolen"), ANA)
    manage.remove("blocked_cards", "mallory", ANA)
    live.refresh()
    assert reads.snapshots == 1  # read whole once, then caught up from its changes
    assert (live.contains("blocked_cards", "trudy"), live.contains("blocked_cards", "mallory")) == (
        True,
        False,
    )


def test_a_worker_looks_at_most_once_per_interval(store, manage, clock) -> None:
    now = [0.0]
    live = LiveLists(store, refresh_s=1.0, monotonic=lambda: now[0], wall=Wall(clock))
    live.refresh()
    manage.add("blocked_cards", NewEntry("mallory", "stolen"), ANA)
    live.refresh()
    assert not live.contains("blocked_cards", "mallory")
    now[0] = 1.0
    live.refresh()
    assert live.contains("blocked_cards", "mallory")


def test_a_rule_naming_a_list_that_does_not_exist_is_refused_at_check_time(store, manage) -> None:
    compiler = CelRuleCompiler(lists=LiveLists(store))
    with pytest.raises(InvalidExpression, match="no list named 'vip' \\(lists: blocked_cards\\)"):
        compiler.check("tx.user_id in lists.vip")
    with pytest.raises(InvalidExpression, match="only as the right side of in"):
        compiler.check("size(lists.blocked_cards) > 0")
    compiler.check("tx.merchant in lists.blocked_cards || tx.user_id in lists.blocked_cards")


def test_every_change_is_audited_and_bad_requests_name_their_fields(store, manage) -> None:
    manage.add("blocked_cards", NewEntry("mallory", "stolen", days=30), ANA)
    manage.remove("blocked_cards", "mallory", ANA)
    audited = [(e.action, e.target) for e in store.audit(10)]
    assert (AuditAction.LIST_CREATED, "list:blocked_cards") in audited
    assert (AuditAction.LIST_ENTRY_ADDED, "list:blocked_cards") in audited
    assert (AuditAction.LIST_ENTRY_REMOVED, "list:blocked_cards") in audited
    with pytest.raises(InvalidListRequest) as refused:
        NewEntry.parse({"value": "", "days": -1, "colour": "red"})
    assert {e.field for e in refused.value.errors} == {"value", "reason", "days", "colour"}
    with pytest.raises(InvalidListRequest, match="name: must be 1 to 64 lower-case"):
        NewList.parse({"name": "blocked-cards"})
    with pytest.raises(ListExists):
        manage.create(NewList("blocked_cards", "user_id", ""), ANA)
    with pytest.raises(UnknownList):
        manage.add("nope", NewEntry("x", "y"), ANA)
    with pytest.raises(UnknownEntry):
        manage.remove("blocked_cards", "nobody", ANA)


def test_a_list_is_capped_and_an_expired_entry_leaves_room(store, clock) -> None:
    manage = ManageLists(store, store, clock, cap=2)
    manage.create(NewList("blocked_cards", "user_id", ""), ANA)
    manage.add("blocked_cards", NewEntry("a", "x", days=1), ANA)
    manage.add("blocked_cards", NewEntry("b", "x"), ANA)
    with pytest.raises(ListFull, match="holds 2 live entries: at most 2"):
        manage.add("blocked_cards", NewEntry("c", "x"), ANA)
    clock.advance(86_400 + 1)
    manage.add("blocked_cards", NewEntry("c", "x"), ANA)


class LookedUpOnly(dict):
    """A list's entries that may be looked up but never walked: walking them (to hand the
    list to the interpreter) would cost as much as the list is long."""

    def __iter__(self):
        raise AssertionError("the list was walked")

    keys = values = items = __iter__


def test_a_membership_is_a_look_up_never_a_walk_of_the_list(store, manage, clock) -> None:
    live = LiveLists(store, refresh_s=0.0, wall=Wall(clock))
    manage.add("blocked_cards", NewEntry("user-99999", "stolen"), ANA)
    live.refresh()
    entries = LookedUpOnly({f"user-{n}": float("inf") for n in range(100_000)})
    live._lists["blocked_cards"] = entries
    assert hits(live, "user-99999", "user-x") == [True, False]
