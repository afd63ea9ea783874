"""Value lists: making them and changing their entries (every change audited), and the copy
each scoring worker holds, which rules read as ``lists.NAME``.

A worker's copy is a dictionary per list (value to expiry), so a membership costs the same
whatever the list's size. It looks at the lists' versions at most once a second, and reads
only the changes after the version it holds, so an entry added is in force on every worker
within about a second of being committed, however long the lists are.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from fraud.application.identity import list_event
from fraud.domain.errors import TransientFailure
from fraud.domain.identity import Actor, AuditAction
from fraud.domain.lists import (
    MAX_ENTRIES,
    ListChange,
    ListEntry,
    ListExists,
    ListFull,
    NewEntry,
    NewList,
    UnknownEntry,
    UnknownList,
    ValueList,
)
from fraud.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from fraud.domain.ports.lists import ListQueries

log = structlog.get_logger(__name__)

MAX_SHOWN = 1_000


class ManageLists:
    """Make lists, add and remove entries, read them; each change is a version of its list
    and a line in the audit log."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        queries: ListQueries,
        clock: Clock,
        cap: int = MAX_ENTRIES,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queries = queries
        self.clock = clock
        self.cap = cap

    def lists(self) -> list[ValueList]:
        return self.queries.lists(self.clock.now())

    def show(self, name: str, limit: int = MAX_SHOWN) -> tuple[ValueList, list[ListEntry]]:
        found = self.queries.value_list(name, self.clock.now())
        if found is None:
            raise UnknownList(name)
        return found, self.queries.entries(name, limit)

    def create(self, request: NewList, by: Actor) -> ValueList:
        made = ValueList(
            request.name, request.field, request.description, by.subject, self.clock.now()
        )
        with self.unit_of_work() as uow:
            if not uow.lists.create(made):
                raise ListExists(request.name)
            detail = f"of {made.field}" + (f": {made.description}" if made.description else "")
            uow.audit.append(
                [list_event(by, AuditAction.LIST_CREATED, made.name, made.created_at, detail)]
            )
            uow.commit()
        log.info("list created", list=made.name, field=made.field, by=by.subject)
        return made

    def add(self, name: str, request: NewEntry, by: Actor) -> ListEntry:
        with self.unit_of_work() as uow:
            entry = self.add_in(uow, name, request, by)
            uow.commit()
        return entry

    def add_in(self, uow: UnitOfWork, name: str, request: NewEntry, by: Actor) -> ListEntry:
        """Add an entry in the caller's unit of work (a case lists its card as it is worked)."""
        now = self.clock.now()
        if uow.lists.get(name) is None:
            raise UnknownList(name)
        held = uow.lists.live_entries(name, now)
        if held >= self.cap:
            raise ListFull(name, held, self.cap)
        entry = ListEntry(request.value, by.subject, now, request.reason, request.expires_at(now))
        version = uow.lists.add(name, entry)
        until = (
            "until removed"
            if entry.expires_at is None
            else f"until {entry.expires_at.isoformat(timespec='seconds')}"
        )
        detail = f"{entry.value} {until}: {entry.reason}"
        uow.audit.append([list_event(by, AuditAction.LIST_ENTRY_ADDED, name, now, detail)])
        log.info("list entry added", list=name, version=version, by=by.subject)
        return entry

    def remove(self, name: str, value: str, by: Actor) -> None:
        now = self.clock.now()
        with self.unit_of_work() as uow:
            if uow.lists.get(name) is None:
                raise UnknownList(name)
            version = uow.lists.remove(name, value, by.subject, now)
            if version is None:
                raise UnknownEntry(name, value)
            uow.audit.append([list_event(by, AuditAction.LIST_ENTRY_REMOVED, name, now, value)])
            uow.commit()
        log.info("list entry removed", list=name, version=version, by=by.subject)


class LiveLists:
    """The lists as a scoring worker holds them: each a dictionary of value to expiry (in
    seconds since the epoch; infinity for none), brought up to date by :meth:`refresh`."""

    def __init__(
        self,
        queries: ListQueries,
        refresh_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.queries = queries
        self.refresh_s = refresh_s
        self.monotonic = monotonic
        self.wall = wall
        self._lists: dict[str, dict[str, float]] = {}
        self._versions: dict[str, int] = {}
        self._checked = float("-inf")
        # The scoring thread refreshes; a request checking or trying a rule catches up too:
        # one at a time. Look-ups never wait (a dictionary read while another thread writes
        # one entry sees it before or after).
        self._catching_up = threading.Lock()

    def refresh(self) -> None:
        """Apply what changed since the last look, looking at most every ``refresh_s``. Until
        the lists have been read once a storage failure is raised (``TransientFailure``: no
        batch is scored without the lists in force); after that, the copy in hand stays."""
        now = self.monotonic()
        if now - self._checked < self.refresh_s:
            return
        try:
            self._up_to_date()
        except TransientFailure as failure:
            if self._checked == float("-inf"):
                raise
            log.warning("lists could not be read; the copy in hand stays", error=str(failure))
        self._checked = now

    def _up_to_date(self) -> frozenset[str]:
        with self._catching_up:
            versions = self.queries.versions()
            for name, version in versions.items():
                if version != self._versions.get(name):
                    self._catch_up(name)
        return frozenset(versions)

    def _catch_up(self, name: str) -> None:
        entries = self._lists.get(name)
        if entries is None:
            at = datetime.fromtimestamp(self.wall(), UTC)
            version, held = self.queries.snapshot(name, at)
            entries = {entry.value: _expiry(entry.expires_at) for entry in held}
            self._lists[name] = entries
            self._versions[name] = version
            log.info("list loaded", list=name, version=version, entries=len(entries))
        for change in self.queries.changes(name, self._versions[name]):
            self._apply(entries, change)
            self._versions[name] = change.version

    @staticmethod
    def _apply(entries: dict[str, float], change: ListChange) -> None:
        if change.removed:
            entries.pop(change.value, None)
        else:
            entries[change.value] = _expiry(change.expires_at)

    def contains(self, name: str, value: object) -> bool:
        entries = self._lists.get(name)
        if entries is None:
            return False
        expiry = entries.get(value if isinstance(value, str) else str(value))
        return expiry is not None and expiry > self.wall()

    def names(self) -> frozenset[str]:
        """The lists as stored now (a rule is checked against them), this copy brought up to
        date with them (a rule tried at once reads what was just added)."""
        return self._up_to_date()


def _expiry(at: datetime | None) -> float:
    return math.inf if at is None else at.timestamp()
