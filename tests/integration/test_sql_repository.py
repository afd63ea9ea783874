"""The SQLAlchemy verdict store on a real SQLite file and a real PostgreSQL database, each
with the schema Alembic made.

The behaviour tests also run against the in-memory store, so the fake that unit
tests and ``fraud run --broker memory`` rely on cannot drift from the real one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.errors import is_transient
from fraud.adapters.sqlalchemy.migrate import upgrade
from fraud.adapters.sqlalchemy.queries import SqlQueries
from fraud.adapters.sqlalchemy.repository import VERDICT_COLUMNS, SqlVerdictRepository
from fraud.adapters.sqlalchemy.rows import to_row
from fraud.adapters.sqlalchemy.tables import transactions
from fraud.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from fraud.adapters.sqlalchemy.upserts import COPY_FROM_ROWS, insert_missing, insert_or_fill
from fraud.domain.assessment import (
    AnalystLabel,
    Assessment,
    Decision,
    LabelChange,
    Status,
    TransactionRecord,
    with_shadows,
)
from fraud.domain.errors import TransientFailure
from fraud.domain.label_risk import LabelEvent
from fraud.domain.monitoring import VerdictSample, tally
from fraud.domain.ports import ActivityQueries, UnitOfWork, UnitOfWorkFactory, VerdictQueries
from fraud.domain.reasons import Reason
from fraud.domain.transaction import Transaction
from tests.postgres import BACKENDS, migrated_url_for

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def transaction(transaction_id: str, **fields: Any) -> Transaction:
    return Transaction.parse(
        {
            "transaction_id": transaction_id,
            "user_id": "user-1",
            "amount": 42.5,
            "currency": "eur",
            "merchant": "Corner Shop",
            "timestamp": "2024-03-01T13:00:00.123456+01:00",
            "merchant_type": "Grocery",
            "device_type": "pos",
            "location_match": 1,
            **fields,
        }
    )


def pending(transaction_id: str, received_at: datetime = T0) -> TransactionRecord:
    return TransactionRecord(transaction(transaction_id), received_at)


def scored(
    transaction_id: str,
    decision: Decision = Decision.APPROVE,
    *,
    score: float = 0.1,
    received_at: datetime = T0,
    model_version: str = "v1",
) -> TransactionRecord:
    return TransactionRecord(
        transaction=transaction(transaction_id),
        received_at=received_at,
        status=Status.SCORED,
        assessment=Assessment(
            transaction_id=transaction_id,
            fraud_score=score,
            decision=decision,
            reasons=("amount is 7.4x this user's 7-day average", "new merchant"),
            model_version=model_version,
            scored_at=received_at + timedelta(milliseconds=37),
        ),
        features={"amount": 42.5, "count_10m": 2.0},
        preprocessed_at=received_at + timedelta(microseconds=12_345),
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'not-yet' / 'verdicts.db'}"


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    upgrade(url)  # the schema comes only from the migrations
    engine = create_engine_for(url)
    yield engine
    engine.dispose()


@pytest.fixture
def sql(engine: Engine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)


class Queries(VerdictQueries, ActivityQueries, Protocol):
    """The read side, all of it."""


@dataclass(frozen=True)
class Store:
    """Both sides of a store: units of work to write, queries to read."""

    unit_of_work: UnitOfWorkFactory
    queries: Queries


@pytest.fixture(params=BACKENDS)
def migrated(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on a fresh database of each backend, its schema from the migrations."""
    url = migrated_url_for(request.param, request)
    engine = create_engine_for(url)
    yield engine
    engine.dispose()


@pytest.fixture(params=[*BACKENDS, "memory"])
def store(request: pytest.FixtureRequest) -> Store:
    """The real store on each backend and its in-memory fake, held to the same contract."""
    if request.param == "memory":
        memory = InMemoryStore()
        return Store(memory, memory)
    url = migrated_url_for(request.param, request)
    engine = create_engine_for(url)
    request.addfinalizer(engine.dispose)
    return Store(SqlUnitOfWorkFactory(engine), SqlQueries(engine))


def save(store: Store, write: Callable[[UnitOfWork], object]) -> None:
    """``write`` in a unit of work that commits."""
    with store.unit_of_work() as uow:
        write(uow)
        uow.commit()


# --- the contract, on both stores -------------------------------------------------


def test_a_pending_record_reads_back_as_written(store: Store) -> None:
    record = pending("t-1")
    save(store, lambda uow: uow.verdicts.claim([record]))

    stored = store.queries.get("t-1")
    missing = store.queries.get("nope")

    assert stored == record
    assert stored is not None
    assert stored.transaction.timestamp == datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert stored.transaction.timestamp.utcoffset() == timedelta(0)
    assert stored.status is Status.PENDING and stored.assessment is None
    assert missing is None


