"""The ``UnitOfWork`` port on an SQLAlchemy connection: rolled back unless committed.

Each unit of work borrows one pooled connection for the length of a ``with``
block; the use case decides when to commit. Transient database errors (a locked
SQLite file, a dropped connection) leave here as ``TransientFailure`` so the
pipeline retries the batch instead of dead-lettering it.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

from sqlalchemy.engine import Connection, Engine

from fraud.adapters.sqlalchemy.cases import SqlCaseRepository, SqlQueueRepository
from fraud.adapters.sqlalchemy.drift import SqlDriftLog
from fraud.adapters.sqlalchemy.engine import SQLITE_BEGIN_OPTION
from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.identity import SqlAuditLog, SqlIdentities
from fraud.adapters.sqlalchemy.lists import SqlListRepository
from fraud.adapters.sqlalchemy.registry import SqlModelRegistry
from fraud.adapters.sqlalchemy.repository import (
    SqlActivityLog,
    SqlDeadLetterReplays,
    SqlLabelRepository,
    SqlVerdictRepository,
)
from fraud.adapters.sqlalchemy.rules import SqlRuleRepository, SqlRuleTallies
from fraud.adapters.sqlalchemy.webhooks import SqlWebhookRepository
from fraud.domain.ports import UnitOfWork


class SqlUnitOfWork(UnitOfWork):
    """The port's repositories, each on this unit's connection once entered (their types are
    the port's, whose attributes this class inherits rather than repeats)."""

    def __init__(self, engine: Engine, writer: threading.RLock | None = None) -> None:
        self._engine = engine
        self._writer = writer
        self._connection: Connection | None = None

    def __enter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("this unit of work is already open; ask the factory for another")
        if self._writer is not None:
            self._writer.acquire()
        try:
            with transient_errors_translated():
                connection = self._engine.connect()
                try:
                    if self._writer is not None:
                        connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                    connection.begin()
                except BaseException:
                    connection.close()
                    raise
        except BaseException:
            self._release()
            raise
        self._connection = connection
        self.verdicts = SqlVerdictRepository(connection)
        self.labels = SqlLabelRepository(connection)
        self.activity = SqlActivityLog(connection)
        self.replays = SqlDeadLetterReplays(connection)
        self.identities = SqlIdentities(connection)
        self.audit = SqlAuditLog(connection)
        self.rules = SqlRuleRepository(connection)
        self.models = SqlModelRegistry(connection)
        self.drift = SqlDriftLog(connection)
        self.rule_tallies = SqlRuleTallies(connection)
        self.cases = SqlCaseRepository(connection)
        self.queues = SqlQueueRepository(connection)
        self.lists = SqlListRepository(connection)
        self.webhooks = SqlWebhookRepository(connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            with transient_errors_translated():
                connection.rollback()  # a no-op after commit(); discards anything after it
        finally:
            connection.close()
            self._release()

    def _release(self) -> None:
        if self._writer is not None:
            self._writer.release()

    def commit(self) -> None:
        """Make everything done so far durable; later work starts a new transaction."""
        if self._connection is None:
            raise RuntimeError("commit() outside the unit of work's with-block")
        with transient_errors_translated():
            self._connection.commit()


class SqlUnitOfWorkFactory:
    """The ``UnitOfWorkFactory`` port: a fresh unit of work on the shared engine per call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite takes one writer at a time, and its busy handler lets a waiting writer poll
        # with growing sleeps: under many concurrent requests some wait far longer than their
        # turn. Units of work of one process queue here instead, in order; only the few
        # processes sharing the file contend for it. Each unit takes the write lock as it
        # begins (BEGIN IMMEDIATE): a unit that read first could not upgrade to writing once
        # another process had committed since, and would fail at once instead of waiting.
        self._writer = threading.RLock() if engine.dialect.name == "sqlite" else None

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self._writer)
