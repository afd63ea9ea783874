"""What only PostgreSQL does: the server's transient errors become ``TransientFailure``
(the stages retry the batch instead of dead-lettering it), and the record stage's batch
goes by COPY and one upsert."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.queries import SqlQueries
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.errors import TransientFailure
from tests.factories import txn

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.fixture
def engine(migrated_postgres_url: str) -> Iterator[Engine]:
    engine = create_engine_for(migrated_postgres_url)
    yield engine
    engine.dispose()


def raise_sqlstate(engine: Engine, sqlstate: str) -> None:
    """The server raising an error with ``sqlstate``, through the driver as any other."""
    statement = f"DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{sqlstate}'; END $$"
    with transient_errors_translated(), engine.connect() as connection:
        connection.execute(text(statement))


@pytest.mark.parametrize(
    "sqlstate",
    [
        "40001",  # serialization failure
        "40P01",  # deadlock detected
        "55P03",  # lock not available
        "57P01",  # admin shutdown
        "57P03",  # cannot connect now (starting up)
        "53300",  # too many connections
        "08006",  # connection failure
    ],
)
def test_the_servers_transient_errors_are_transient_failures(engine: Engine, sqlstate: str) -> None:
    with pytest.raises(TransientFailure) as failure:
        raise_sqlstate(engine, sqlstate)
    assert isinstance(failure.value.__cause__, DBAPIError)
    assert failure.value.__cause__.orig.sqlstate == sqlstate  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "sqlstate",
    [
        "23505",  # unique violation
        "23514",  # check violation
        "42P01",  # undefined table
        "22P02",  # invalid text representation
    ],
)
def test_a_broken_statement_is_not_transient(engine: Engine, sqlstate: str) -> None:
    with pytest.raises(DBAPIError) as failure:
        raise_sqlstate(engine, sqlstate)
    assert not isinstance(failure.value, TransientFailure)


def test_a_connection_the_server_dropped_is_a_transient_failure(engine: Engine) -> None:
    with SqlUnitOfWorkFactory(engine)() as uow:
        uow.verdicts.claim([TransactionRecord(txn(1), T0)])
        with engine.connect() as other:
            other.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        with pytest.raises(TransientFailure):
            uow.verdicts.claim([TransactionRecord(txn(2), T0)])

    with SqlUnitOfWorkFactory(engine)() as uow:  # the pool hands out a live connection again
        uow.verdicts.claim([TransactionRecord(txn(3), T0)])
        uow.commit()
    assert SqlQueries(engine).status_counts()["pending"] == 1


def scored(n: int) -> TransactionRecord:
    transaction = txn(n)
    return TransactionRecord(
        transaction=transaction,
        received_at=T0 + timedelta(milliseconds=n),
        status=Status.SCORED,
        assessment=Assessment(
            transaction_id=transaction.transaction_id,
            fraud_score=0.6,
            decision=Decision.REVIEW,
            reasons=("new merchant",),
            model_version="v1",
            scored_at=T0 + timedelta(milliseconds=n + 30),
        ),
        features={"amount": 10.0},
    )


def test_a_batch_of_5000_verdicts_is_one_copy_and_one_upsert(engine: Engine) -> None:
    batch = [scored(n) for n in range(5_000)]
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        with SqlUnitOfWorkFactory(engine)() as uow:
            assert len(uow.verdicts.decide(batch)) == 5_000
            uow.commit()
    finally:
        event.remove(engine, "before_cursor_execute", record)

    # The COPY itself goes through the driver, beside SQLAlchemy's statements.
    assert statements.count("INSERT") == 1
    assert statements.count("CREATE") == 1
    assert SqlQueries(engine).status_counts()["review"] == 5_000
    assert SqlQueries(engine).recent(1) == [batch[-1]]