def test_a_scored_record_reads_back_as_written(store: Store) -> None:
    record = replace(
        scored("t-1", Decision.REVIEW, score=0.61), recorded_at=T0 + timedelta(microseconds=41_007)
    )
    save(store, lambda uow: uow.verdicts.decide([record]))

    stored = store.queries.get("t-1")

    assert stored == record
    assert stored is not None and stored.latency_ms == pytest.approx(37.0)


def test_get_many_returns_only_stored_ids(store: Store) -> None:
    save(store, lambda uow: uow.verdicts.claim([pending("a"), pending("b")]))

    with store.unit_of_work() as uow:
        found = uow.verdicts.get_many(["a", "b", "c", "a"])
        none = uow.verdicts.get_many([])

    assert set(found) == {"a", "b"}
    assert found["a"] == pending("a")
    assert none == {}


def test_a_claim_never_overwrites_a_stored_record(store: Store) -> None:
    save(store, lambda uow: uow.verdicts.decide([scored("t-1", Decision.DECLINE)]))

    later = pending("t-1", received_at=T0 + timedelta(hours=1))
    save(store, lambda uow: uow.verdicts.claim([later, pending("t-2")]))

    kept = store.queries.get("t-1")
    added = store.queries.get("t-2")
    assert kept == scored("t-1", Decision.DECLINE)
    assert added == pending("t-2")


def test_a_claim_keeps_the_first_of_duplicate_ids_in_a_batch(
    store: Store,
) -> None:
    first, second = pending("t-1"), pending("t-1", received_at=T0 + timedelta(seconds=5))
    save(store, lambda uow: uow.verdicts.claim([first, second]))

    assert store.queries.get("t-1") == first


def test_the_first_verdict_is_the_decision_and_a_later_one_a_version(store: Store) -> None:
    save(store, lambda uow: uow.verdicts.claim([pending("t-1")]))
    first = scored("t-1", Decision.APPROVE)
    with store.unit_of_work() as uow:
        assert uow.verdicts.decide([first]) == {"t-1"}
        uow.commit()
    replayed = scored("t-1", Decision.DECLINE, score=0.97, model_version="v2")
    with store.unit_of_work() as uow:
        assert uow.verdicts.decide([replayed]) == set()  # decides nothing
        assert uow.verdicts.decide([first]) == set()  # a redelivery: nothing at all
        uow.commit()

    stored = store.queries.get("t-1")
    assert stored is not None
    assert replace(stored, versions=()) == first
    assert stored.versions == (replayed.assessment,)
    assert store.queries.status_counts()["approve"] == 1
    assert sum(store.queries.status_counts().values()) == 1


def test_a_challengers_scoring_in_shadow_is_a_version_and_the_shares_come_back(
    store: Store,
) -> None:
    """A result carrying a challenger's scoring (``versions``): the champion's is the
    decision, the challenger's a version, each with its reasons' shares."""
    explained = (Reason("new merchant", 0.62), Reason("amount is high", 0.21))
    champion = scored("t-1", Decision.REVIEW, score=0.6)
    champion = replace(champion, assessment=replace(champion.assessment, explanation=explained))
    challenger = replace(
        champion.assessment, fraud_score=0.2, decision=Decision.APPROVE, model_version="v2"
    )
    with store.unit_of_work() as uow:
        assert uow.verdicts.decide(with_shadows([replace(champion, versions=(challenger,))])) == {
            "t-1"
        }
        uow.commit()

    stored = store.queries.get("t-1")
    assert stored.assessment == champion.assessment
    assert stored.assessment.explanation == explained
    assert stored.versions == (challenger,)


def test_a_rescoring_a_few_bits_away_is_the_same_scoring_and_no_version(store: Store) -> None:
    """A redelivered transaction scored in another batch can come back a float32 bit away
    (the kernels sum a row in another order at another place in a batch): not a version.
    A different model, decision or a real difference in score is one, kept once."""
    first = scored("t-1", score=0.2621085047721863)
    with store.unit_of_work() as uow:
        assert uow.verdicts.decide([first]) == {"t-1"}
        uow.commit()
    bit_away = scored("t-1", score=0.2621084749698639)
    other_model = scored("t-1", score=0.2621084749698639, model_version="v2")
    other_model_again = scored("t-1", score=0.2621085047721863, model_version="v2")
    moved = scored("t-1", score=0.2631085047721863)
    with store.unit_of_work() as uow:
        uow.verdicts.decide([bit_away, other_model, other_model_again])
        uow.commit()
    with store.unit_of_work() as uow:
        uow.verdicts.decide([bit_away, other_model_again, moved, moved])
        uow.commit()

    stored = store.queries.get("t-1")
    assert stored is not None and stored.assessment == first.assessment
    assert stored.versions == (other_model.assessment, moved.assessment)


