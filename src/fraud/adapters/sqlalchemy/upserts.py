"""Batch writes keyed by primary key: insert-if-missing and insert-or-fill.

Each is one statement executed once for the whole batch (an ``executemany``),
never a statement per row: that is what keeps the record stage at hundreds of
thousands of rows a second. SQLite and PostgreSQL get their native
``INSERT ... ON CONFLICT``; any other backend gets a portable two-statement
fallback that is correct inside one transaction but may raise an
``IntegrityError`` when two writers race on the same new key.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

Executor = Connection | Session
Row = dict[str, Any]

NATIVE_DIALECTS = ("sqlite", "postgresql")

# Under every backend's bound-parameter limit (SQLite before 3.32 allowed 999).
IN_CLAUSE_CHUNK = 900


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
    if dialect in NATIVE_DIALECTS:
        native = sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)
        statement = native.on_conflict_do_nothing(index_elements=[key]).returning(key)
        return set(executor.execute(statement, list(rows)).scalars())
    stored = _stored_keys(executor, key, [row[key.name] for row in rows])
    missing = [row for row in rows if row[key.name] not in stored]
    if missing:
        executor.execute(insert(table), missing)
    return {row[key.name] for row in missing}


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
    if dialect in NATIVE_DIALECTS:
        native = sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)
        statement = native.on_conflict_do_update(
            index_elements=[key],
            set_={name: native.excluded[name] for name in columns},
            where=where,
        ).returning(key)
        return set(executor.execute(statement, list(rows)).scalars())
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


def _stored_keys(executor: Executor, key: Column[Any], keys: Sequence[Any]) -> set[Any]:
    stored: set[Any] = set()
    for chunk in chunks(keys):
        stored.update(executor.execute(select(key).where(key.in_(chunk))).scalars())
    return stored
