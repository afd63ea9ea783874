"""Which archive key a process signs and checks model archives with.

A configured key (``FRAUD_ARCHIVE_KEY`` or ``FRAUD_ARCHIVE_KEY_FILE``) always. Without one,
only a single-host setup has a key: the embedded bus and a SQLite file, where every
process of the service runs on the machine that holds the database, keeps it in
``archive.key`` beside that file (``var/archive.key`` by default), and ``fraud run`` alone
makes it on its first start. A deployment (Kafka, or a database server) is never given a
key of a host's own: workers on other machines check what the registry holds, so every
host must be given the same one.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

import structlog
from sqlalchemy.engine import make_url

from fraud.domain.errors import ArchiveKeyUnavailable, NoLocalArchiveKeyYet
from fraud.settings import ARCHIVE_KEY_BYTES, ARCHIVE_KEY_RULE, Secret, archive_key_bytes

log = structlog.get_logger(__name__)

LOCAL_KEY_FILE = "archive.key"


def archive_key(
    configured: Secret | None, database_url: str, broker: str, *, create: bool = False
) -> bytes:
    """The key to use; ``create``: make the single-host key file when there is none yet
    (`fraud run`'s first start)."""
    if configured is not None:
        return bytes.fromhex(configured.reveal())
    path = local_key_path(database_url, broker)
    if path is None:
        raise ArchiveKeyUnavailable(
            "FRAUD_ARCHIVE_KEY is not set: this command signs or checks model archives, and "
            "a deployment (FRAUD_BROKER=kafka, or a database other than a SQLite file) is "
            "given the one archive key all its hosts share, as FRAUD_ARCHIVE_KEY or "
            "FRAUD_ARCHIVE_KEY_FILE (a new deployment makes one with: python -c 'import "
            "secrets; print(secrets.token_hex(32))')"
        )
    key = read_local_key(path)
    if key is None and create:
        key = make_local_key(path)
    if key is None:
        raise NoLocalArchiveKeyYet(
            f"no archive key: FRAUD_ARCHIVE_KEY is not set and {path} does not exist yet: "
            "`fraud run` makes it on its first start"
        )
    return key


def local_key_path(database_url: str, broker: str) -> Path | None:
    """Where a single-host setup keeps its key: beside its SQLite file, so the key goes
    with the registry it signs whatever folder a command runs from; None for a
    deployment, or a database with no file (in memory)."""
    if broker != "memory":
        return None
    url = make_url(database_url)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename
        return None
    return Path(database).expanduser().parent / LOCAL_KEY_FILE


def read_local_key(path: Path) -> bytes | None:
    """The key in ``path``; None when there is no such file. A link, another user's file,
    one others may read or one that holds no key is refused: it could be anyone's key."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ArchiveKeyUnavailable(
                f"{path} is a symbolic link: the archive key file must be a file of its own"
            ) from None
        raise ArchiveKeyUnavailable(f"cannot read {path} ({error.strerror})") from None
    with os.fdopen(descriptor, "rb") as file:
        status = os.fstat(file.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise ArchiveKeyUnavailable(f"{path} is not a file: it cannot hold the archive key")
        if status.st_uid != os.geteuid():
            raise ArchiveKeyUnavailable(
                f"{path} belongs to another user: the archive key must be the service's own"
            )
        if status.st_mode & 0o077:
            raise ArchiveKeyUnavailable(
                f"{path} may be read or changed by others (mode "
                f"{stat.S_IMODE(status.st_mode):04o}): `chmod 600 {path}`, and make a new "
                "key if others may have read it"
            )
        text = file.read(4096).decode("ascii", "replace")
    key = archive_key_bytes(text)
    if key is None:
        raise ArchiveKeyUnavailable(f"{path}: {ARCHIVE_KEY_RULE}")
    return key


def make_local_key(path: Path) -> bytes:
    """A new random key in ``path`` (0600, in a folder made 0700 if it is new), created
    only if no file or link is there: if another process made one first, it is that one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(ARCHIVE_KEY_BYTES)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        existing = read_local_key(path)
        if existing is None:  # removed again in between: nothing sane to do but say so
            raise ArchiveKeyUnavailable(f"{path} came and went while it was made") from None
        return existing
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(key.hex() + "\n")
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        path.unlink(missing_ok=True)  # never leave a half-written key to be read later
        raise
    log.info("archive key made", path=str(path))  # where, never what
    return key
