"""The benchmark's verdict counter on a real SQLite file: what it counts, and that counting
the recent verdicts never walks the whole table (it runs five times a second beside the
workers it measures, over a million earlier rows in the users phase)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.migrate import upgrade
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.bench.harness import VerdictCounter
from tests.integration.test_sql_repository import T0, pending, scored

pytestmark = pytest.mark.integration


def test_the_counter_counts_scored_verdicts_and_since_a_moment_only_later_ones(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    upgrade(url)
    engine = create_engine_for(url)
    with SqlUnitOfWorkFactory(engine)() as uow:
        uow.verdicts.claim([pending("waiting", T0 + timedelta(hours=2))])
        uow.verdicts.decide([scored("old"), scored("new", received_at=T0 + timedelta(hours=1))])
        uow.commit()
    engine.dispose()
    everything, recent = VerdictCounter(url), VerdictCounter(url, since=T0 + timedelta(minutes=1))
    try:
        assert (everything.scored(), recent.scored()) == (2, 1)
        compiled = recent.statement().compile(recent.engine)
        with recent.engine.connect() as connection:
            plan = connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}", tuple(compiled.params.values())
            ).fetchall()
        assert "USING INDEX ix_transactions_received_at" in str(plan)
    finally:
        everything.close()
        recent.close()
