"""Backups of the store: a file that holds the whole database at one instant, and its restore.

A backup is taken while the service runs (the store's own online copy: SQLite's backup
of a WAL database, ``pg_dump``'s snapshot), so it holds every decision committed before it
began and nothing half written. A restore replaces the whole database in one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Backup:
    """A backup file: the engine it is for, the schema revision it was taken at (None: a
    database never migrated), its size and, where it was just taken, how long that took."""

    path: Path
    engine: str
    revision: str | None
    size_bytes: int
    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class DatabaseState:
    """What a restore would replace: other sessions connected (a running service), the rows
    its tables hold (the schema's own bookkeeping aside), and its schema revision."""

    engine: str
    sessions: int
    rows: int
    transactions: int
    revision: str | None

    @property
    def in_use(self) -> bool:
        return self.sessions > 0


class BackupUnreadable(ValueError):
    """A file that is not a backup this store can read: names the file and why."""


class BackupFailed(RuntimeError):
    """A backup or restore the store's tools could not complete (a tool missing, refused
    credentials, a full disk): says which tool and why; the database is as it was."""


class DatabaseBackups(Protocol):
    """Backups of the configured database."""

    engine: str

    def backup(self, path: Path) -> Backup:
        """Write a consistent copy of the database to ``path`` (which must not exist) while
        others keep writing; the file appears whole or not at all, readable by its owner
        alone."""

    def read(self, path: Path) -> Backup:
        """What ``path`` holds, without restoring it; :class:`BackupUnreadable` if it is not
        a backup of this engine."""

    def state(self) -> DatabaseState:
        """The database a restore would replace."""

    def restore(self, path: Path) -> DatabaseState:
        """Replace the whole database with the backup at ``path``, in one transaction: on a
        failure the database is as it was. Returns the database as restored."""
