"""How fast can the record stage write a batch of verdicts? Each way of sending the ledger's
"first verdict wins" upsert, timed on SQLite and on PostgreSQL.

Every strategy runs the same statement's semantics: insert each verdict's row, or fill a
stored row whose decision is still open (a claimed, pending transaction), leave a decided
one alone, and say which keys it inserted or filled. Two workloads, in batches of
``--batch`` rows, one transaction per batch as the record stage commits:

* ``new``: transactions that came straight onto the topic (every row an insert);
* ``claimed``: transactions submitted over the API, claimed as pending first (every row
  an update of its pending row).

Strategies (PostgreSQL: all four; SQLite: ``store``, the same single statement as
``insertmanyvalues`` there):

* ``store``: what the record stage does, ``upserts.insert_or_fill``: on PostgreSQL
  ``COPY`` into a temporary table, then ``INSERT ... SELECT`` from it;
* ``insertmanyvalues``: SQLAlchemy's default for an ``executemany`` with RETURNING, one
  multi-row ``INSERT ... VALUES (...), (...) ON CONFLICT ... RETURNING`` per 1000 rows;
* ``executemany``: the driver's own ``executemany(..., returning=True)``, one statement
  per row pipelined by psycopg 3;
* ``unnest``: one ``INSERT ... SELECT FROM unnest(:col1, :col2, ...)`` with a typed array
  per column, whatever the batch size.

Point it at a throwaway database: it migrates it and deletes what it wrote afterwards.

    python benchmarks/record_write.py                          # SQLite, a temporary file
    python benchmarks/record_write.py --url "$(ops/postgres/postgres.sh url)"
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import JSON, Text, bindparam, cast, delete, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from fraud.adapters.sqlalchemy.engine import create_engine_for
from fraud.adapters.sqlalchemy.migrate import upgrade
from fraud.adapters.sqlalchemy.repository import VERDICT_COLUMNS
from fraud.adapters.sqlalchemy.rows import to_row
from fraud.adapters.sqlalchemy.tables import transactions
from fraud.adapters.sqlalchemy.upserts import insert_or_fill
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.transaction import Transaction

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PREFIX = "bench-record-"
Row = dict[str, Any]
Strategy = Callable[[Connection, Sequence[Row]], set[Any]]
OPEN = transactions.c.decision.is_(None)
KEY = transactions.c.transaction_id


def verdict(n: int) -> TransactionRecord:
    transaction_id = f"{PREFIX}{n:08d}"
    received = T0 + timedelta(milliseconds=n)
    decision = Decision.DECLINE if n % 500 == 0 else Decision.APPROVE
    return TransactionRecord(
        transaction=Transaction(
            transaction_id=transaction_id,
            user_id=f"user-{n % 5000}",
            amount=10.0 + n % 300,
            merchant="Corner Shop",
            timestamp=received,
            merchant_type="grocery",
            device_type="pos",
            location_match=True,
        ),
        received_at=received,
        status=Status.SCORED,
        assessment=Assessment(
            transaction_id=transaction_id,
            fraud_score=0.97 if decision is Decision.DECLINE else (n % 1000) / 100_000,
            decision=decision,
            reasons=("amount is 7.4x this user's 7-day average",),
            model_version="bench-model",
            scored_at=received + timedelta(milliseconds=30),
        ),
        features={"amount": 10.0 + n % 300, "count_10m": 2.0, "velocity_1h": 3.0},
        preprocessed_at=received + timedelta(milliseconds=5),
        recorded_at=received + timedelta(milliseconds=40),
    )


def rows_of(numbers: range) -> list[Row]:
    now = datetime.now(UTC)
    return [to_row(verdict(n), now, published_at=now) for n in numbers]


def pending(rows: Sequence[Row]) -> list[Row]:
    """The rows the API claimed before scoring: the transaction without its verdict."""
    open_columns = {name: None for name in VERDICT_COLUMNS if name != "updated_at"}
    return [{**row, **open_columns, "status": Status.PENDING.value} for row in rows]


# --- the strategies ------------------------------------------------------------------------


def store(connection: Connection, rows: Sequence[Row]) -> set[Any]:
    dialect = connection.dialect.name
    return insert_or_fill(
        connection, transactions, rows, dialect, columns=VERDICT_COLUMNS, where=OPEN
    )


def _upsert(source: Any) -> Any:
    native = postgresql.insert(transactions)
    if source is not None:
        native = native.from_select(list(transactions.c.keys()), source)
    return native.on_conflict_do_update(
        index_elements=[KEY],
        set_={name: native.excluded[name] for name in VERDICT_COLUMNS},
        where=OPEN,
    ).returning(KEY)


def insertmanyvalues(connection: Connection, rows: Sequence[Row]) -> set[Any]:
    return set(connection.execute(_upsert(None), list(rows)).scalars())


def _driver_value(value: Any) -> Any:
    """What the columns' types bind: naive UTC instants, JSON as JSON."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, dict | list):
        return Json(value)
    return value


