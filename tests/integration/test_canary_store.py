"""A canary's steps on every store: the share in force is the challenger's latest, a step
moves the registry's revision (so every worker picks it up), and a model that challenges
again starts in shadow whatever share it had before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.registry import SqlModelQueries
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.application.canary import ManageCanary
from fraud.application.models import ManageModels, RegisterModel
from fraud.domain.identity import Actor
from tests.archive_keys import seal_for_tests
from tests.fakes import FixedClock, RuleModel, RuleModelArchives
from tests.postgres import BACKENDS, migrated_url_for

pytestmark = pytest.mark.integration

ALICE = Actor("alice", "test")


@pytest.fixture(params=[*BACKENDS, "memory"])
def stores(request: pytest.FixtureRequest):
    if request.param == "memory":
        memory = InMemoryStore()
        return memory, memory
    url = migrated_url_for(request.param, request)
    engine = create_engine_for(url)
    request.addfinalizer(engine.dispose)
    return SqlUnitOfWorkFactory(engine), SqlModelQueries(engine)


def test_a_canary_step_is_in_force_for_its_challenger_only(stores) -> None:
    unit_of_work, queries = stores
    clock = FixedClock(datetime(2026, 12, 3, 10, tzinfo=UTC))
    register = RegisterModel(unit_of_work, clock, seal_for_tests())
    for version in ("m1", "m2", "m3"):
        model = RuleModel(version)
        register(model.info, RuleModelArchives.pack(model), ALICE)
    manage = ManageModels(unit_of_work, queries, clock)
    canary = ManageCanary(unit_of_work, queries, clock)

    clock.advance(1)
    manage.challenge("m2", ALICE)
    before = queries.roles()
    assert before.canary == 0.0
    clock.advance(1)
    canary.raise_share(ALICE)
    clock.advance(1)
    canary.raise_share(ALICE)
    after = queries.roles()
    assert (after.challenger, after.canary) == ("m2", 0.10)
    assert after.revision > before.revision

    clock.advance(1)
    manage.challenge("m3", ALICE)  # another challenger starts in shadow
    assert queries.roles().canary == 0.0
    clock.advance(1)
    manage.challenge("m2", ALICE)  # and so does one that challenges again
    assert queries.roles().canary == 0.0
    assert [(s.version, s.share, s.by) for s in queries.canary_history()] == [
        ("m2", 0.01, "alice"),
        ("m2", 0.10, "alice"),
    ]
