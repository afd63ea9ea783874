"""The model registry: every trained model kept with its card, and which one decides.

One registered model is the champion: it decides every transaction. One other may be the
challenger: it scores every transaction beside the champion, in shadow, and decides
nothing. Every change of role is kept, so a promotion can be rolled back and anyone can
read who put which model in charge, and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fraud.domain.model import ModelInfo


class ModelRole(StrEnum):
    CHAMPION = "champion"  # decides
    CHALLENGER = "challenger"  # scores beside the champion, in shadow


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A model as the registry keeps it: its card, and who registered it when."""

    info: ModelInfo
    registered_at: datetime
    registered_by: str

    @property
    def version(self) -> str:
        return self.info.version


@dataclass(frozen=True, slots=True)
class RoleChange:
    """One entry of the role history, which only ever grows: ``version`` took ``role`` from
    ``previous`` (None on either side: nobody)."""

    role: ModelRole
    version: str | None
    previous: str | None
    at: datetime
    by: str
    id: int = 0  # assigned by the store, in the order changes were made


@dataclass(frozen=True, slots=True)
class Roles:
    """Who holds each role now. ``revision`` grows with every change of role (0: none yet),
    so a worker learns whether anything changed from one number."""

    revision: int = 0
    champion: str | None = None
    challenger: str | None = None

    def holds(self, version: str) -> ModelRole | None:
        if version == self.champion:
            return ModelRole.CHAMPION
        if version == self.challenger:
            return ModelRole.CHALLENGER
        return None


class UnknownModel(LookupError):
    def __init__(self, version: str) -> None:
        self.version = version
        super().__init__(f"no registered model {version!r}: `fraud models list` shows them")


class NoChampion(LookupError):
    """The registry has no champion yet: nothing can be scored."""

    def __init__(self) -> None:
        super().__init__(
            "no champion model is registered: train one with `fraud train` (the first model "
            "registered becomes the champion) or promote one with `fraud models promote`"
        )


class RoleRefused(ValueError):
    """A change of role that cannot be made (the champion as its own challenger, a rollback
    with no earlier champion)."""
