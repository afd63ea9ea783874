"""A canary: the challenger decides a share of the cards (a card always sees one model),
raised in steps, every step audited; it rolls back by itself when its decline rate leaves
the band around the champion's, and no decision given changes."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from fraud.adapters.memory.repository import InMemoryStore
from fraud.application.archives import SignedArchives
from fraud.application.canary import CanaryTally, ManageCanary, canary_counts
from fraud.application.models import LiveModels, ManageModels, RegisterModel
from fraud.application.stream.record import RecordStage
from fraud.domain.assessment import Decision, Status
from fraud.domain.canary import CANARY_STEPS, CanaryBand, CanaryCounts, in_canary, next_step
from fraud.domain.identity import Actor, AuditAction, Role
from fraud.domain.registry import RoleRefused
from fraud.entrypoints.http.app import create_app
from tests.archive_keys import seal_for_tests
from tests.factories import ENVELOPES, txn
from tests.fakes import RuleModel, RuleModelArchives
from tests.pipeline_helpers import embedded_pipeline
from tests.unit.conftest import calling_as, issue_keys

ALICE = Actor("alice", "test")
CARDS = 4000


class DeclinesEverything(RuleModel):
    """A challenger gone wrong: every score at 1."""

    def score(self, features):
        self.calls.append(len(features))
        return [1.0] * len(features)

    def attribute(self, features):
        return None


class Archives(RuleModelArchives):
    def unpack(self, archive: bytes):
        version = archive.decode()
        return DeclinesEverything(version) if version.startswith("broken") else RuleModel(version)


def registry(clock, challenger: str) -> InMemoryStore:
    store = InMemoryStore()
    register = RegisterModel(store, clock, seal_for_tests())
    for version in ("champion-1", challenger):
        model = RuleModel(version)
        register(model.info, RuleModelArchives.pack(model), ALICE)
    ManageModels(store, store, clock).challenge(challenger, ALICE)
    return store


def pipeline(store, clock, model):
    live = LiveModels(store, SignedArchives(store, Archives(), seal_for_tests()), refresh_s=0.0)
    watch = CanaryTally(store, clock, CanaryBand(minimum=100), judge_s=0.0)
    record = RecordStage(store, ENVELOPES, clock, tallies=[watch])
    return embedded_pipeline(model, clock, store=store, record_stage=record, models=live)


def verdicts(store: InMemoryStore, ids: list[str]) -> dict:
    return {transaction_id: store.get(transaction_id) for transaction_id in ids}


def submit_cards(running, first: int, count: int) -> list[str]:
    ids = []
    for n in range(first, first + count):
        transaction = txn(n, user_id=f"card-{n}", minutes=n / 100)
        running.submit([transaction])
        ids.append(transaction.transaction_id)
    running.run_until_idle(max_rounds=200)
    return ids


def test_a_card_is_in_the_share_by_its_own_hash_and_stays_in_the_steps_above() -> None:
    cards = [f"card-{n}" for n in range(20_000)]
    for share in CANARY_STEPS:
        inside = {c for c in cards if in_canary(c, share)}
        # Binomial: within five standard deviations of the share.
        spread = 5 * math.sqrt(len(cards) * share * (1 - share)) + 1
        assert abs(len(inside) - share * len(cards)) <= spread, share
        below = next((s for s in reversed(CANARY_STEPS) if s < share), None)
        if below is not None:
            assert {c for c in cards if in_canary(c, below)} <= inside
    assert not any(in_canary(c, 0.0) for c in cards)
    assert next_step(0.0) == 0.01 and next_step(0.5) == 1.0 and next_step(1.0) is None


def test_a_canary_at_ten_percent_decides_about_ten_percent_of_cards(model, clock) -> None:
    store = registry(clock, "challenger-2")
    canary = ManageCanary(store, store, clock)
    assert canary.raise_share(ALICE).share == 0.01
    step = canary.raise_share(ALICE)
    assert step.share == 0.10

    running = pipeline(store, clock, model)
    ids = submit_cards(running, 0, CARDS)
    records = verdicts(store, ids)
    by_challenger = [r for r in records.values() if r.assessment.model_version == "challenger-2"]
    # Exactly the cards of the share, and about a tenth of them (five standard deviations).
    assert {r.transaction.user_id for r in by_challenger} == {
        f"card-{n}" for n in range(CARDS) if in_canary(f"card-{n}", 0.10)
    }
    assert abs(len(by_challenger) - 0.1 * CARDS) <= 5 * math.sqrt(CARDS * 0.1 * 0.9)
    # Both models scored every transaction: the other's scoring is kept beside the decision.
    assert all(r.status is Status.SCORED for r in records.values())
    assert store.canary_history()[-1].share == 0.10  # within the band: it stands
    audited = [e for e in store.audit(10) if e.action is AuditAction.MODEL_ROLE]
    assert [e.detail for e in audited[:2]] == [  # newest first
        "canary: challenger-2 decides 10% of cards (raised a step)",
        "canary: challenger-2 decides 1% of cards (raised a step)",
    ]


def test_a_canary_that_declines_everything_rolls_back_by_itself(model, clock) -> None:
    store = registry(clock, "broken-2")
    ManageCanary(store, store, clock).set_share(0.10, ALICE)
    running = pipeline(store, clock, model)

    first = submit_cards(running, 0, CARDS)
    (last,) = store.canary_history()[-1:]
    assert last.share == 0.0 and last.by == "service"
    assert "declined 100.0%" in last.reason
    assert store.roles().canary == 0.0

    decided = verdicts(store, first)
    declined_by_canary = {i for i, r in decided.items() if r.assessment.model_version == "broken-2"}
    assert declined_by_canary  # it decided some before the roll-back...
    assert all(decided[i].assessment.decision is Decision.DECLINE for i in declined_by_canary)
    # ...and those decisions stand; every later card is the champion's again.
    later = verdicts(store, submit_cards(running, CARDS, 500))
    assert {r.assessment.model_version for r in later.values()} == {"champion-1"}
    still = verdicts(store, first)
    assert {i for i, r in still.items() if r.assessment.model_version == "broken-2"} == (
        declined_by_canary
    )


def test_a_share_needs_a_challenger_and_a_change(clock) -> None:
    store = registry(clock, "challenger-2")
    canary = ManageCanary(store, store, clock)
    with pytest.raises(RoleRefused, match="already"):
        canary.set_share(0.0, ALICE)
    ManageModels(store, store, clock).end_challenge(ALICE)
    with pytest.raises(RoleRefused, match="no challenger"):
        canary.set_share(0.5, ALICE)


def test_the_band_judges_only_with_enough_of_both_and_either_way() -> None:
    band = CanaryBand(decline_width=0.05, minimum=100)
    assert band.breached(CanaryCounts(1000, 20, 50, 50)) is None  # too few to say
    assert band.breached(CanaryCounts(1000, 20, 200, 14)) is None  # 2% against 7%: in
    assert "declined 0.0%" in band.breached(CanaryCounts(1000, 100, 200, 0))  # 10% vs 0%
    assert "failed" in band.breached(CanaryCounts(1000, 20, 190, 4, 10))


def test_counts_tell_the_models_apart_and_a_missing_challenger_scoring(model, clock) -> None:
    store = registry(clock, "challenger-2")
    ManageCanary(store, store, clock).set_share(1.0, ALICE)
    roles = store.roles()
    running = pipeline(store, clock, model)
    records = list(verdicts(store, submit_cards(running, 0, 10)).values())
    assert canary_counts(records, roles).challenger_decided == 10
    fallen_back = [
        replace(r, assessment=replace(r.assessment, model_version="champion-1"))
        for r in records[:3]
    ]
    assert canary_counts(fallen_back, roles).challenger_failed == 3


def test_the_canary_is_stepped_and_shown_over_http(container, clock) -> None:
    store = container.queries()
    register = RegisterModel(store, clock, seal_for_tests())
    for version in ("champion-1", "challenger-2"):
        register(RuleModel(version).info, RuleModelArchives.pack(RuleModel(version)), ALICE)
    app = create_app(container)
    keys = issue_keys(container)
    admin, viewer = calling_as(app, keys[Role.ADMIN]), calling_as(app, keys[Role.VIEWER])

    assert admin.post("/api/models/canary/raise").status_code == 409  # no challenger yet
    ManageModels(store, store, clock).challenge("challenger-2", ALICE)
    refused = admin.put("/api/models/canary", json={"share": 2})
    assert refused.status_code == 422 and refused.get_json()["details"][0]["field"] == "share"
    assert viewer.post("/api/models/canary/raise").status_code == 403
    assert admin.post("/api/models/canary/raise").get_json()["share"] == 0.01
    assert admin.put("/api/models/canary", json={"share": 0.5}).get_json()["share"] == 0.5
    shown = viewer.get("/api/models/canary").get_json()
    assert (shown["challenger"], shown["share"]) == ("challenger-2", 0.5)
    assert [step["share"] for step in shown["history"]] == [0.01, 0.5]
    assert viewer.get("/api/models").get_json()["roles"]["canary"] == 0.5
    assert admin.post("/api/models/canary/rollback").get_json()["share"] == 0.0