def test_the_first_verdict_in_a_batch_decides(store: Store) -> None:
    first, later = scored("t-1"), scored("t-1", Decision.REVIEW, score=0.5, model_version="v2")
    with store.unit_of_work() as uow:
        assert uow.verdicts.decide([first, later, first]) == {"t-1"}
        uow.commit()
    stored = store.queries.get("t-1")
    assert stored is not None and stored.assessment == first.assessment
    assert stored.versions == (later.assessment,)


def test_mark_failed_leaves_scored_records_alone(store: Store) -> None:
    save(
        store,
        lambda uow: (
            uow.verdicts.claim([pending("waiting")]),
            uow.verdicts.decide([scored("done", Decision.REVIEW)]),
        ),
    )

    failures = {
        "waiting": "score stage: model unavailable",
        "done": "score stage: late duplicate",
        "never-stored": "preprocess stage: bad JSON",
    }
    save(store, lambda uow: uow.verdicts.mark_failed(failures))

    failed = store.queries.get("waiting")
    done = store.queries.get("done")
    unknown = store.queries.get("never-stored")
    assert failed is not None
    assert failed.status is Status.FAILED
    assert failed.error == "score stage: model unavailable"
    assert done == scored("done", Decision.REVIEW)
    assert unknown is None


def test_a_failed_record_can_still_be_scored_by_a_replay(store: Store) -> None:
    save(store, lambda uow: uow.verdicts.claim([pending("t-1")]))
    save(store, lambda uow: uow.verdicts.mark_failed({"t-1": "record stage: timeout"}))
    save(store, lambda uow: uow.verdicts.decide([scored("t-1")]))

    assert store.queries.get("t-1") == scored("t-1")


def test_recent_is_newest_received_first_and_filters_by_decision(
    store: Store,
) -> None:
    at = [T0 + timedelta(minutes=minute) for minute in range(5)]
    save(
        store,
        lambda uow: (
            uow.verdicts.claim([pending("p0", at[0]), pending("p3", at[3])]),
            uow.verdicts.decide(
                [
                    scored("approve1", Decision.APPROVE, received_at=at[1]),
                    scored("decline2", Decision.DECLINE, score=0.9, received_at=at[2]),
                    scored("review4", Decision.REVIEW, score=0.5, received_at=at[4]),
                ]
            ),
        ),
    )

    everything = store.queries.recent(10)
    newest_two = store.queries.recent(2)
    flagged = store.queries.recent(10, decisions={Decision.REVIEW, Decision.DECLINE})
    approved = store.queries.recent(10, decisions=[Decision.APPROVE])
    nothing = store.queries.recent(0)

    def ids(records: list[TransactionRecord]) -> list[str]:
        return [record.transaction.transaction_id for record in records]

    assert ids(everything) == ["review4", "p3", "decline2", "approve1", "p0"]
    assert ids(newest_two) == ["review4", "p3"]
    assert ids(flagged) == ["review4", "decline2"]
    assert ids(approved) == ["approve1"]
    assert nothing == []


def test_recent_lists_one_cards_transactions_newest_first(store: Store) -> None:
    at = [T0 + timedelta(minutes=minute) for minute in range(4)]
    cards = ["card-a", "card-b", "card-a", "card-a"]
    save(
        store,
        lambda uow: uow.verdicts.claim(
            [
                TransactionRecord(transaction(f"t{n}", user_id=card), at[n])
                for n, card in enumerate(cards)
            ]
        ),
    )

    def ids(records: list[TransactionRecord]) -> list[str]:
        return [record.transaction.transaction_id for record in records]

    assert ids(store.queries.recent(10, user_id="card-a")) == ["t3", "t2", "t0"]
    assert ids(store.queries.recent(2, user_id="card-a")) == ["t3", "t2"]
    assert ids(store.queries.recent(10, user_id="card-b")) == ["t1"]
    assert store.queries.recent(10, user_id="nobody") == []


