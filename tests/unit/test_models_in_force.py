"""The models a score stage uses: the registry's champion decides, a challenger scores every
transaction in shadow (stored as a version, never the decision), and a promotion or a
rollback reaches the stage within its refresh, with no restart and nothing lost."""

from __future__ import annotations

import pytest

from fraud.adapters.memory.repository import InMemoryStore
from fraud.application.archives import SignedArchives
from fraud.application.models import (
    CompareModels,
    InForce,
    LiveModels,
    ManageModels,
    RegisterModel,
    Serving,
    SetReviewBudget,
)
from fraud.domain.assessment import AnalystLabel, Decision
from fraud.domain.errors import TransientFailure
from fraud.domain.identity import Actor
from fraud.domain.registry import RoleRefused, UnknownModel, thresholds_for_budget
from tests.archive_keys import seal_for_tests
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


def signed(store: InMemoryStore, archives: RuleModelArchives) -> SignedArchives:
    """The registry's archives, each loaded once its signature holds under the tests' key."""
    return SignedArchives(store, archives, seal_for_tests())


def registered(store: InMemoryStore, clock: FixedClock, *versions: str) -> None:
    register = RegisterModel(store, clock, seal_for_tests())
    for version in versions:
        model = RuleModel(version)
        register(model.info, RuleModelArchives.pack(model), ALICE)


def test_the_champion_is_loaded_once_and_a_promotion_is_seen_after_the_refresh(clock) -> None:
    store, archives, ticks = InMemoryStore(), RuleModelArchives(), Ticks()
    registered(store, clock, "m1", "m2")
    live = LiveModels(store, signed(store, archives), refresh_s=1.0, monotonic=ticks)

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
    store = InMemoryStore()
    live = LiveModels(store, signed(store, RuleModelArchives()), refresh_s=0.0)
    with pytest.raises(TransientFailure, match="no champion"):
        live.current()


def test_a_model_that_cannot_be_loaded_leaves_the_ones_in_hand(clock) -> None:
    store, ticks = InMemoryStore(), Ticks()
    registered(store, clock, "m1", "m2")
    live = LiveModels(store, signed(store, RuleModelArchives()), refresh_s=1.0, monotonic=ticks)
    assert live.current().champion.version == "m1"
    ManageModels(store, store, clock).promote("m2", ALICE)
    del store.state.models["m2"]  # its archive is gone
    ticks.now = 2.0
    assert live.current().champion.version == "m1"


def test_a_challenger_scores_every_transaction_in_shadow_and_decides_none(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "champion", "challenger")
    ManageModels(store, store, clock).challenge("challenger", ALICE)
    live = LiveModels(store, signed(store, RuleModelArchives()), refresh_s=0.0)
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
    live = LiveModels(store, signed(store, RuleModelArchives()), refresh_s=0.0)
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


# --- review budgets and the challenge's figures ------------------------------------------


def test_a_review_budget_sets_the_threshold_that_sends_that_many_a_day() -> None:
    """1,000 scores over 10 days, 20 of them above the decline line: 5 reviews a day is the
    50 highest below it; precision on the labelled ones among them."""
    scored = [(i / 1000, None) for i in range(1000)]
    scored[-60] = (scored[-60][0], True)  # labelled: one fraud, one not, among those sent
    scored[-61] = (scored[-61][0], False)
    thresholds, budget = thresholds_for_budget(scored, days=10, per_day=5, decline=0.98)
    assert thresholds.decline == 0.98
    assert thresholds.review == pytest.approx(0.93)  # 0.930 .. 0.979: 50 transactions
    assert budget.expected_reviews_per_day == pytest.approx(5.0)
    assert budget.volume_per_day == pytest.approx(100.0)
    assert (budget.expected_precision, budget.labelled) == (0.5, 2)


