"""Batch writes keyed by primary key: insert-if-missing and insert-or-replace.

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

from sqlalchemy import Column, Table, bindparam, insert, select, update
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


def insert_missing(executor: Executor, table: Table, rows: Sequence[Row], dialect: str) -> None:
    """Insert the rows whose key is not stored yet; stored rows stay untouched."""
    if not rows:
        return
    key = _key(table)
    if dialect in NATIVE_DIALECTS:
        native = sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)
        executor.execute(native.on_conflict_do_nothing(index_elements=[key]), list(rows))
        return
    stored: set[Any] = set()
    for keys in chunks([row[key.name] for row in rows]):
        stored.update(executor.execute(select(key).where(key.in_(keys))).scalars())
    missing = [row for row in rows if row[key.name] not in stored]
    if missing:
        executor.execute(insert(table), missing)


def insert_or_replace(
    executor: Executor,
    table: Table,
    rows: Sequence[Row],
    dialect: str,
    *,
    keep: Collection[str] = (),
) -> None:
    """Insert each row, or overwrite the stored row with the same key.

    Every column is overwritten except those named in ``keep``, which a stored
    row holds on to (a new row is inserted with them as given).
    """
    if not rows:
        return
    key = _key(table)
    replaced = [c.name for c in table.columns if c.name != key.name and c.name not in keep]
    if dialect in NATIVE_DIALECTS:
        native = sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)
        replace_all = {name: native.excluded[name] for name in replaced}
        statement = native.on_conflict_do_update(index_elements=[key], set_=replace_all)
        executor.execute(statement, list(rows))
        return
    stored: set[Any] = set()
    for keys in chunks([row[key.name] for row in rows]):
        stored.update(executor.execute(select(key).where(key.in_(keys))).scalars())
    existing = [row for row in rows if row[key.name] in stored]
    if existing:
        statement = (
            update(table)
            .where(key == bindparam("_replaced_key"))
            .values({name: bindparam(f"_new_{name}") for name in replaced})
        )
        executor.execute(
            statement,
            [
                {"_replaced_key": row[key.name], **{f"_new_{n}": row[n] for n in replaced}}
                for row in existing
            ],
        )
    missing = [row for row in rows if row[key.name] not in stored]
    if missing:
        executor.execute(insert(table), missing)
