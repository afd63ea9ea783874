"""The model registry in memory: each model's card and archive, and every change of role
numbered in the order it was made (the highest number is the registry's revision)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import partial

from fraud.adapters.memory.state import Staged, State
from fraud.domain.canary import CanaryStep
from fraud.domain.registry import (
    ModelRole,
    RegisteredModel,
    RoleChange,
    Roles,
    StoredArchive,
    ThresholdsChange,
)


def _roles(state: State) -> Roles:
    holders: dict[ModelRole, str | None] = {}
    since: dict[ModelRole, datetime] = {}
    for _, change in sorted(state.model_roles.items()):
        holders[change.role], since[change.role] = change.version, change.at
    challenger = holders.get(ModelRole.CHALLENGER)
    steps = [s for _, s in sorted(state.model_canary.items())][-1:]
    steps = [s for s in steps if s.version == challenger and s.at >= since[ModelRole.CHALLENGER]]
    return Roles(
        revision=max(state.model_roles, default=0)
        + max(state.model_thresholds, default=0)
        + max(state.model_canary, default=0),
        champion=holders.get(ModelRole.CHAMPION),
        challenger=challenger,
        canary=steps[-1].share if steps and challenger else 0.0,
    )


def _add(state: State, model: RegisteredModel, archive: StoredArchive) -> bool:
    if model.version in state.models:
        return False
    state.models[model.version] = (model, archive)
    return True


def _sign(state: State, version: str, signature: str) -> bool:
    kept = state.models.get(version)
    if kept is None or kept[1].signature is not None:
        return False
    state.models[version] = (kept[0], replace(kept[1], signature=signature))
    return True


def _registered(kept: tuple[RegisteredModel, StoredArchive] | None) -> RegisteredModel | None:
    """The model as registered, saying whether its archive is signed now."""
    if kept is None:
        return None
    return replace(kept[0], signed=kept[1].signature is not None)


def _change_role(
    state: State, role: ModelRole, version: str | None, by: str, at: datetime
) -> RoleChange:
    now = _roles(state)
    previous = now.champion if role is ModelRole.CHAMPION else now.challenger
    change = RoleChange(role, version, previous, at, by, now.revision + 1)
    state.model_roles[change.id] = change
    return change


def _set_thresholds(state: State, change: ThresholdsChange) -> ThresholdsChange:
    kept = replace(change, id=max(state.model_thresholds, default=0) + 1)
    state.model_thresholds[kept.id] = kept
    return kept


def _set_canary(state: State, step: CanaryStep) -> CanaryStep:
    kept = replace(step, id=max(state.model_canary, default=0) + 1)
    state.model_canary[kept.id] = kept
    return kept


class InMemoryModelRegistry:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def add(self, model: RegisteredModel, archive: bytes, signature: str) -> bool:
        stored = StoredArchive(archive, signature)
        return bool(self._staged.write(partial(_add, model=model, archive=stored)))

    def sign(self, version: str, signature: str) -> bool:
        return bool(self._staged.write(partial(_sign, version=version, signature=signature)))

    def model(self, version: str) -> RegisteredModel | None:
        return _registered(self._staged.state.models.get(version))

    def roles(self) -> Roles:
        return _roles(self._staged.state)

    def change_role(
        self, role: ModelRole, version: str | None, by: str, at: datetime
    ) -> RoleChange:
        change = self._staged.write(partial(_change_role, role=role, version=version, by=by, at=at))
        assert isinstance(change, RoleChange)
        return change

    def set_thresholds(self, change: ThresholdsChange) -> ThresholdsChange:
        kept = self._staged.write(partial(_set_thresholds, change=change))
        assert isinstance(kept, ThresholdsChange)
        return kept

    def set_canary(self, step: CanaryStep) -> CanaryStep:
        kept = self._staged.write(partial(_set_canary, step=step))
        assert isinstance(kept, CanaryStep)
        return kept


class InMemoryModelQueries:
    """The read side of the registry, over the committed state (``self.state``)."""

    state: State

    def roles(self) -> Roles:
        return _roles(self.state)

    def models(self) -> list[RegisteredModel]:
        kept = [_registered(pair) for pair in self.state.models.values()]
        listed = [model for model in kept if model is not None]
        return sorted(listed, key=lambda m: (m.registered_at, m.version), reverse=True)

    def model(self, version: str) -> RegisteredModel | None:
        return _registered(self.state.models.get(version))

    def archive(self, version: str) -> StoredArchive | None:
        kept = self.state.models.get(version)
        return kept[1] if kept else None

    def role_history(self) -> list[RoleChange]:
        return [change for _, change in sorted(self.state.model_roles.items())]

    def thresholds(self, version: str) -> ThresholdsChange | None:
        changes = [
            c for _, c in sorted(self.state.model_thresholds.items()) if c.version == version
        ]
        return changes[-1] if changes else None

    def canary_history(self) -> list[CanaryStep]:
        return [step for _, step in sorted(self.state.model_canary.items())]
