"""The model registry on SQLAlchemy Core: each model's card and archive in ``models``, every
change of role in ``model_roles`` (whose highest id is the registry's revision).

The write side works on the unit of work's connection and never commits; the read side
(``SqlModelQueries``) borrows a pooled connection per question.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from fraud.adapters.sqlalchemy.errors import transient_errors_translated
from fraud.adapters.sqlalchemy.repository import Executor, dialect_of, fetch
from fraud.adapters.sqlalchemy.tables import model_canary, model_roles, model_thresholds, models
from fraud.adapters.sqlalchemy.upserts import insert_missing
from fraud.domain.canary import CanaryStep
from fraud.domain.errors import ModelTampered
from fraud.domain.model import ModelInfo
from fraud.domain.policy import Thresholds
from fraud.domain.registry import (
    ModelRole,
    RegisteredModel,
    ReviewBudget,
    RoleChange,
    Roles,
    StoredArchive,
    ThresholdsChange,
)

# Everything but the archive, which is read only to load a model (or to sign it).
_CARD_COLUMNS = (
    models.c.version,
    models.c.card,
    models.c.registered_at,
    models.c.registered_by,
    models.c.archive_signature.is_not(None).label("signed"),
)


def _registered(row: Mapping[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        ModelInfo.from_dict(row["card"]),
        row["registered_at"],
        row["registered_by"],
        bool(row["signed"]),
    )


def _change(row: Mapping[str, Any]) -> RoleChange:
    return RoleChange(
        ModelRole(row["role"]), row["version"], row["previous"], row["at"], row["by"], row["id"]
    )


# What _roles reads, made once: every scoring worker reads them every second.
_LATEST_ROLES = select(
    model_roles.c.role, model_roles.c.version, model_roles.c.id, model_roles.c.at
).where(
    model_roles.c.id.in_(
        select(func.max(model_roles.c.id)).group_by(model_roles.c.role).scalar_subquery()
    )
)
_LATEST_THRESHOLDS = select(func.max(model_thresholds.c.id))
_LATEST_CANARY_STEP = select(model_canary).order_by(model_canary.c.id.desc()).limit(1)


def _roles(executor: Executor) -> Roles:
    """The latest change of each role, and the highest id of all."""
    rows = fetch(executor, _LATEST_ROLES)
    holders = {row["role"]: row["version"] for row in rows}
    thresholds = executor.execute(_LATEST_THRESHOLDS).scalar() or 0
    canary = fetch(executor, _LATEST_CANARY_STEP)
    challenger = next((row for row in rows if row["role"] == ModelRole.CHALLENGER.value), None)
    return Roles(
        # The histories only grow: the sum of their last ids moves with every change.
        revision=max((row["id"] for row in rows), default=0)
        + int(thresholds)
        + (canary[0]["id"] if canary else 0),
        champion=holders.get(ModelRole.CHAMPION.value),
        challenger=holders.get(ModelRole.CHALLENGER.value),
        canary=_canary_share(challenger, canary[0] if canary else None),
    )


def _canary_share(challenger: Mapping[str, Any] | None, step: Mapping[str, Any] | None) -> float:
    """The latest step's share, if it is the challenger's since it took the role (a model
    challenging again starts in shadow)."""
    if challenger is None or step is None or challenger["version"] is None:
        return 0.0
    if step["version"] != challenger["version"] or step["at"] < challenger["at"]:
        return 0.0
    return float(step["share"])


def _step(row: Mapping[str, Any]) -> CanaryStep:
    return CanaryStep(row["version"], row["share"], row["at"], row["by"], row["reason"], row["id"])


def _model(executor: Executor, version: str) -> RegisteredModel | None:
    rows = fetch(
        executor,
        select(*_CARD_COLUMNS).where(models.c.version == version),
    )
    return _registered(rows[0]) if rows else None


def _thresholds(row: Mapping[str, Any]) -> ThresholdsChange:
    budget = row["budget"]
    return ThresholdsChange(
        row["version"],
        Thresholds(review=row["review"], decline=row["decline"]),
        None if budget is None else ReviewBudget.from_dict(budget),
        row["at"],
        row["by"],
        row["id"],
    )


class SqlModelRegistry:
    """The ``ModelRegistry`` port, written on the caller's transaction."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def add(self, model: RegisteredModel, archive: bytes, signature: str) -> bool:
        row = {
            "version": model.version,
            "card": model.info.to_dict(),
            "archive": archive,
            "archive_sha256": hashlib.sha256(archive).hexdigest(),
            "archive_signature": signature,
            "registered_at": model.registered_at,
            "registered_by": model.registered_by,
        }
        with transient_errors_translated():
            added = insert_missing(self._executor, models, [row], dialect_of(self._executor))
        return bool(added)

    def sign(self, version: str, signature: str) -> bool:
        statement = (
            update(models)
            .where(models.c.version == version, models.c.archive_signature.is_(None))
            .values(archive_signature=signature)
        )
        with transient_errors_translated():
            return self._executor.execute(statement).rowcount == 1  # type: ignore[attr-defined]

    def model(self, version: str) -> RegisteredModel | None:
        with transient_errors_translated():
            return _model(self._executor, version)

    def roles(self) -> Roles:
        """Who holds each role, read to change them: on PostgreSQL the registry's changes are
        locked first (till the end of the unit of work), so two promotions made at once come
        one after the other, each naming the right previous champion, and ids commit in the
        order they were given (the revision never misses a change)."""
        with transient_errors_translated():
            self._lock()
            return _roles(self._executor)

    def _lock(self) -> None:
        if dialect_of(self._executor) == "postgresql":  # SQLite has one writer anyway
            self._executor.execute(
                text("LOCK TABLE model_roles, model_thresholds, model_canary IN EXCLUSIVE MODE")
            )

    def change_role(
        self, role: ModelRole, version: str | None, by: str, at: datetime
    ) -> RoleChange:
        with transient_errors_translated():
            self._lock()
            now = _roles(self._executor)
            previous = now.champion if role is ModelRole.CHAMPION else now.challenger
            row = {"role": role.value, "version": version, "previous": previous, "at": at, "by": by}
            change_id = self._executor.execute(
                insert(model_roles).values(row).returning(model_roles.c.id)
            ).scalar_one()
        return RoleChange(role, version, previous, at, by, int(change_id))

    def set_canary(self, step: CanaryStep) -> CanaryStep:
        row = {
            "version": step.version,
            "share": step.share,
            "at": step.at,
            "by": step.by,
            "reason": step.reason,
        }
        with transient_errors_translated():
            self._lock()
            step_id = self._executor.execute(
                insert(model_canary).values(row).returning(model_canary.c.id)
            ).scalar_one()
        return replace(step, id=int(step_id))

    def set_thresholds(self, change: ThresholdsChange) -> ThresholdsChange:
        row = {
            "version": change.version,
            "review": change.thresholds.review,
            "decline": change.thresholds.decline,
            "budget": None if change.budget is None else change.budget.to_dict(),
            "at": change.at,
            "by": change.by,
        }
        with transient_errors_translated():
            self._lock()
            change_id = self._executor.execute(
                insert(model_thresholds).values(row).returning(model_thresholds.c.id)
            ).scalar_one()
        return replace(change, id=int(change_id))


