"""Where value lists are kept: each list, its entries, and its changes in order (what the
scoring workers apply to the lists they hold in memory)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from fraud.domain.lists import ListChange, ListEntry, ValueList


class ListRepository(Protocol):
    """Lists, written on the caller's transaction. A change of a list takes its next
    version while holding the list's row, so one list's changes are committed in the order
    of their versions (what lets a worker read only those after the last it applied)."""

    def create(self, value_list: ValueList) -> bool:
        """Store a new list; False when its name is taken."""

    def get(self, name: str) -> ValueList | None:
        """The list (its entries not counted: see :meth:`live_entries`)."""

    def live_entries(self, name: str, at: datetime) -> int:
        """How many of its entries hold at ``at`` (what the cap counts)."""

    def add(self, name: str, entry: ListEntry) -> int:
        """Add the entry, or replace the one with its value (a new expiry, a new reason);
        returns the list's new version."""

    def remove(self, name: str, value: str, by: str, at: datetime) -> int | None:
        """Remove the entry with this value; the list's new version, or None when it held
        no such entry."""


class ListQueries(Protocol):
    def lists(self, at: datetime) -> list[ValueList]:
        """Every list, by name, each with its entries live at ``at`` counted."""

    def value_list(self, name: str, at: datetime) -> ValueList | None: ...

    def entries(self, name: str, limit: int) -> list[ListEntry]:
        """The list's entries, live or expired, latest added first."""

    def versions(self) -> dict[str, int]:
        """Each list's version: what a worker compares with those it applied."""

    def snapshot(self, name: str, at: datetime) -> tuple[int, list[ListEntry]]:
        """The list's version, then its entries live at ``at`` read after it: applying the
        changes after that version to those entries gives the list as it is."""

    def changes(self, name: str, after: int) -> list[ListChange]:
        """The list's changes with a version over ``after``, in order."""
