"""Backup files: written aside and published whole, owner-only, never over another file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from fraud.domain.ports.backups import BackupUnreadable

# The first bytes of each engine's backup: a SQLite database file, a pg_dump archive.
MAGIC = {b"SQLite format 3\x00": "sqlite", b"PGDMP": "postgresql"}


def engine_of(path: Path) -> str:
    """Which engine's backup ``path`` is, from its first bytes."""
    try:
        with path.open("rb") as file:
            start = file.read(16)
    except FileNotFoundError:
        raise BackupUnreadable(f"{path}: no such file") from None
    except OSError as error:
        raise BackupUnreadable(f"{path}: cannot be read ({error.strerror})") from None
    for magic, engine in MAGIC.items():
        if start.startswith(magic):
            return engine
    raise BackupUnreadable(f"{path} is neither a SQLite backup nor a pg_dump archive")


@contextlib.contextmanager
def written_aside(path: Path) -> Iterator[Path]:
    """A new, empty 0600 file beside ``path`` to write the backup into; published as
    ``path`` once the block ends (flushed to disk first), removed if it fails. The backup
    holds password hashes and every transaction: no other account may read it, even while
    it is being written, and a crash never leaves a half backup under the final name."""
    if path.exists():
        raise FileExistsError(f"{path} exists: give a new file name (a backup never replaces one)")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        yield partial
        _flush(partial)
        os.link(partial, path)  # unlike a rename, fails rather than replace a file made since
        _flush(path.parent)
    finally:
        partial.unlink(missing_ok=True)


def _flush(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