class SqlModelQueries:
    """The ``ModelQueries`` port on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _connect(self) -> Connection:
        return self._engine.connect()

    def roles(self) -> Roles:
        with transient_errors_translated(), self._connect() as connection:
            return _roles(connection)

    def models(self) -> list[RegisteredModel]:
        statement = select(*_CARD_COLUMNS).order_by(
            models.c.registered_at.desc(), models.c.version.desc()
        )
        with transient_errors_translated(), self._connect() as connection:
            return [_registered(row) for row in fetch(connection, statement)]

    def model(self, version: str) -> RegisteredModel | None:
        with transient_errors_translated(), self._connect() as connection:
            return _model(connection, version)

    def archive(self, version: str) -> StoredArchive | None:
        statement = select(
            models.c.archive, models.c.archive_sha256, models.c.archive_signature
        ).where(models.c.version == version)
        with transient_errors_translated(), self._connect() as connection:
            rows = fetch(connection, statement)
        if not rows:
            return None
        archive = bytes(rows[0]["archive"])
        if hashlib.sha256(archive).hexdigest() != rows[0]["archive_sha256"]:
            raise ModelTampered(
                f"model {version}'s archive is not the one registered (its SHA-256 differs): "
                "refusing to load it"
            )
        return StoredArchive(archive, rows[0]["archive_signature"])

    def role_history(self) -> list[RoleChange]:
        statement = select(model_roles).order_by(model_roles.c.id)
        with transient_errors_translated(), self._connect() as connection:
            return [_change(row) for row in fetch(connection, statement)]

    def canary_history(self) -> list[CanaryStep]:
        statement = select(model_canary).order_by(model_canary.c.id)
        with transient_errors_translated(), self._connect() as connection:
            return [_step(row) for row in fetch(connection, statement)]

    def thresholds(self, version: str) -> ThresholdsChange | None:
        statement = (
            select(model_thresholds)
            .where(model_thresholds.c.version == version)
            .order_by(model_thresholds.c.id.desc())
            .limit(1)
        )
        with transient_errors_translated(), self._connect() as connection:
            rows = fetch(connection, statement)
        return _thresholds(rows[0]) if rows else None
