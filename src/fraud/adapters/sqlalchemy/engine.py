"""An engine for any SQLAlchemy URL, tuned for the verdict store when it is SQLite.

SQLite is the default store (``fraud run`` needs no server), and its defaults
suit neither a streaming writer nor a dashboard reading at the same time:

* WAL lets readers work while the record stage writes, and
  ``synchronous=NORMAL`` is durable across application crashes at a fraction of
  FULL's fsyncs (DESIGN.md's ~17k commits/s and 250-440k batched rows/s).
* ``busy_timeout`` makes a writer wait for the lock instead of failing at once;
  what still fails after it becomes ``TransientFailure`` and is retried. A unit of
  work that takes the write lock up front (``BEGIN IMMEDIATE``) asks for it about
  every millisecond for its first :data:`FINE_WAIT_S`: SQLite's own wait sleeps 1, 2,
  5, 10, 15, 20 and 25 ms between its tries, so a lock another worker held for 9 ms
  kept its waiter 18, and such waits made the tail of two workers' latency.
* ``foreign_keys=ON`` because SQLite ignores declared foreign keys otherwise.
* The driver's own transaction handling is replaced by an explicit ``BEGIN``
  (SQLAlchemy's documented recipe for pysqlite): otherwise DDL and reads run
  outside any transaction, so a failed migration would be left half applied and
  rolling back a unit of work would not cover everything it did.

The database file holds password hashes, the session-signing key and every
transaction, so it is created owner-only (0600) in a folder made 0700 before SQLite
opens it; SQLite's unix VFS gives the ``-wal`` and ``-shm`` files it creates the mode
of the database file. A database file (or its ``-wal``, ``-shm``, ``-journal``) that
others can read already is narrowed at start, with a warning naming it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL

from fraud.owner_only import narrow_file, owner_only_file, owner_only_folder

DEFAULT_BUSY_TIMEOUT_MS = 5_000
SQLITE_BEGIN_OPTION = "sqlite_begin"  # execution option: "IMMEDIATE" or "EXCLUSIVE"
# How long a BEGIN that takes the write lock asks for it every millisecond: longer than a
# batch holds it. A lock held longer is waited for as SQLite waits, its sleeps growing, so
# that threads queued for a long-held lock do not each try a thousand times a second.
FINE_WAIT_S = 0.05


def create_engine_for(url: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for ``url``; for SQLite also the database's folder and the pragmas above.

    ``sqlite://`` (in memory) works but gives each thread its own database, so
    use a file whenever more than one thread shares the store.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Servers drop idle connections; check before use rather than fail a batch.
        return create_engine(parsed, pool_pre_ping=True, **JSON_BY_ORJSON)
    _create_owner_only(parsed)
    engine = create_engine(parsed, **JSON_BY_ORJSON)
    _tune_sqlite(engine, busy_timeout_ms)
    return engine


def json_text(value: Any) -> str:
    """JSON columns' text: compact, and written by orjson at a fraction of the standard
    library's cost (verdicts carry their reasons and features as JSON)."""
    return orjson.dumps(value).decode()


# JSON columns written and read by orjson: reading a verdict's features and reasons back
# (a backtest reads them for every verdict of a period) costs a third of json.loads.
JSON_BY_ORJSON: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": orjson.loads}


# What SQLite keeps beside a database file: the write-ahead log, its index, the rollback journal.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def _create_owner_only(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    if url.query.get("uri"):  # a SQLite URI filename: SQLite resolves it, not us
        return
    path = Path(os.path.abspath(database))  # where pysqlite opens it
    owner_only_folder(path.parent)
    owner_only_file(path)
    for companion in SQLITE_COMPANIONS:
        narrow_file(path.with_name(path.name + companion))


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a transaction that reads and then
        # writes (a migration) would otherwise fail at once when another process
        # writes, because SQLite cannot wait for a lock upgrade.
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "")
        statement = f"BEGIN {mode}".strip()
        if not mode:
            connection.exec_driver_sql(statement)  # takes no lock: nothing to wait for
            return
        driver = connection.connection.dbapi_connection
        assert driver is not None
        began = time.monotonic()
        fine_until = began + min(FINE_WAIT_S, busy_timeout_ms / 1000)
        driver.execute("PRAGMA busy_timeout = 1")  # one 1 ms sleep, then SQLITE_BUSY
        try:
            while time.monotonic() < fine_until:
                try:
                    driver.execute(statement)
                    return
                except sqlite3.OperationalError as error:
                    if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # or BUSY_RECOVERY
                        break
            # The rest of the busy timeout as SQLite waits, its error translated as any
            # statement's.
            waited_ms = (time.monotonic() - began) * 1000
            driver.execute(f"PRAGMA busy_timeout = {max(int(busy_timeout_ms - waited_ms), 1)}")
            connection.exec_driver_sql(statement)
        finally:
            driver.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
