"""The models a score stage uses: the registry's champion decides, a challenger scores every
transaction in shadow (stored as a version, never the decision), and a promotion or a
rollback reaches the stage within its refresh, with no restart and nothing lost."""

from __future__ import annotations

import pytest

from fraud.adapters.memory.repository import InMemoryStore
from fraud.application.models import LiveModels, ManageModels, RegisterModel
from fraud.domain.errors import TransientFailure
from fraud.domain.identity import Actor
from tests.factories import txn
from tests.fakes import FixedClock, RuleModel, RuleModelArchives
from tests.pipeline_helpers import embedded_pipeline

ALICE = Actor("alice", "test")


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def registered(store: InMemoryStore, clock: FixedClock, *versions: str) -> None:
    register = RegisterModel(store, clock)
    for version in versions:
        model = RuleModel(version)
        register(model.info, RuleModelArchives.pack(model), ALICE)


def test_the_champion_is_loaded_once_and_a_promotion_is_seen_after_the_refresh(clock) -> None:
    store, archives, ticks = InMemoryStore(), RuleModelArchives(), Ticks()
    registered(store, clock, "m1", "m2")
    live = LiveModels(store, archives, refresh_s=1.0, monotonic=ticks)

    assert live.current().champion.version == "m1"
    ManageModels(store, store, clock).promote("m2", ALICE)
    ticks.now = 0.5
    assert live.current().champion.version == "m1"  # not looked up again yet
    ticks.now = 1.5
    assert live.current().champion.version == "m2"
    ManageModels(store, store, clock).rollback(ALICE)
    ticks.now = 3.0
    assert live.current().champion.version == "m1"
    assert archives.unpacked == ["m1", "m2"]  # the champion before stays loaded


def test_no_champion_holds_the_batch_back_instead_of_deciding_without_one(clock) -> None:
    live = LiveModels(InMemoryStore(), RuleModelArchives(), refresh_s=0.0)
    with pytest.raises(TransientFailure, match="no champion"):
        live.current()


def test_a_model_that_cannot_be_loaded_leaves_the_ones_in_hand(clock) -> None:
    store, ticks = InMemoryStore(), Ticks()
    registered(store, clock, "m1", "m2")
    live = LiveModels(store, RuleModelArchives(), refresh_s=1.0, monotonic=ticks)
    assert live.current().champion.version == "m1"
    ManageModels(store, store, clock).promote("m2", ALICE)
    del store.state.models["m2"]  # its archive is gone
    ticks.now = 2.0
    assert live.current().champion.version == "m1"


def test_a_challenger_scores_every_transaction_in_shadow_and_decides_none(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "champion", "challenger")
    ManageModels(store, store, clock).challenge("challenger", ALICE)
    live = LiveModels(store, RuleModelArchives(), refresh_s=0.0)
    pipeline = embedded_pipeline(None, clock, store=store, models=live)

    pipeline.submit([txn(i, minutes=i, amount=40.0 + 300 * i) for i in range(6)])
    pipeline.run_until_idle()
    for i in range(6):
        record = store.get(f"t{i}")
        assert record.assessment.model_version == "champion"
        assert [v.model_version for v in record.versions] == ["challenger"]
        # Both models are the same rule, so the shadow scoring differs only in its model.
        assert record.versions[0].fraud_score == record.assessment.fraud_score
    assert sum(store.status_counts().values()) == 6


def test_a_promotion_between_batches_decides_the_next_ones_and_loses_none(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "m1", "m2")
    live = LiveModels(store, RuleModelArchives(), refresh_s=0.0)
    pipeline = embedded_pipeline(None, clock, store=store, models=live)

    pipeline.submit([txn(1)])
    pipeline.run_until_idle()
    ManageModels(store, store, clock).promote("m2", ALICE)
    pipeline.submit([txn(2, minutes=1)])
    pipeline.run_until_idle()
    ManageModels(store, store, clock).rollback(ALICE)
    pipeline.submit([txn(3, minutes=2)])
    pipeline.run_until_idle()

    decided = [store.get(f"t{i}").assessment.model_version for i in (1, 2, 3)]
    assert decided == ["m1", "m2", "m1"]