def executemany(connection: Connection, rows: Sequence[Row]) -> set[Any]:
    compiled = _upsert(None).compile(dialect=connection.dialect)
    names = list(compiled.params)
    parameters = [{name: _driver_value(row[name]) for name in names} for row in rows]
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(str(compiled), parameters, returning=True)
    keys: set[Any] = set()
    while True:
        keys.update(found for (found,) in cursor.fetchall())
        if not cursor.nextset():
            return keys


def unnest(connection: Connection, rows: Sequence[Row]) -> set[Any]:
    names = list(transactions.c.keys())
    json_columns = {name for name in names if isinstance(transactions.c[name].type, JSON)}

    def array(name: str) -> Any:
        values = [row[name] for row in rows]
        if name in json_columns:  # a JSON array parameter would be read as more dimensions
            values = [None if v is None else json.dumps(v) for v in values]
            return bindparam(f"_{name}", values, type_=ARRAY(Text()))
        return bindparam(f"_{name}", values, type_=ARRAY(transactions.c[name].type))

    source = func.unnest(*map(array, names)).table_valued(*names, name="incoming").render_derived()
    chosen = [
        cast(source.c[name], JSON) if name in json_columns else source.c[name] for name in names
    ]
    return set(connection.execute(_upsert(select(*chosen))).scalars())


STRATEGIES: dict[str, Strategy] = {
    "store": store,
    "insertmanyvalues": insertmanyvalues,
    "executemany": executemany,
    "unnest": unnest,
}


# --- the runs ------------------------------------------------------------------------------


def clear(connection: Connection) -> None:
    connection.execute(delete(transactions).where(KEY.startswith(PREFIX)))


def rows_per_second(url: str, strategy: Strategy, workload: str, batch: int, batches: int) -> float:
    """Rows a second over ``batches`` batches, each written and committed on its own."""
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            clear(connection)
        prepared = [rows_of(range(b * batch, (b + 1) * batch)) for b in range(batches)]
        if workload == "claimed":
            with engine.begin() as connection:
                for rows in prepared:
                    connection.execute(insert(transactions), pending(rows))
        elapsed = 0.0
        with engine.connect() as connection:
            for rows in prepared:
                started = time.perf_counter()
                written = strategy(connection, rows)
                connection.commit()
                elapsed += time.perf_counter() - started
                assert written == {row["transaction_id"] for row in rows}, "not every row written"
            again = strategy(connection, prepared[0])
            assert again == set(), "a decided row was written again"
            decided = connection.execute(
                select(func.count()).where(KEY.startswith(PREFIX), ~OPEN)
            ).scalar()
            assert decided == batch * batches, f"{decided} rows decided"
            clear(connection)
            connection.commit()
        return batch * batches / elapsed
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the database (default: a temporary SQLite file)")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strategy", nargs="+", choices=sorted(STRATEGIES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        sqlite = url.startswith("sqlite")
        names = args.strategy or (["store"] if sqlite else list(STRATEGIES))
        report: dict[str, dict[str, int]] = {}
        for name in names:
            for workload in ("new", "claimed"):
                runs = [
                    rows_per_second(url, STRATEGIES[name], workload, args.batch, args.batches)
                    for _ in range(args.repeats)
                ]
                report.setdefault(name, {})[workload] = round(statistics.median(runs))
    print(json.dumps({"database": url.split(":")[0], "batch": args.batch, "rows_per_s": report}))


if __name__ == "__main__":
    main()
