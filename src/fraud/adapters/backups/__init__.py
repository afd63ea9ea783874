"""Backups of the store: SQLite's online backup and PostgreSQL's pg_dump and pg_restore."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from fraud.adapters.backups.postgres import PostgresBackups
from fraud.adapters.backups.sqlite import SqliteBackups
from fraud.domain.ports.backups import DatabaseBackups


def backups_for(url: str) -> DatabaseBackups:
    """The backups of the database at ``url``: SQLite or PostgreSQL."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return SqliteBackups(url)
    if backend == "postgresql":
        return PostgresBackups(url)
    raise ValueError(f"backups work on SQLite and PostgreSQL, not {backend}")


__all__ = ["PostgresBackups", "SqliteBackups", "backups_for"]
