"""Restoring the database from a backup, with the checks that keep a restore from doing harm.

A restore replaces everything: a database a running service uses, or one holding rows,
is replaced only when the operator says so (``force``), and a backup from a schema this
code does not know (taken by newer code) is refused, since ``fraud db upgrade`` could not
bring it to this code's schema. A backup from an older schema is restored as it was taken;
the caller is told to run the migrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from fraud.domain.ports.backups import Backup, DatabaseBackups, DatabaseState

log = structlog.get_logger(__name__)


class RestoreRefused(Exception):
    """A restore that would do harm, or cannot work: says why and what to do instead."""


@dataclass(frozen=True, slots=True)
class Restored:
    backup: Backup
    replaced: DatabaseState
    restored: DatabaseState
    head: str | None

    @property
    def needs_upgrade(self) -> bool:
        """Whether the restored schema is older than this code's: `fraud db upgrade` next."""
        return self.restored.revision != self.head


def restore_database(
    backups: DatabaseBackups,
    path: Path,
    revisions: Sequence[str],
    *,
    force: bool = False,
) -> Restored:
    """Restore ``path`` over the database; ``revisions`` are this code's migrations in order."""
    backup = backups.read(path)
    if backup.engine != backups.engine:
        raise RestoreRefused(
            f"{path} is a {backup.engine} backup; the database is {backups.engine}: "
            f"restore it into a {backup.engine} database"
        )
    if backup.revision is not None and backup.revision not in revisions:
        raise RestoreRefused(
            f"{path} was taken at schema revision {backup.revision}, which this code does not "
            f"know (its newest is {revisions[-1] if revisions else 'none'}): restore it with "
            "the version of fraud that took it"
        )
    target = backups.state()
    if not force:
        if target.in_use:
            raise RestoreRefused(
                f"the database is in use ({target.sessions} other connection"
                f"{'s' if target.sessions != 1 else ''}): stop the service and its workers "
                "first, or restore with --force"
            )
        if target.rows:
            raise RestoreRefused(
                f"the database is not empty ({target.transactions} transactions, "
                f"{target.rows} rows in all): restore into an empty database, or replace "
                "this one with --force"
            )
    restored = backups.restore(path)
    log.info(
        "database restored",
        backup=str(path),
        revision=restored.revision,
        transactions=restored.transactions,
        replaced_rows=target.rows,
        forced=force,
    )
    return Restored(backup, target, restored, revisions[-1] if revisions else None)
