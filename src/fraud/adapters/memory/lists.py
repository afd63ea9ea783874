"""Value lists in memory: each list, its version, its entries and its changes, as the SQL
adapter keeps them."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime
from functools import partial

from fraud.adapters.memory.state import Staged, State
from fraud.domain.lists import ListChange, ListEntry, ValueList


def _create(state: State, value_list: ValueList) -> bool:
    if value_list.name in state.lists:
        return False
    state.lists[value_list.name] = value_list
    state.list_versions[value_list.name] = 0
    return True


def _next_version(state: State, name: str) -> int:
    version = state.list_versions[name] + 1
    state.list_versions[name] = version
    return version


def _add(state: State, name: str, entry: ListEntry) -> int:
    version = _next_version(state, name)
    state.list_entries[name, entry.value] = entry
    state.list_changes[name, version] = ListChange(
        name, version, entry.value, False, entry.expires_at
    )
    return version


def _remove(state: State, name: str, value: str) -> int | None:
    if state.list_entries.pop((name, value), None) is None:
        return None
    version = _next_version(state, name)
    state.list_changes[name, version] = ListChange(name, version, value, True)
    return version


def _live(state: State, name: str, at: datetime) -> int:
    return sum(
        1
        for (listed, _), entry in state.list_entries.items()
        if listed == name and entry.live_at(at)
    )


class InMemoryListRepository:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def create(self, value_list: ValueList) -> bool:
        return bool(self._staged.write(partial(_create, value_list=value_list)))

    def get(self, name: str) -> ValueList | None:
        return self._staged.state.lists.get(name)

    def live_entries(self, name: str, at: datetime) -> int:
        return _live(self._staged.state, name, at)

    def add(self, name: str, entry: ListEntry) -> int:
        version = self._staged.write(partial(_add, name=name, entry=entry))
        assert isinstance(version, int)
        return version

    def remove(self, name: str, value: str, by: str, at: datetime) -> int | None:
        version = self._staged.write(partial(_remove, name=name, value=value))
        assert version is None or isinstance(version, int)
        return version


class InMemoryListQueries:
    """The read side of lists, over the committed state (``self.state``)."""

    state: State
    lock: threading.Lock

    def lists(self, at: datetime) -> list[ValueList]:
        with self.lock:
            names = sorted(self.state.lists)
        return [found for name in names if (found := self.value_list(name, at)) is not None]

    def value_list(self, name: str, at: datetime) -> ValueList | None:
        with self.lock:
            found = self.state.lists.get(name)
            return None if found is None else replace(found, entries=_live(self.state, name, at))

    def entries(self, name: str, limit: int) -> list[ListEntry]:
        with self.lock:
            found = [e for (listed, _), e in self.state.list_entries.items() if listed == name]
        found.sort(key=lambda entry: (entry.added_at, entry.value), reverse=True)
        return found[:limit]

    def versions(self) -> dict[str, int]:
        with self.lock:
            return dict(self.state.list_versions)

    def snapshot(self, name: str, at: datetime) -> tuple[int, list[ListEntry]]:
        with self.lock:
            return self.state.list_versions.get(name, 0), [
                entry
                for (listed, _), entry in self.state.list_entries.items()
                if listed == name and entry.live_at(at)
            ]

    def changes(self, name: str, after: int) -> list[ListChange]:
        with self.lock:
            found = [
                change
                for (listed, version), change in self.state.list_changes.items()
                if listed == name and version > after
            ]
        return sorted(found, key=lambda change: change.version)
