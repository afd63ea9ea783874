"""Drift tallies on SQLAlchemy Core: one row per model, hour, name and bin, added to in
place (``INSERT ... ON CONFLICT DO UPDATE SET count = count + excluded.count``), so a flush is
one statement however many record workers share the hour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.repository import Executor, dialect_of, fetch
from fraud.adapters.sqlalchemy.tables import drift_tallies
from fraud.adapters.sqlalchemy.upserts import add_counts

_KEY = ("model_version", "hour", "name", "bin")


class SqlDriftLog:
    """The ``DriftLog`` port, written on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def add(self, model_version: str, hour: datetime, counts: Mapping[str, Sequence[int]]) -> None:
        rows = [
            {"model_version": model_version, "hour": hour, "name": name, "bin": i, "count": n}
            for name, counted in counts.items()
            for i, n in enumerate(counted)
            if n
        ]
        if not rows:
            return
        with transient_errors_translated():
            add_counts(
                self._executor, drift_tallies, _KEY, ("count",), rows, dialect_of(self._executor)
            )


class SqlDriftQueries:
    """The ``DriftQueries`` port on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def drift_counts(self, model_version: str, since: datetime) -> dict[str, dict[int, int]]:
        statement = (
            select(
                drift_tallies.c.name,
                drift_tallies.c.bin,
                func.sum(drift_tallies.c.count).label("count"),
            )
            .where(drift_tallies.c.model_version == model_version, drift_tallies.c.hour >= since)
            .group_by(drift_tallies.c.name, drift_tallies.c.bin)
        )
        counts: dict[str, dict[int, int]] = {}
        with transient_errors_translated(), self._engine.connect() as connection:
            for row in fetch(connection, statement):
                counts.setdefault(row["name"], {})[int(row["bin"])] = int(row["count"])
        return counts
