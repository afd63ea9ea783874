"""Batch writes keyed by primary key: insert-if-missing and insert-or-fill.

Each is one statement executed once for the whole batch (an ``executemany``),
never a statement per row: that is what keeps the record stage at hundreds of
thousands of rows a second. SQLite and PostgreSQL get their native
``INSERT ... ON CONFLICT``; any other backend gets a portable two-statement
fallback that is correct inside one transaction but may raise an
``IntegrityError`` when two writers race on the same new key.

On PostgreSQL a batch of insert-or-fill (the record stage's verdicts) goes by
``COPY`` into a temporary table and is upserted from there in one statement:
psycopg 3 parses SQLAlchemy's multi-row ``VALUES`` statement (27 parameters a
row) anew for every batch, and that parsing, not the server, took most of the
time. ``benchmarks/record_write.py`` has the figures against that statement,
psycopg's pipelined ``executemany`` and ``INSERT ... SELECT FROM unnest(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import (
    Column,
    ColumnElement,
    Table,
    bindparam,
    column,
    exc,
    insert,
    select,
    update,
)
from sqlalchemy import table as table_clause
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

from fraud.adapters.sqlalchemy.engine import json_text
from fraud.adapters.sqlalchemy.tables import UtcDateTime

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# A connection, or an ORM session on one: these writes are Core, and the ORM is named for
# the type only (importing it cost every `fraud` command about 0.1 s of CPU).
Executor: TypeAlias = "Connection | Session"
Row = dict[str, Any]

NATIVE_DIALECTS = ("sqlite", "postgresql")


def connection_of(executor: Executor) -> Connection:
    """The connection ``executor`` writes on: itself, or its session's."""
    return executor if isinstance(executor, Connection) else executor.connection()


# Under every backend's bound-parameter limit (SQLite before 3.32 allowed 999).
IN_CLAUSE_CHUNK = 900

# Below this many rows the temporary table's extra round trips cost more than COPY saves
# (measured: one row at a third of the single statement's rate, twenty at 1.7 times it).
COPY_FROM_ROWS = 20


