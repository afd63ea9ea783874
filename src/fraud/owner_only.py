"""Files and folders that only the service's own account may read: its database (password
hashes, the session-signing key, every transaction), the first start's credentials and
the folder they live in.

Folders the service creates are made 0700 and files 0600, whatever the umask. A file of
the service's that others can read already (made before this rule, or by hand) is
narrowed at start, with a warning naming the path; so is the state folder ``var/`` (where
the defaults keep everything, DESIGN.md). Other folders that exist already are left as
their owner made them: a database in ``/srv/fraud`` or a home folder may be shared on
purpose, and the files in it are owner-only anyway.

A file that carries secrets for a person to read once (:func:`write_owner_only`) is never
written through a symbolic link, a hard link, a file of another account or a folder
others may write in: each could hand the secrets to someone else.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

STATE_FOLDER = Path("var")  # relative, as the defaults: the folder the service runs in
FOLDER_MODE = 0o700
FILE_MODE = 0o600
_OTHERS = 0o077  # the group's and everyone's bits


class UnsafePath(PermissionError):
    """A path the service will not write secrets to; says which and why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"{path} {reason}")


def owner_only_folder(folder: Path) -> Path:
    """``folder``, made with every missing folder above it 0700. In the state folder, the
    state folder is narrowed to 0700 if it is wider."""
    missing: list[Path] = []
    current = folder
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for level in reversed(missing):
        level.mkdir(mode=FOLDER_MODE, exist_ok=True)  # another process may make it too
    if _inside(folder, STATE_FOLDER):
        narrow_state_folder()
    return folder


def narrow_state_folder() -> None:
    """``var/`` made 0700 if it exists and is wider (a warning names it). Not when it is a
    folder of the system's (``/var``, with the service started in ``/``) or another
    account's: those are not the service's to change."""
    try:
        folder = STATE_FOLDER.resolve(strict=True)
        status = folder.stat()
    except (FileNotFoundError, NotADirectoryError):
        return
    if folder.parent == folder.parent.parent or status.st_uid != os.geteuid():
        return
    if stat.S_ISDIR(status.st_mode) and status.st_mode & _OTHERS:
        _narrow(folder, status.st_mode)


def owner_only_file(path: Path) -> None:
    """``path`` made an empty 0600 file if there is none (so that what opens it next, such
    as SQLite, never creates it readable by others), and narrowed to 0600 if it is wider."""
    descriptor = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISREG(mode) and mode & _OTHERS:
            _narrow(path, mode, descriptor=descriptor)
    finally:
        os.close(descriptor)


def narrow_file(path: Path) -> None:
    """``path``, if it exists and others may read it, narrowed to owner-only."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode) and mode & _OTHERS:
        _narrow(path, mode)


def write_owner_only(path: Path, text: str) -> None:
    """``text`` as the whole of ``path``, a 0600 file of this account's (its folder made
    0700 if it is new); refused as :func:`refuse_unsafe` says, before anything is written.
    The file is opened without following a link (``O_NOFOLLOW``) and checked once open, so
    a link or file swapped in after a check is refused too."""
    owner_only_folder(path.parent)
    _refuse_shared_folder(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        descriptor = os.open(path, flags, FILE_MODE)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafePath(path, _LINK) from None
        if error.errno == errno.ENXIO:  # a FIFO no one reads
            raise UnsafePath(path, _NOT_A_FILE) from None
        raise
    try:
        _refuse_unsafe_file(path, os.fstat(descriptor))
        os.fchmod(descriptor, FILE_MODE)
        os.ftruncate(descriptor, 0)
        os.set_blocking(descriptor, True)
        with os.fdopen(descriptor, "w", encoding="utf-8", closefd=False) as file:
            file.write(text)
    finally:
        os.close(descriptor)


def refuse_unsafe(path: Path) -> None:
    """Raises :class:`UnsafePath` if ``path`` is no place for secrets: a symbolic link,
    anything but a regular file, a file of another account or with another hard link, or
    in a folder others may write in without the sticky bit (they could swap the file for a
    link). Creates and changes nothing."""
    if path.parent.exists():
        _refuse_shared_folder(path.parent)
    try:
        status = path.lstat()
    except FileNotFoundError:
        return
    _refuse_unsafe_file(path, status)


_LINK = "is a symbolic link; refusing to write secrets through it"
_NOT_A_FILE = "is not a regular file"


def _refuse_unsafe_file(path: Path, status: os.stat_result) -> None:
    if stat.S_ISLNK(status.st_mode):
        raise UnsafePath(path, _LINK)
    if not stat.S_ISREG(status.st_mode):
        raise UnsafePath(path, _NOT_A_FILE)
    if status.st_uid != os.geteuid():
        raise UnsafePath(path, "belongs to another account")
    if status.st_nlink != 1:
        raise UnsafePath(path, "has another hard link; refusing to write secrets through it")


def _refuse_shared_folder(folder: Path) -> None:
    mode = folder.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
        raise UnsafePath(
            folder,
            f"may be written by other accounts (mode {stat.S_IMODE(mode):04o}): another "
            "account could swap a file in it for a link; `chmod go-w` it or choose another",
        )


def _narrow(path: Path, mode: int, *, descriptor: int | None = None) -> None:
    owner_bits = FOLDER_MODE if stat.S_ISDIR(mode) else FILE_MODE
    was, now = f"{stat.S_IMODE(mode):04o}", f"{stat.S_IMODE(mode) & owner_bits:04o}"
    try:
        if descriptor is None:
            os.chmod(path, int(now, 8))
        else:
            os.fchmod(descriptor, int(now, 8))
    except PermissionError:
        log.warning(
            "other accounts may read this and this account cannot change it: make it owner-only",
            path=str(path),
            mode=was,
        )
        return
    log.warning("made owner-only: other accounts could read it", path=str(path), was=was, now=now)


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
