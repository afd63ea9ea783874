"""The model registry: every trained model kept with its card, and which one decides.

One registered model is the champion: it decides every transaction. One other may be the
challenger: it scores every transaction beside the champion, in shadow, and decides
nothing. Every change of role is kept, so a promotion can be rolled back and anyone can
read who put which model in charge, and when.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from fraud.domain.errors import ModelTampered
from fraud.domain.model import ModelInfo
from fraud.domain.policy import Thresholds
from fraud.domain.requests import RequestContract, RequestField


class ModelRole(StrEnum):
    CHAMPION = "champion"  # decides
    CHALLENGER = "challenger"  # scores beside the champion, in shadow


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A model as the registry keeps it: its card, and who registered it when."""

    info: ModelInfo
    registered_at: datetime
    registered_by: str
    # Whether its archive carries a signature; False: registered before archives were
    # signed, and no model is loaded from it until an admin signs it (`fraud models sign`).
    signed: bool = True

    @property
    def version(self) -> str:
        return self.info.version


# --- archives, signed with a key the database never holds ------------------------------------


@dataclass(frozen=True, slots=True)
class StoredArchive:
    """A registered model's files as one archive, as the registry holds them, with the
    signature made over them and the model's version with the archive key (None: registered
    before archives were signed)."""

    content: bytes
    signature: str | None


class SignatureCheck(StrEnum):
    """What a signature says of an archive, checked with this process's archive key."""

    GOOD = "good"
    ALTERED = "altered"  # this key's kind of mark, not made over these bytes for this version
    OTHER_KEY = "other key"  # made with another archive key, or forged


class UnsignedArchive(ModelTampered):
    def __init__(self, version: str) -> None:
        self.version = version
        super().__init__(
            f"model {version}'s archive is not signed (registered before archives were "
            "signed, or its signature was removed): refusing to load it. An admin who holds "
            f"the archive key signs archives from before signing with `fraud models sign "
            f"{version}`"
        )


class AlteredArchive(ModelTampered):
    def __init__(self, version: str, check: SignatureCheck) -> None:
        self.version = version
        self.check = check
        cause = (
            "it was signed with another archive key (every host of a deployment must be "
            "given the same FRAUD_ARCHIVE_KEY), or its signature was forged"
            if check is SignatureCheck.OTHER_KEY
            else "the archive or its version was changed in the database after it was signed"
        )
        super().__init__(
            f"model {version}'s archive does not match its signature: {cause}; refusing it"
        )


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
    """Who holds each role now. ``revision`` grows with every change of role or of
    thresholds (0: none yet), so a worker learns whether anything changed from one number."""

    revision: int = 0
    champion: str | None = None
    challenger: str | None = None
    # The share of cards the challenger decides (a canary, domain/canary.py); 0: in shadow.
    canary: float = 0.0

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


# --- thresholds set by a review budget --------------------------------------------------------

MAX_REVIEWS_PER_DAY = 10_000_000  # a budget is a number of reviews a day below this
DEFAULT_BUDGET_DAYS = 7
MAX_BUDGET_DAYS = 90  # the scores of up to this many recent days

REVIEW_BUDGET_REQUEST = RequestContract(
    (
        RequestField(
            "per_day",
            "number",
            "how many reviews a day the team can handle",
            unit="reviews a day",
            required=True,
            minimum=0,
            maximum=MAX_REVIEWS_PER_DAY,
            exclusive=True,
        ),
        RequestField(
            "days",
            "integer",
            f"on how many recent days of scores to work it out (default {DEFAULT_BUDGET_DAYS})",
            unit="days",
            default=DEFAULT_BUDGET_DAYS,
            minimum=1,
            maximum=MAX_BUDGET_DAYS,
        ),
    ),
    closed=False,  # as it always took them: what else a body carries is left alone
)


@dataclass(frozen=True, slots=True)
class ReviewBudgetRequest:
    """How many reviews a day the team can handle, and on how many recent days of scores
    to work the review threshold out."""

    per_day: float
    days: int = DEFAULT_BUDGET_DAYS

    @classmethod
    def parse(cls, data: object) -> ReviewBudgetRequest:
        """From a request's fields; BrokenRequest names every one that breaks its rule."""
        return cls(**REVIEW_BUDGET_REQUEST.parse(data))


@dataclass(frozen=True, slots=True)
class ReviewBudget:
    """How a review threshold was set: the reviews a day the team can handle, the span of
    recent scores it was worked out on, and what to expect from it."""

    per_day: float
    days: float
    volume_per_day: float  # transactions the model scored a day in that span
    expected_reviews_per_day: float
    expected_precision: float | None  # on the labelled ones it would have sent; None: none
    labelled: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "per_day": self.per_day,
            "days": self.days,
            "volume_per_day": self.volume_per_day,
            "expected_reviews_per_day": self.expected_reviews_per_day,
            "expected_precision": self.expected_precision,
            "labelled": self.labelled,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReviewBudget:
        precision = data.get("expected_precision")
        return cls(
            float(data["per_day"]),
            float(data["days"]),
            float(data["volume_per_day"]),
            float(data["expected_reviews_per_day"]),
            None if precision is None else float(precision),
            int(data["labelled"]),
        )


@dataclass(frozen=True, slots=True)
class ThresholdsChange:
    """Thresholds set for a registered model after training (its card keeps the ones its
    validation chose); the latest for a model is the one in force."""

    version: str
    thresholds: Thresholds
    budget: ReviewBudget | None
    at: datetime
    by: str
    id: int = 0


def thresholds_in_force(info: ModelInfo, change: ThresholdsChange | None) -> Thresholds:
    """A model's thresholds now: those last set for it after training, else its card's."""
    return info.thresholds if change is None else change.thresholds


def thresholds_for_budget(
    scored: Sequence[tuple[float, bool | None]], days: float, per_day: float, decline: float
) -> tuple[Thresholds, ReviewBudget]:
    """The review threshold that sends about ``per_day`` transactions a day to analysts,
    below the ``decline`` threshold, had it been in force over the ``days`` these scores
    (each with its label, None: unknown) came from; and the precision to expect, on the
    labelled ones it would have sent."""
    if not scored or days <= 0 or per_day <= 0:
        raise ValueError("a review budget needs recent scores and a budget above 0")
    ordered = sorted((score for score, _ in scored), reverse=True)
    declined = sum(score >= decline for score in ordered)
    wanted = declined + round(per_day * days)
    review = ordered[min(wanted, len(ordered)) - 1] if wanted else decline
    review = min(review, decline)
    reviewed = [(score, label) for score, label in scored if review <= score < decline]
    labelled = [label for _, label in reviewed if label is not None]
    budget = ReviewBudget(
        per_day=per_day,
        days=days,
        volume_per_day=len(scored) / days,
        expected_reviews_per_day=len(reviewed) / days,
        expected_precision=sum(labelled) / len(labelled) if labelled else None,
        labelled=len(labelled),
    )
    return Thresholds(review=review, decline=decline), budget
