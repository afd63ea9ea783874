"""Appending rows a unique constraint may already hold: ``INSERT ... ON CONFLICT DO NOTHING``
for a whole batch in one statement (a case per transaction, a delivery per event and
subscription), so writing the same again writes nothing.

On SQLite the statement is compiled once per table and column list and handed to the driver
with each row's values bound by its column's own processor: SQLAlchemy's ``executemany``
builds and processes a parameter dictionary per row, which cost the record stage more than
the rows themselves (measured by ``benchmarks/case_cost.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from fraud.adapters.sqlalchemy.engine import json_text
from fraud.adapters.sqlalchemy.upserts import Executor, chunks, connection_of
from fraud.adapters.sqlalchemy.upserts import _sqlite_processor as sqlite_processor

Row = dict[str, Any]

_COMPILED: dict[tuple[str, tuple[str, ...]], tuple[str, list[Callable[[Any], Any] | None]]] = {}


def insert_new(
    executor: Executor, table: Table, rows: Sequence[Row], dialect: str, unique: Sequence[str]
) -> None:
    """Insert each row unless one with its values of the ``unique`` columns is stored."""
    if not rows:
        return
    if dialect == "sqlite":
        _on_sqlite(executor, table, rows)
    elif dialect == "postgresql":
        native = postgresql.insert(table)
        executor.execute(native.on_conflict_do_nothing(index_elements=list(unique)), list(rows))
    else:  # no portable "ignore the duplicate": read which are stored, insert the others
        columns = [table.c[name] for name in unique]
        wanted = {tuple(row[name] for name in unique) for row in rows}
        stored = {
            tuple(found)
            for found in executor.execute(select(*columns).where(tuple_(*columns).in_(wanted)))
        }
        missing = [row for row in rows if tuple(row[name] for name in unique) not in stored]
        if missing:
            executor.execute(insert(table), missing)


def _on_sqlite(executor: Executor, table: Table, rows: Sequence[Row]) -> None:
    connection = connection_of(executor)
    names = tuple(rows[0])
    sql, processors = _statement(table, names)
    values = [
        tuple(
            value if process is None else process(value)
            for value, process in zip(row.values(), processors, strict=True)
        )
        for row in rows
    ]
    for chunk in chunks(values, 1_000):
        connection.exec_driver_sql(sql, list(chunk))


def _statement(
    table: Table, names: tuple[str, ...]
) -> tuple[str, list[Callable[[Any], Any] | None]]:
    key = (table.name, names)
    if key not in _COMPILED:
        dialect = sqlite.dialect(json_serializer=json_text)
        native = sqlite.insert(table).values({name: bindparam(name) for name in names})
        compiled = native.on_conflict_do_nothing().compile(dialect=dialect)
        assert list(compiled.positiontup or ()) == list(names), "parameters in column order"
        # The upserts' processors: an instant is written by ``isoformat``, in C.
        processors = [sqlite_processor(table.c[name].type, dialect) for name in names]
        _COMPILED[key] = (compiled.string, processors)
    return _COMPILED[key]
