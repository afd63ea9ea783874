"""`fraud db backup` and `fraud db restore`: the whole database to a file and back.

The procedure around them (when to stop what, how to check a restore) is in
docs/runbooks/restore-database.md.
"""

from __future__ import annotations

from pathlib import Path

import click

from fraud.application.backups import Restored, RestoreRefused, restore_database
from fraud.domain.ports.backups import BackupFailed, BackupUnreadable
from fraud.entrypoints.cli.context import BadInput, CliContext, pass_context


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def db_backup(ctx: CliContext, file: Path) -> None:
    """Copy the database to FILE while the service runs (a new file, owner-only).

    SQLite: a SQLite database file, taken with SQLite's online backup; PostgreSQL: a
    pg_dump archive (custom format). Either holds every decision committed before the
    backup began.
    """
    try:
        backup = ctx.container.database_backups().backup(file)
    except (FileExistsError, FileNotFoundError, ValueError) as refused:
        raise BadInput(str(refused)) from None
    except BackupFailed as failure:
        raise click.ClickException(str(failure)) from None
    click.echo(
        f"backed up {ctx.settings.database_shown} (schema revision {backup.revision or 'none'}) "
        f"to {file}: {_size(backup.size_bytes)} in {backup.seconds or 0:.2f} s"
    )
    click.echo(f"restore it with: fraud db restore {file}")


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace a database that holds rows or that a running service has open.",
)
@pass_context
def db_restore(ctx: CliContext, file: Path, force: bool) -> None:
    """Replace the database with the backup in FILE, in one transaction.

    Refuses a database that is in use or not empty unless --force, and a backup from a
    schema this code does not know. A backup from an older schema is restored as it was
    taken: run `fraud db upgrade` next.
    """
    container = ctx.container
    try:
        restored = restore_database(
            container.database_backups(),
            file,
            container.migrator().revisions(),
            force=force,
        )
    except (RestoreRefused, BackupUnreadable, ValueError) as refused:
        raise BadInput(str(refused)) from None
    except BackupFailed as failure:
        raise click.ClickException(
            f"{failure}; the database is as it was before the restore"
        ) from None
    for line in _told(ctx, file, restored):
        click.echo(line)


def _told(ctx: CliContext, file: Path, restored: Restored) -> list[str]:
    """What the restore did, in the order an operator checks it."""
    replaced, now = restored.replaced, restored.restored
    lines = [
        f"restored {file} (a {restored.backup.engine} backup at schema revision "
        f"{restored.backup.revision or 'none'}) into {ctx.settings.database_shown}: "
        f"{now.transactions} transactions, {now.rows} rows in all"
    ]
    if replaced.rows:
        lines.append(
            f"replaced what the database held: {replaced.transactions} transactions, "
            f"{replaced.rows} rows in all"
        )
    if replaced.in_use:
        lines.append(
            f"{replaced.sessions} other connection(s) had the database open: restart the "
            "service and its workers so that nothing they cached outlives the restore"
        )
    if restored.needs_upgrade:
        lines.append(
            f"the schema is at revision {now.revision or 'none'}, this code's is "
            f"{restored.head}: run `fraud db upgrade` before starting the service"
        )
    else:
        lines.append(f"the schema is at this code's revision ({restored.head})")
    return lines


def _size(size_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    return f"{size_bytes} bytes"
