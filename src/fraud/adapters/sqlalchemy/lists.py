"""Value lists on SQLAlchemy Core: each list with its version, its entries, and its changes
by version.

A change first takes the list's next version with ``UPDATE ... SET version = version + 1``,
which holds the list's row until the transaction ends: a second change of the same list
waits, so a list's changes commit in the order of their versions, and a worker that
applied version 7 reads everything after it with ``version > 7``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.repository import Executor, dialect_of, fetch
from fraud.adapters.sqlalchemy.tables import list_changes, list_entries, value_lists
from fraud.adapters.sqlalchemy.upserts import insert_missing
from fraud.domain.lists import ListChange, ListEntry, ValueList

# What adding a value already listed replaces: its expiry, and who listed it when and why.
_REPLACED = ("expires_at", "added_at", "added_by", "reason")


def _live(at: datetime) -> Any:
    return or_(list_entries.c.expires_at.is_(None), list_entries.c.expires_at > at)


def to_list(row: Mapping[str, Any], entries: int = 0) -> ValueList:
    return ValueList(
        row["name"], row["field"], row["description"], row["created_by"], row["created_at"], entries
    )


def to_entry(row: Mapping[str, Any]) -> ListEntry:
    return ListEntry(
        row["value"], row["added_by"], row["added_at"], row["reason"], row["expires_at"]
    )


class SqlListRepository:
    """The ``ListRepository`` port, written on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def create(self, value_list: ValueList) -> bool:
        row = {
            "name": value_list.name,
            "field": value_list.field,
            "description": value_list.description,
            "version": 0,
            "created_at": value_list.created_at,
            "created_by": value_list.created_by,
        }
        with transient_errors_translated():
            dialect = dialect_of(self._executor)
            return bool(insert_missing(self._executor, value_lists, [row], dialect))

    def get(self, name: str) -> ValueList | None:
        rows = fetch(self._executor, select(value_lists).where(value_lists.c.name == name))
        return to_list(rows[0]) if rows else None

    def live_entries(self, name: str, at: datetime) -> int:
        statement = select(func.count()).where(list_entries.c.list == name, _live(at))
        with transient_errors_translated():
            return int(self._executor.execute(statement).scalar() or 0)

    def add(self, name: str, entry: ListEntry) -> int:
        version = self._next_version(name)
        row = {
            "list": name,
            "value": entry.value,
            "expires_at": entry.expires_at,
            "added_at": entry.added_at,
            "added_by": entry.added_by,
            "reason": entry.reason,
        }
        native = (sqlite.insert if dialect_of(self._executor) == "sqlite" else postgresql.insert)(
            list_entries
        )
        upsert = native.values(row).on_conflict_do_update(
            index_elements=["list", "value"],
            set_={column: native.excluded[column] for column in _REPLACED},
        )
        with transient_errors_translated():
            self._executor.execute(upsert)
            change = ListChange(name, version, entry.value, False, entry.expires_at)
            self._change(change, entry.added_by, entry.added_at)
        return version

    def remove(self, name: str, value: str, by: str, at: datetime) -> int | None:
        held = (list_entries.c.list == name) & (list_entries.c.value == value)
        with transient_errors_translated():
            if not self._executor.execute(select(func.count()).where(held)).scalar():
                return None
        version = self._next_version(name)
        with transient_errors_translated():
            self._executor.execute(delete(list_entries).where(held))
            self._change(ListChange(name, version, value, True), by, at)
        return version

    def _next_version(self, name: str) -> int:
        statement = (
            update(value_lists)
            .where(value_lists.c.name == name)
            .values(version=value_lists.c.version + 1)
            .returning(value_lists.c.version)
        )
        with transient_errors_translated():
            return int(self._executor.execute(statement).scalar_one())

    def _change(self, change: ListChange, by: str, at: datetime) -> None:
        self._executor.execute(
            insert(list_changes).values(
                list=change.list_name,
                version=change.version,
                value=change.value,
                removed=change.removed,
                expires_at=change.expires_at,
                at=at,
                by=by,
            )
        )


class SqlListQueries:
    """The ``ListQueries`` port on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def lists(self, at: datetime) -> list[ValueList]:
        counts = (
            select(list_entries.c.list, func.count()).where(_live(at)).group_by(list_entries.c.list)
        )
        with transient_errors_translated(), self._engine.connect() as connection:
            live = {name: int(count) for name, count in connection.execute(counts)}
            rows = fetch(connection, select(value_lists).order_by(value_lists.c.name))
        return [to_list(row, live.get(row["name"], 0)) for row in rows]

    def value_list(self, name: str, at: datetime) -> ValueList | None:
        with transient_errors_translated(), self._engine.connect() as connection:
            lists = SqlListRepository(connection)
            found = lists.get(name)
            return None if found is None else replace(found, entries=lists.live_entries(name, at))

    def entries(self, name: str, limit: int) -> list[ListEntry]:
        statement = (
            select(list_entries)
            .where(list_entries.c.list == name)
            .order_by(list_entries.c.added_at.desc(), list_entries.c.value)
            .limit(limit)
        )
        with transient_errors_translated(), self._engine.connect() as connection:
            return [to_entry(row) for row in fetch(connection, statement)]

    def versions(self) -> dict[str, int]:
        with transient_errors_translated(), self._engine.connect() as connection:
            statement = select(value_lists.c.name, value_lists.c.version)
            return {name: int(version) for name, version in connection.execute(statement)}

    def snapshot(self, name: str, at: datetime) -> tuple[int, list[ListEntry]]:
        version_of = select(value_lists.c.version).where(value_lists.c.name == name)
        entries = select(list_entries).where(list_entries.c.list == name, _live(at))
        with transient_errors_translated(), self._engine.connect() as connection:
            version = connection.execute(version_of).scalar() or 0
            return int(version), [to_entry(row) for row in fetch(connection, entries)]

    def changes(self, name: str, after: int) -> list[ListChange]:
        statement = (
            select(list_changes)
            .where(list_changes.c.list == name, list_changes.c.version > after)
            .order_by(list_changes.c.version)
        )
        with transient_errors_translated(), self._engine.connect() as connection:
            rows = fetch(connection, statement)
        return [
            ListChange(row["list"], row["version"], row["value"], row["removed"], row["expires_at"])
            for row in rows
        ]