def test_status_counts_name_every_bucket(store: Store) -> None:
    empty = store.queries.status_counts()
    assert empty == {"pending": 0, "approve": 0, "review": 0, "decline": 0, "failed": 0}

    save(
        store,
        lambda uow: (
            uow.verdicts.claim([pending("p1"), pending("p2"), pending("f1")]),
            uow.verdicts.decide(
                [scored("a1"), scored("a2"), scored("d1", Decision.DECLINE, score=0.99)]
            ),
            uow.verdicts.mark_failed({"f1": "score stage: boom"}),
        ),
    )
    counts = store.queries.status_counts()
    assert counts == {"pending": 2, "approve": 2, "review": 0, "decline": 1, "failed": 1}


def test_of_two_claims_on_one_id_only_the_first_wins(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert uow.verdicts.claim([pending("a"), pending("b"), pending("a")]) == {"a", "b"}
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.verdicts.claim([pending("a", T0 + timedelta(hours=1)), pending("c")]) == {"c"}
        uow.commit()
    assert store.queries.get("a") == pending("a")


def test_unpublished_claims_are_listed_until_marked_published(store: Store) -> None:
    late = T0 + timedelta(seconds=5)
    save(store, lambda uow: uow.verdicts.claim([pending("late", late), pending("early")]))

    def waiting(before: datetime = T0 + timedelta(minutes=1), limit: int = 10) -> list[str]:
        with store.unit_of_work() as uow:
            return [r.transaction.transaction_id for r in uow.verdicts.unpublished(limit, before)]

    assert waiting() == ["early", "late"]
    assert waiting(limit=1) == ["early"]
    assert waiting(before=T0) == ["early"]  # the later claim may still be in flight
    save(store, lambda uow: uow.verdicts.mark_published(["early"], T0))
    assert waiting() == ["late"]
    save(store, lambda uow: uow.verdicts.decide([scored("scored-elsewhere")]))
    assert waiting() == ["late"]  # a verdict for a message read off the bus: it was published
    save(store, lambda uow: uow.verdicts.mark_published(["late"], T0))
    with store.unit_of_work() as uow:
        assert uow.verdicts.republish_pending() == 2  # early, late: still waiting for verdicts
        uow.commit()
    assert waiting() == ["early", "late"]


def plan_of(engine: Engine, asking: Callable[[], object], marker: str) -> str:
    """SQLite's query plan for what ``asking`` sent with ``marker`` in it (the first such)."""
    asked: list[tuple[str, Any]] = []

    def remember(_conn, _cursor, statement, parameters, _context, _many) -> None:
        asked.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        asking()
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    statement, parameters = next(q for q in asked if marker in q[0])
    with engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return str(plan.fetchall())


def test_the_sweep_reads_only_the_unpublished_claims_index(
    engine: Engine, sql: SqlUnitOfWorkFactory
) -> None:
    """The relay sweeps every 2 s in every serving process: its question must be answered
    from the partial index of unpublished claims, not by walking every published verdict
    received before the cutoff (SQLite's planner did, while the index lacked the order)."""
    with sql() as uow:
        uow.verdicts.decide([scored(f"old-{n}") for n in range(50)])
        uow.verdicts.claim([pending("waiting")])
        uow.commit()
    waiting: list[TransactionRecord] = []

    def sweep() -> None:
        with sql() as uow:
            waiting.extend(uow.verdicts.unpublished(10, T0 + timedelta(minutes=1)))

    plan = plan_of(engine, sweep, "published_at IS NULL")
    assert [r.transaction.transaction_id for r in waiting] == ["waiting"]
    assert "USING INDEX ix_transactions_unpublished" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # the order, too, comes from the index


def test_a_restart_reads_the_transactions_in_event_time_from_an_index(engine: Engine) -> None:
    """A restart of `fraud run` reads every transaction stored, in event-time pages: each
    page must come from an index in that order, not from a sort of the whole table (which
    made the rebuild grow with the square of the table)."""
    sql = SqlUnitOfWorkFactory(engine)
    with sql() as uow:
        uow.verdicts.decide(
            [scored(f"t-{n}", received_at=T0 + timedelta(seconds=n)) for n in range(30)]
        )
        uow.commit()
    queries = SqlQueries(engine)
    read: list[Transaction] = []
    plan = plan_of(
        engine, lambda: read.extend(queries.accepted_since(T0 - timedelta(days=1))), "timestamp"
    )
    assert sorted(t.transaction_id for t in read) == sorted(f"t-{n}" for n in range(30))
    assert "USING INDEX ix_transactions_timestamp" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_nothing_is_stored_unless_the_unit_of_work_commits(
    store: Store,
) -> None:
    with store.unit_of_work() as uow:
        uow.verdicts.claim([pending("forgotten")])

    with pytest.raises(RuntimeError, match="use case failed"), store.unit_of_work() as uow:
        uow.verdicts.decide([scored("abandoned")])
        raise RuntimeError("use case failed")

    with store.unit_of_work() as uow:
        uow.verdicts.claim([pending("kept")])
        uow.commit()
        uow.verdicts.claim([pending("after-commit")])

    with store.unit_of_work() as uow:
        found = uow.verdicts.get_many(["forgotten", "abandoned", "kept", "after-commit"])
    assert set(found) == {"kept"}


# --- SQLite and SQLAlchemy specifics ----------------------------------------------


def test_the_engine_tunes_sqlite_for_concurrent_readers(url: str, engine: Engine) -> None:
    with engine.connect() as connection:

        def pragma(name: str) -> Any:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 5000
    assert Path(url.removeprefix("sqlite:///")).is_file()


def test_a_batch_of_5000_verdicts_is_a_few_multi_row_statements(
    engine: Engine, sql: SqlUnitOfWorkFactory
) -> None:
    batch = [
        scored(f"t-{n:05d}", Decision.REVIEW, received_at=T0 + timedelta(milliseconds=n))
        for n in range(5_000)
    ]
    writes: list[tuple[str, int]] = []

    def count_writes(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "BEGIN", "PRAGMA")):
            rows = statement.count("), (") + 1  # the rows of its VALUES list
            writes.append((statement.split()[0].upper(), rows))

    event.listen(engine, "before_cursor_execute", count_writes)
    try:
        with sql() as uow:
            uow.verdicts.decide(batch)
            uow.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count_writes)

    # One INSERT ... ON CONFLICT ... RETURNING, sent a thousand rows at a time: never a
    # statement per row, and no second statement for versions when every verdict is new.
    assert writes == [("INSERT", 1_000)] * 5
    queries = SqlQueries(engine)
    counts = queries.status_counts()
    newest = queries.recent(1)
    assert counts["review"] == 5_000
    assert newest == [batch[-1]]


