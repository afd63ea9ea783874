"""Drift tallies in the SQL store (SQLite and PostgreSQL, schema from the migrations) and in
the in-memory fake, held to one contract: adding to an hour adds bin by bin, each model's
tallies stay its own, and a span reads only the hours from its start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.sqlalchemy.drift import SqlDriftQueries
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from tests.postgres import BACKENDS, migrated_url_for

pytestmark = pytest.mark.integration

HOUR = datetime(2026, 12, 3, 10, tzinfo=UTC)


@pytest.fixture(params=[*BACKENDS, "memory"])
def stores(request: pytest.FixtureRequest):
    if request.param == "memory":
        memory = InMemoryStore()
        return memory, memory
    url = migrated_url_for(request.param, request)
    engine = create_engine_for(url)
    request.addfinalizer(engine.dispose)
    return SqlUnitOfWorkFactory(engine), SqlDriftQueries(engine)


def add(unit_of_work, version: str, hour: datetime, counts: dict[str, list[int]]) -> None:
    with unit_of_work() as uow:
        uow.drift.add(version, hour, counts)
        uow.commit()


def test_tallies_add_up_per_model_and_hour(stores) -> None:
    unit_of_work, queries = stores
    add(unit_of_work, "v1", HOUR, {"amount": [3, 0, 2], "score": [1, 1]})
    add(unit_of_work, "v1", HOUR, {"amount": [1, 4, 0]})
    add(unit_of_work, "v1", HOUR + timedelta(hours=1), {"amount": [0, 0, 5]})
    add(unit_of_work, "v2", HOUR, {"amount": [9, 9, 9]})

    assert queries.drift_counts("v1", HOUR) == {
        "amount": {0: 4, 1: 4, 2: 7},
        "score": {0: 1, 1: 1},
    }
    assert queries.drift_counts("v1", HOUR + timedelta(hours=1)) == {"amount": {2: 5}}
    assert queries.drift_counts("v3", HOUR) == {}


def test_an_uncommitted_tally_is_not_kept(stores) -> None:
    unit_of_work, queries = stores
    with unit_of_work() as uow:
        uow.drift.add("v1", HOUR, {"amount": [1]})
    assert queries.drift_counts("v1", HOUR) == {}