def test_a_review_budget_is_in_force_at_the_next_batch(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "m1")
    live = LiveModels(store, signed(store, RuleModelArchives()), refresh_s=0.0)
    pipeline = embedded_pipeline(None, clock, store=store, models=live)
    purchases = [txn(i, minutes=i, amount=40.0 + 10 * i, location_match=i % 2) for i in range(40)]
    pipeline.submit(purchases)
    pipeline.run_until_idle()
    flagged_before = sum(
        store.get(f"t{i}").assessment.decision is not Decision.APPROVE for i in range(40)
    )

    with pytest.raises(RoleRefused, match="at least an hour"):
        SetReviewBudget(store, store, store, clock)("m1", per_day=1000, by=ALICE)
    clock.advance(2 * 3600)  # two hours of scores: the span the budget is worked out on
    change = SetReviewBudget(store, store, store, clock)("m1", per_day=1000, by=ALICE)
    assert change.budget.days == pytest.approx(2 / 24)
    assert change.thresholds.review < 0.5 and change.budget.per_day == 1000
    assert live.current().champion.policy.thresholds == change.thresholds
    pipeline.submit([txn(100 + i, minutes=100 + i, amount=400.0) for i in range(5)])
    pipeline.run_until_idle()
    later = [store.get(f"t{100 + i}").assessment for i in range(5)]
    assert all(0.05 < v.fraud_score < 0.5 for v in later)  # approved under the card's 0.5
    assert all(v.decision is Decision.REVIEW for v in later)
    assert flagged_before < 40
    with pytest.raises(UnknownModel):
        SetReviewBudget(store, store, store, clock)("m9", per_day=10, by=ALICE)


def test_the_challenge_compares_both_models_at_the_champions_budget(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "champion", "challenger")
    ManageModels(store, store, clock).challenge("challenger", ALICE)
    pipeline = embedded_pipeline(
        None,
        clock,
        store=store,
        models=LiveModels(store, signed(store, RuleModelArchives()), refresh_s=0.0),
    )
    usual = [txn(i, minutes=i, amount=40.0 + i) for i in range(9)]
    pipeline.submit([*usual, txn(9, minutes=9, amount=4000.0, location_match=0)])
    pipeline.run_until_idle()
    with store() as uow:
        uow.labels.set_labels({"t9": AnalystLabel(True, "ana", clock.now())})
        uow.labels.set_labels({"t1": AnalystLabel(False, "ana", clock.now())})
        uow.commit()

    challenge = CompareModels(store, store, clock)()
    assert (challenge.champion, challenge.challenger) == ("champion", "challenger")
    figures = challenge.comparison
    assert (figures.scored, figures.labelled, figures.frauds) == (10, 2, 1)
    assert figures.decisions_changed == 0  # the same rule twice
    assert figures.champion == figures.challenger
    assert figures.budget == 1  # the champion flagged t9 alone
    assert figures.champion.precision == figures.champion.recall == 1.0
    assert figures.champion.average_precision == 1.0
    ManageModels(store, store, clock).end_challenge(ALICE)
    assert CompareModels(store, store, clock)() is None


class BrokenArchives(RuleModelArchives):
    """Archives whose ``broken`` version cannot be loaded, whatever the reason."""

    def unpack(self, archive: bytes) -> RuleModel:
        if archive == b"broken":
            raise OSError("the archive's network cannot be read")
        return super().unpack(archive)


class FailingModel(RuleModel):
    def attribute(self, features):
        raise ArithmeticError("cannot score")

    def score(self, features):
        raise ArithmeticError("cannot score")


def test_a_challenger_that_cannot_load_or_score_never_holds_a_decision_back(clock) -> None:
    store = InMemoryStore()
    registered(store, clock, "champion", "broken")
    ManageModels(store, store, clock).challenge("broken", ALICE)
    live = LiveModels(store, signed(store, BrokenArchives()), refresh_s=0.0)
    assert live.current().challenger is None  # it could not be loaded: the champion alone
    pipeline = embedded_pipeline(None, clock, store=store, models=live)
    pipeline.submit([txn(1)])
    pipeline.run_until_idle()
    assert store.get("t1").assessment.model_version == "champion"

    failing = InForce(1, Serving.of(RuleModel("champion")), Serving.of(FailingModel("failing")))
    pipeline = embedded_pipeline(None, clock, store=store, models=FixedInForce(failing))
    pipeline.submit([txn(2, minutes=1)])
    pipeline.run_until_idle()
    decided = store.get("t2")
    assert decided.assessment.model_version == "champion" and decided.versions == ()
    assert store.status_counts()["failed"] == 0


class FixedInForce:
    def __init__(self, in_force: InForce) -> None:
        self.in_force = in_force

    def current(self) -> InForce:
        return self.in_force