def test_a_locked_database_is_a_transient_failure(url: str, sql: SqlUnitOfWorkFactory) -> None:
    impatient = create_engine_for(url, busy_timeout_ms=50)
    try:
        with sql() as holder:
            holder.verdicts.claim([pending("holds-the-write-lock")])
            with (
                pytest.raises(TransientFailure) as failure,
                SqlUnitOfWorkFactory(impatient)() as blocked,
            ):
                blocked.verdicts.decide([scored("t-1")])
    finally:
        impatient.dispose()

    assert isinstance(failure.value.__cause__, OperationalError)
    assert isinstance(failure.value.__cause__.orig, sqlite3.OperationalError)


def test_a_unit_waits_for_the_write_lock_then_leaves_the_busy_timeout_as_it_was(
    url: str, engine: Engine, sql: SqlUnitOfWorkFactory
) -> None:
    """A unit asks for the write lock about every millisecond while another process holds
    it (SQLite's own wait sleeps longer and longer), then gives its connection back with
    the busy timeout every other statement waits by."""
    holder = sqlite3.connect(
        url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.2, holder.execute, ("COMMIT",))
    releaser.start()
    try:
        with sql() as uow:
            uow.verdicts.claim([pending("after-the-lock")])
            uow.commit()
        with engine.connect() as connection:
            waits_ms = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    finally:
        releaser.join(timeout=10)
        holder.close()

    assert SqlQueries(engine).get("after-the-lock") is not None
    assert waits_ms == 5_000  # the engine's, not the 1 ms the unit asked with


def test_a_unit_that_read_still_writes_when_another_process_wants_to_write(
    url: str, engine: Engine, sql: SqlUnitOfWorkFactory
) -> None:
    """SQLite cannot turn a transaction that has read into a writer once another process
    has committed since: the unit would fail at once, whatever the busy timeout. So a unit
    holds the write lock from its start, and the other process waits for it instead."""
    queries = SqlQueries(engine)
    save(Store(sql, queries), lambda uow: uow.verdicts.claim([pending("t-1")]))
    another_process = SqlUnitOfWorkFactory(other_engine := create_engine_for(url))
    read, written = threading.Event(), threading.Event()

    def write_in_the_other_process() -> None:
        read.wait()
        with another_process() as uow:
            uow.verdicts.claim([pending("t-2")])
            uow.commit()
        written.set()

    other = threading.Thread(target=write_in_the_other_process)
    other.start()
    try:
        with sql() as uow:
            assert set(uow.verdicts.get_many({"t-1"})) == {"t-1"}
            read.set()
            assert not written.wait(timeout=0.3), "the other process wrote inside this unit"
            uow.verdicts.claim([pending("t-3")])
            uow.commit()
        other.join(timeout=10)
        assert written.is_set()
        assert all(queries.get(one) is not None for one in ("t-1", "t-2", "t-3"))
    finally:
        read.set()
        other.join(timeout=10)
        other_engine.dispose()


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (sqlite3.SQLITE_FULL, "database or disk is full"),
        (sqlite3.SQLITE_IOERR, "disk I/O error"),
        (sqlite3.SQLITE_CANTOPEN, "unable to open database file"),
    ],
)
def test_a_full_disk_or_a_database_gone_pauses_rather_than_refuses(code: int, message: str) -> None:
    """Infrastructure faults are retried by the stages, never dead-lettered."""
    original = sqlite3.OperationalError(message)
    original.sqlite_errorcode = code  # type: ignore[attr-defined]
    assert is_transient(OperationalError("INSERT ...", {}, original))