def chunks(items: Sequence[Any], size: int = IN_CLAUSE_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _key(table: Table) -> Column[Any]:
    (key,) = table.primary_key.columns
    return key


def insert_missing(executor: Executor, table: Table, rows: Sequence[Row], dialect: str) -> set[Any]:
    """Insert the rows whose key is not stored yet; stored rows stay untouched. Returns the
    keys this statement inserted: of two writers inserting one key, exactly one gets it."""
    if not rows:
        return set()
    key = _key(table)
    if dialect == "sqlite":
        return _on_sqlite(executor, table, rows, ())
    if dialect == "postgresql":
        native = postgresql.insert(table)
        statement = native.on_conflict_do_nothing(index_elements=[key]).returning(key)
        return set(executor.execute(statement, list(rows)).scalars())
    stored = _stored_keys(executor, key, [row[key.name] for row in rows])
    missing = [row for row in rows if row[key.name] not in stored]
    if missing:
        executor.execute(insert(table), missing)
    return {row[key.name] for row in missing}


def append(executor: Executor, table: Table, rows: Sequence[Row], dialect: str) -> None:
    """Insert ``rows`` (the same columns in the same order in each) into a table whose key
    the database assigns. On SQLite as :func:`_on_sqlite` sends its statements: the
    record stage appends a row or two with every batch, and SQLAlchemy's insert took half a
    millisecond of it."""
    if not rows:
        return
    if dialect == "sqlite":
        statement = _sqlite_statement(table, tuple(rows[0]), (), None, returning=False)
        _sent_on_sqlite(executor, rows, statement)
    else:
        executor.execute(insert(table), list(rows))


def insert_or_fill(
    executor: Executor,
    table: Table,
    rows: Sequence[Row],
    dialect: str,
    *,
    columns: Collection[str],
    where: ColumnElement[bool],
) -> set[Any]:
    """Insert each row, or write ``columns`` into the stored row with its key if ``where``
    holds for it (a stored row it does not hold for stays as it is). Returns the keys
    inserted or written: the decision ledger's "first verdict wins", in one statement."""
    if not rows:
        return set()
    key = _key(table)
    # Writers lock rows in key order, so two batches sharing keys wait instead of deadlocking.
    rows = sorted(rows, key=lambda row: row[key.name])
    if dialect == "postgresql" and len(rows) >= COPY_FROM_ROWS:
        connection = connection_of(executor)
        return _fill_by_copy(connection, table, rows, columns=columns, where=where)
    if dialect == "sqlite":
        return _on_sqlite(executor, table, rows, tuple(columns), where)
    if dialect in NATIVE_DIALECTS:
        statement = _filling(postgresql.insert(table), key, columns, where)
        return set(executor.execute(statement, rows).scalars())
    keys = [row[key.name] for row in rows]
    stored = _stored_keys(executor, key, keys)
    open_keys: set[Any] = set()
    for chunk in chunks(keys):
        open_keys.update(executor.execute(select(key).where(key.in_(chunk), where)).scalars())
    filled = [row for row in rows if row[key.name] in open_keys]
    if filled:
        statement = (
            update(table)
            .where(key == bindparam("_filled_key"))
            .values({name: bindparam(f"_new_{name}") for name in columns})
        )
        executor.execute(
            statement,
            [
                {"_filled_key": row[key.name], **{f"_new_{n}": row[n] for n in columns}}
                for row in filled
            ],
        )
    missing = [row for row in rows if row[key.name] not in stored]
    if missing:
        executor.execute(insert(table), missing)
    return open_keys | {row[key.name] for row in missing}


def _filling(
    native: sqlite.Insert | postgresql.Insert,
    key: Column[Any],
    columns: Collection[str],
    where: ColumnElement[bool],
) -> Any:
    return native.on_conflict_do_update(
        index_elements=[key],
        set_={name: native.excluded[name] for name in columns},
        where=where,
    ).returning(key)


# SQLite binds at most 32,766 parameters a statement (3.32 and later).
SQLITE_PARAMETERS = 32_766


def _on_sqlite(
    executor: Executor,
    table: Table,
    rows: Sequence[Row],
    columns: tuple[str, ...],
    where: ColumnElement[bool] | None = None,
) -> set[Any]:
    """Insert-if-missing (no ``columns``) or insert-or-fill on SQLite: the statement
    SQLAlchemy compiles for one row, repeated for many rows in one ``VALUES`` list, each
    value bound by its column type's own processor, and sent to the driver as is.
    SQLAlchemy's executemany does the same with far more work per value (a parameter
    dictionary per row, looked up by name)."""
    statement = _sqlite_statement(table, tuple(rows[0]), columns, where)
    return _sent_on_sqlite(executor, rows, statement)


def _sent_on_sqlite(
    executor: Executor,
    rows: Sequence[Row],
    statement: tuple[tuple[str, str, str], list[Any]],
) -> set[Any]:
    """``rows`` through ``statement`` (see :func:`_sqlite_statement`), a thousand rows or
    fewer at a time; the keys it returned, when it returns them."""
    connection = connection_of(executor)
    (head, one_row, tail), processors = statement
    per_statement = min(1_000, SQLITE_PARAMETERS // len(processors))
    written: set[Any] = set()
    for chunk in chunks(rows, per_statement):
        values = [
            value if process is None else process(value)
            for row in chunk
            for value, process in zip(row.values(), processors, strict=True)
        ]
        sql = head + ", ".join([one_row] * len(chunk)) + tail
        result = connection.exec_driver_sql(sql, tuple(values))
        if result.returns_rows:
            written.update(key for (key,) in result)
    return written


_SQLITE_STATEMENTS: dict[tuple[Any, ...], tuple[tuple[str, str, str], list[Any]]] = {}


def _sqlite_statement(
    table: Table,
    names: tuple[str, ...],
    columns: tuple[str, ...],
    where: ColumnElement[bool] | None,
    *,
    returning: bool = True,
) -> tuple[tuple[str, str, str], list[Any]]:
    """The one-row statement split around its ``VALUES`` row, and each column's processor,
    compiled once per table, column list and condition."""
    cache_key = (table.name, names, columns, _text_of(where), returning)
    if cache_key not in _SQLITE_STATEMENTS:
        # Compiled apart from any engine: the engine's JSON serializer (orjson) named again.
        dialect = sqlite.dialect(json_serializer=json_text)
        key = _key(table)
        native = sqlite.insert(table).values({name: bindparam(name) for name in names})
        if not returning:
            statement = native
        elif columns and where is not None:
            statement = _filling(native, key, columns, where)
        else:
            statement = native.on_conflict_do_nothing(index_elements=[key]).returning(key)
        compiled = statement.compile(dialect=dialect)
        assert list(compiled.positiontup or ()) == list(names), "parameters in column order"
        one_row = "(" + ", ".join("?" * len(names)) + ")"
        head, found, tail = compiled.string.partition(" VALUES " + one_row)
        assert found, f"no single VALUES row in {compiled.string!r}"
        processors = [_sqlite_processor(table.c[name].type, dialect) for name in names]
        _SQLITE_STATEMENTS[cache_key] = ((head + " VALUES ", one_row, tail), processors)
    return _SQLITE_STATEMENTS[cache_key]


# Each condition's text by the condition's identity, the condition kept with it so that its id
# is not another's meanwhile: rendering it anew for every statement cost a small batch's
# write more than the rest of finding its statement.
_CONDITION_TEXTS: dict[int, tuple[ColumnElement[bool], str]] = {}
_CONDITIONS_KEPT = 256


def _text_of(where: ColumnElement[bool] | None) -> str | None:
    if where is None:
        return None
    known = _CONDITION_TEXTS.get(id(where))
    if known is None or known[0] is not where:
        if len(_CONDITION_TEXTS) >= _CONDITIONS_KEPT:
            _CONDITION_TEXTS.clear()  # a caller making a new condition each time
        known = (where, str(where))
        _CONDITION_TEXTS[id(where)] = known
    return known[1]


def _sqlite_processor(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The type's bind processor; for an instant the same text SQLAlchemy's SQLite
    ``DATETIME`` writes (``2026-03-01 10:00:00.000000``), by ``isoformat`` in C rather
    than its ``%`` formatting, the costliest part of a verdict's row."""
    if not isinstance(column_type, UtcDateTime):
        return column_type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]
    naive_utc = column_type.process_bind_param

    def instant(value: datetime | None) -> str | None:
        if value is None:
            return None
        stored = naive_utc(value, dialect)
        assert stored is not None
        return stored.isoformat(" ", "microseconds")

    return instant


def _fill_by_copy(
    connection: Connection,
    table: Table,
    rows: Sequence[Row],
    *,
    columns: Collection[str],
    where: ColumnElement[bool],
) -> set[Any]:
    """``insert_or_fill`` on PostgreSQL: the rows by COPY into a temporary table made for this
    call (a failure rolls it back with the rest), then one upsert from it in key order."""
    key = _key(table)
    names = list(rows[0])
    staging = table.name + "_staged"
    quote = connection.dialect.identifier_preparer.quote
    listed = ", ".join(map(quote, names))
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {quote(staging)} AS"
        f" SELECT {listed} FROM {quote(table.name)} WITH NO DATA"
    )
    _copy(connection, f"COPY {quote(staging)} ({listed}) FROM STDIN", table, names, rows)
    staged = table_clause(staging, *map(column, names))
    source = select(*staged.c).order_by(staged.c[key.name])
    native = postgresql.insert(table).from_select(names, source)
    filled = set(connection.execute(_filling(native, key, columns, where)).scalars())
    connection.exec_driver_sql(f"DROP TABLE {quote(staging)}")
    return filled


def _copy(
    connection: Connection, statement: str, table: Table, names: list[str], rows: Sequence[Row]
) -> None:
    """Stream the rows through the driver's COPY, each value bound as its column's type binds
    it (naive UTC instants, JSON), and its errors raised as SQLAlchemy's, so a dropped
    connection is still told from a broken row."""
    dialect = connection.dialect
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    driver = connection.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copying:  # type: ignore[union-attr]
            for row in rows:
                copying.write_row(
                    [
                        row[name] if process is None else process(row[name])
                        for name, process in zip(names, processors, strict=True)
                    ]
                )
    except dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(
            statement,
            None,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=dialect.is_disconnect(error, driver, None),
            dialect=dialect,
        ) from error


def _stored_keys(executor: Executor, key: Column[Any], keys: Sequence[Any]) -> set[Any]:
    stored: set[Any] = set()
    for chunk in chunks(keys):
        stored.update(executor.execute(select(key).where(key.in_(chunk))).scalars())
    return stored


def add_counts(
    executor: Executor,
    table: Table,
    key: Sequence[str],
    counts: Sequence[str],
    rows: list[Row],
    dialect: str,
) -> None:
    """Add each row's ``counts`` to the row of the same ``key`` (created where there is
    none): one ``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`` for the batch on
    SQLite and PostgreSQL, so any number of writers sharing a key add up; elsewhere an update
    per row and an insert where it found none (a path off the supported backends)."""
    if not rows:
        return
    if dialect in NATIVE_DIALECTS:
        native = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
        statement = native.on_conflict_do_update(
            index_elements=list(key),
            set_={name: table.c[name] + native.excluded[name] for name in counts},
        )
        executor.execute(statement, rows)
        return
    for row in rows:
        added = executor.execute(
            update(table)
            .where(*(table.c[k] == row[k] for k in key))
            .values({name: table.c[name] + row[name] for name in counts})
        )
        if not added.rowcount:  # type: ignore[attr-defined]
            executor.execute(insert(table).values(row))
