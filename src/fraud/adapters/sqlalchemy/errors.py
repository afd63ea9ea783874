"""Which database errors may pass by themselves, translated into ``TransientFailure``.

The pipeline retries a batch that failed with ``TransientFailure`` and
dead-letters anything else, so a locked SQLite file or a restarted server must
surface as transient, while a missing table or a broken constraint must not
(retrying those would loop forever).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc

from fraud.domain.errors import TransientFailure

# Locked, and out of room (a full disk: the stage pauses until space is freed, rather than
# dead-letter every message for an infrastructure fault), and unable to open or write the
# file (its disk or mount gone).
_SQLITE_TRANSIENT_CODES = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CANTOPEN,
}

# SQLSTATE classes and codes: connection exceptions, serialization failure,
# deadlock, insufficient resources (disk full, out of memory, too many connections),
# lock timeout, admin/crash shutdown, cannot connect now.
_SQLSTATE_TRANSIENT_PREFIXES = (
    "08",
    "40001",
    "40P01",
    "53",
    "55P03",
    "57P01",
    "57P02",
    "57P03",
)

_TRANSIENT_MESSAGES = (
    "database is locked",
    "database table is locked",
    "database schema is locked",
    "deadlock",
    "could not serialize access",
    "lock wait timeout",
    "server has gone away",
    "lost connection",
    "server closed the connection",
    "connection refused",
    "database or disk is full",
    "disk i/o error",
    "unable to open database file",
    "no space left on device",
)


def is_transient(error: BaseException) -> bool:
    """True for lock contention, disconnects and pool exhaustion; false for everything else."""
    if isinstance(error, exc.DisconnectionError | exc.TimeoutError):
        return True
    if not isinstance(error, exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, exc.OperationalError):
        return False
    original = error.orig
    sqlite_code = getattr(original, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int) and sqlite_code & 0xFF in _SQLITE_TRANSIENT_CODES:
        return True
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_SQLSTATE_TRANSIENT_PREFIXES):
        return True
    message = str(original).lower()
    return any(fragment in message for fragment in _TRANSIENT_MESSAGES)


@contextmanager
def transient_errors_translated() -> Iterator[None]:
    """Re-raise transient database errors as ``TransientFailure``, chained to the original."""
    try:
        yield
    except exc.SQLAlchemyError as error:
        if is_transient(error):
            cause = error.orig if isinstance(error, exc.DBAPIError) else error
            raise TransientFailure(f"database temporarily unavailable: {cause}") from error
        raise