def test_a_missing_table_is_not_transient(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(OperationalError):
            SqlQueries(engine).get("t-1")
    finally:
        engine.dispose()


def test_the_repository_also_works_on_a_session(migrated: Engine) -> None:
    batch = [scored(f"t-{n:02d}") for n in range(COPY_FROM_ROWS)]  # PostgreSQL's COPY too
    with Session(migrated) as session:
        repository = SqlVerdictRepository(session)
        repository.decide([scored("t-1"), *batch])
        repository.claim([pending("t-1"), pending("t-2")])
        session.commit()
    with Session(migrated) as session:
        stored = SqlVerdictRepository(session).get_many(["t-1", "t-2", "t-00"])
    assert stored == {"t-1": scored("t-1"), "t-2": pending("t-2"), "t-00": batch[0]}


def test_naive_datetimes_are_refused(migrated: Engine) -> None:
    naive = TransactionRecord(transaction("t-1"), received_at=datetime(2024, 3, 1, 12, 0))
    with pytest.raises(Exception, match="naive datetime"), SqlUnitOfWorkFactory(migrated)() as uow:
        uow.verdicts.claim([naive])


def test_a_large_batch_keeps_the_ledger_like_a_small_one(store: Store) -> None:
    """Batches from ``COPY_FROM_ROWS`` rows take PostgreSQL's COPY path: claimed rows are
    decided, decided ones stay as they were with the new scoring kept as a version."""
    claimed = [f"claimed-{n:02d}" for n in range(COPY_FROM_ROWS)]
    decided = [f"decided-{n:02d}" for n in range(COPY_FROM_ROWS)]
    fresh = [f"fresh-{n:02d}" for n in range(COPY_FROM_ROWS)]
    save(store, lambda uow: uow.verdicts.claim([pending(i) for i in claimed]))
    save(store, lambda uow: uow.verdicts.decide([scored(i) for i in decided]))
    batch = [scored(i, Decision.DECLINE, score=0.9) for i in [*fresh, *decided, *claimed]]
    with store.unit_of_work() as uow:
        written = uow.verdicts.decide(batch)
        uow.commit()
    assert written == {*claimed, *fresh}
    assert store.queries.get("claimed-07") == scored("claimed-07", Decision.DECLINE, score=0.9)
    assert store.queries.get("fresh-07") == scored("fresh-07", Decision.DECLINE, score=0.9)
    kept = store.queries.get("decided-07")
    assert kept is not None
    assert replace(kept, versions=()) == scored("decided-07")
    assert [v.decision for v in kept.versions] == [Decision.DECLINE]


@pytest.mark.parametrize("dialect", ["native", "generic"])
def test_the_portable_fallback_writes_like_the_native_statements(
    migrated: Engine, dialect: str
) -> None:
    """Backends without ON CONFLICT get the same results from two or three statements."""
    engine = migrated
    dialect = engine.dialect.name if dialect == "native" else dialect

    def row(record: TransactionRecord) -> dict[str, Any]:
        return to_row(record, T0, published_at=None)

    open_verdict = transactions.c.decision.is_(None)
    with engine.begin() as connection:
        assert insert_missing(connection, transactions, [row(pending("a"))], dialect) == {"a"}
        assert insert_missing(
            connection, transactions, [row(scored("a")), row(pending("b"))], dialect
        ) == {"b"}
        filled = insert_or_fill(
            connection,
            transactions,
            [row(scored("b", Decision.DECLINE, score=0.9)), row(scored("c"))],
            dialect,
            columns=VERDICT_COLUMNS,
            where=open_verdict,
        )
        assert filled == {"b", "c"}
        again = insert_or_fill(
            connection,
            transactions,
            [row(scored("b", Decision.APPROVE))],
            dialect,
            columns=VERDICT_COLUMNS,
            where=open_verdict,
        )
        assert again == set()  # decided already: left as it was
        stored = SqlVerdictRepository(connection).get_many(["a", "b", "c"])
        rows = connection.execute(text("SELECT count(*) FROM transactions")).scalar()

    assert stored == {
        "a": pending("a"),
        "b": scored("b", Decision.DECLINE, score=0.9),
        "c": scored("c"),
    }
    assert rows == 3


# --- analyst labels, on both stores -------------------------------------------------


def label(is_fraud: bool = True, *, minutes: int = 0, analyst: str = "ana") -> AnalystLabel:
    return AnalystLabel(is_fraud, analyst, T0 + timedelta(hours=1, minutes=minutes))


def test_labels_are_set_only_on_stored_records(store: Store) -> None:
    save(store, lambda uow: uow.verdicts.decide([scored("a"), scored("b")]))
    with store.unit_of_work() as uow:
        labelled = uow.labels.set_labels({"a": label(), "missing": label()})
        uow.commit()
    assert labelled == {"a"}
    first = (LabelChange(label(), previous=None),)
    assert store.queries.get("a") == replace(scored("a"), label=label(), label_history=first)
    assert store.queries.get("b") == scored("b")
    assert store.queries.get("missing") is None


def test_a_relabel_replaces_the_label_and_the_history_keeps_both(store: Store) -> None:
    save(store, lambda uow: uow.verdicts.claim([pending("a")]))
    save(store, lambda uow: uow.labels.set_labels({"a": label(True)}))
    save(store, lambda uow: uow.labels.set_labels({"a": label(False, minutes=3, analyst="bob")}))
    record = store.queries.get("a")
    assert record is not None
    assert record.label == label(False, minutes=3, analyst="bob")
    assert record.label_history == (
        LabelChange(label(True), previous=None),
        LabelChange(label(False, minutes=3, analyst="bob"), previous=True),
    )


def test_a_label_survives_verdicts_and_pending_writes(store: Store) -> None:
    save(store, lambda uow: uow.verdicts.claim([pending("a")]))
    save(store, lambda uow: uow.labels.set_labels({"a": label()}))
    save(store, lambda uow: uow.verdicts.claim([pending("a")]))
    save(store, lambda uow: uow.verdicts.decide([scored("a", Decision.DECLINE, score=0.9)]))
    record = store.queries.get("a")
    assert record == replace(
        scored("a", Decision.DECLINE, score=0.9),
        label=label(),
        label_history=(LabelChange(label(), previous=None),),
    )


def test_every_label_given_comes_back_as_the_event_the_features_learn(store: Store) -> None:
    save(store, lambda uow: uow.verdicts.decide([scored("a"), scored("b")]))
    save(store, lambda uow: uow.labels.set_labels({"a": label(True), "b": label(minutes=1)}))
    save(store, lambda uow: uow.labels.set_labels({"a": label(False, minutes=2)}))
    a = scored("a").transaction
    assert store.queries.label_events(T0 - timedelta(days=1)) == [
        LabelEvent.of(a, True, label().labelled_at),
        LabelEvent.of(scored("b").transaction, True, label(minutes=1).labelled_at),
        LabelEvent.of(a, False, label(minutes=2).labelled_at),
    ]
    assert store.queries.label_events(a.timestamp + timedelta(seconds=1)) == []
    given_last = label(minutes=2).labelled_at
    assert store.queries.label_events(T0 - timedelta(days=1), labelled_since=given_last) == [
        LabelEvent.of(a, False, given_last)
    ]


def test_labelled_lists_labelled_records_oldest_label_first(
    store: Store,
) -> None:
    save(store, lambda uow: uow.verdicts.decide([scored(i) for i in ("a", "b", "c", "d")]))
    save(
        store,
        lambda uow: uow.labels.set_labels(
            {"c": label(minutes=1), "a": label(minutes=5), "b": label()}
        ),
    )
    assert [r.transaction.transaction_id for r in store.queries.labelled()] == ["b", "c", "a"]
    assert [r.transaction.transaction_id for r in store.queries.labelled(2)] == ["b", "c"]
    assert store.queries.labelled(0) == []


def test_label_precision_counts_flagged_decisions_since_a_date(
    store: Store,
) -> None:
    old = T0 - timedelta(days=30)
    records = [
        scored("r1", Decision.REVIEW, score=0.6),
        scored("r2", Decision.REVIEW, score=0.6),
        scored("r3", Decision.REVIEW, score=0.6),
        scored("d1", Decision.DECLINE, score=0.9),
        scored("d2", Decision.DECLINE, score=0.9),
        scored("d-old", Decision.DECLINE, score=0.9, received_at=old),
        scored("ok", Decision.APPROVE),
    ]
    save(store, lambda uow: uow.verdicts.decide(records))
    save(store, lambda uow: uow.verdicts.claim([pending("p")]))
    labels = {
        "r1": label(True),
        "r2": label(False),
        "d1": label(True),
        "d-old": label(True),
        "ok": label(True),
        "p": label(False),
    }
    save(store, lambda uow: uow.labels.set_labels(labels))
    figures = store.queries.label_precision(T0 - timedelta(days=7))
    nothing = store.queries.label_precision(T0 + timedelta(days=1))
    assert figures == {
        "review": {"confirmed": 1, "cleared": 1, "unlabelled": 1},
        "decline": {"confirmed": 1, "cleared": 0, "unlabelled": 1},
    }
    assert nothing == {
        "review": {"confirmed": 0, "cleared": 0, "unlabelled": 0},
        "decline": {"confirmed": 0, "cleared": 0, "unlabelled": 0},
    }


def test_activity_tallies_are_logged_read_back_by_second_and_pruned(
    store: Store,
) -> None:
    def sample(seconds: float, decision: Decision, score: float, latency_ms: float):
        return VerdictSample(T0 + timedelta(seconds=seconds), decision, score, latency_ms)

    first = tally(
        [sample(0.2, Decision.APPROVE, 0.001, 3.0), sample(0.7, Decision.DECLINE, 0.97, 8)]
    )
    second = tally([sample(5.5, Decision.REVIEW, 0.2, 40.0)])
    save(store, lambda uow: uow.activity.log(first))
    save(store, lambda uow: uow.activity.log(second))
    logged = store.queries.activity_since(T0)
    later = store.queries.activity_since(T0 + timedelta(seconds=1))
    assert [(second, dict(bucket.decisions)) for second, bucket in sorted(logged)] == [
        (T0, {Decision.APPROVE: 1, Decision.REVIEW: 0, Decision.DECLINE: 1}),
        (T0 + timedelta(seconds=5), {Decision.APPROVE: 0, Decision.REVIEW: 1, Decision.DECLINE: 0}),
    ]
    bucket = sorted(logged)[0][1]
    assert bucket.latency.counts == first[T0].latency.counts
    assert bucket.scores.counts == first[T0].scores.counts
    assert [second for second, _ in later] == [T0 + timedelta(seconds=5)]

    save(store, lambda uow: uow.activity.prune(T0 + timedelta(seconds=1)))
    assert [second for second, _ in store.queries.activity_since(T0)] == [T0 + timedelta(seconds=5)]


def test_replayed_dead_letters_are_remembered(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert uow.replays.replayed(["a", "b"]) == set()
        uow.replays.mark_replayed(["a"], T0)
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.replays.replayed(["a", "b"]) == {"a"}
        uow.replays.mark_replayed(["a", "b"], T0)  # forced again: no error
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.replays.replayed(["a", "b"]) == {"a", "b"}


def test_accepted_transactions_are_read_back_oldest_first_without_failed_ones(
    store: Store,
) -> None:
    records = [pending(f"t{n}") for n in range(5)]
    records = [
        replace(r, transaction=replace(r.transaction, timestamp=T0 - timedelta(hours=n)))
        for n, r in enumerate(records)
    ]
    save(store, lambda uow: uow.verdicts.claim(records))
    save(store, lambda uow: uow.verdicts.mark_failed({"t1": "preprocess stage: refused"}))
    read = list(store.queries.accepted_since(T0 - timedelta(hours=3)))
    assert [t.transaction_id for t in read] == ["t3", "t2", "t0"]


def test_a_pending_write_never_overwrites_a_verdict_committed_meanwhile(
    store: Store,
) -> None:
    units = store.unit_of_work
    if isinstance(units, SqlUnitOfWorkFactory) and units.engine.dialect.name == "sqlite":
        pytest.skip("an SQLite unit holds the write lock from its start: nothing lands meanwhile")
    with store.unit_of_work() as late:  # opened before the verdict landed
        save(store, lambda uow: uow.verdicts.decide([scored("race")]))
        late.verdicts.claim([pending("race")])
        late.commit()
    stored = store.queries.get("race")
    assert stored is not None and stored.status is Status.SCORED
