"""A canary: the challenger decides a share of the cards, raised in steps, and gives them back
to the champion by itself when it declines (or fails) far more or less than the champion.

A card is in the challenger's share by a stable hash of its ``user_id``: the same card is
decided by the same model wherever and whenever it is scored, and the share a step gives
holds the cards of the step before (1% of cards are among the 10%). Both models still score
every transaction: the model that does not decide keeps its scoring as a version, so the
comparison goes on and nothing is lost. A decision once given never changes: the ledger
keeps the first verdict, whichever model gave it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

# The steps a canary is raised through, as shares of the cards.
CANARY_STEPS = (0.01, 0.10, 0.50, 1.0)
_BUCKETS = 2**64


def in_canary(user_id: str, share: float) -> bool:
    """Whether the challenger decides this card at ``share``: the card's place in [0, 1), by
    a hash that is the same in every process and every run."""
    if share <= 0.0:
        return False
    digest = hashlib.blake2b(user_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") < share * _BUCKETS


def next_step(share: float) -> float | None:
    """The step after ``share`` (None: it decides every card already)."""
    return next((step for step in CANARY_STEPS if step > share), None)


def share_text(share: float) -> str:
    return f"{share * 100:g}%"


@dataclass(frozen=True, slots=True)
class CanaryStep:
    """One entry of a canary's history, which only ever grows: from ``at`` the challenger
    ``version`` decides ``share`` of the cards (0: none, it scores in shadow), set by
    ``by`` (a person, or the service when it rolled back by itself) for ``reason``."""

    version: str
    share: float
    at: datetime
    by: str
    reason: str
    id: int = 0


@dataclass(frozen=True, slots=True)
class CanaryCounts:
    """What each model decided since the canary's step: the champion on its cards, the
    challenger on its share, and the challenger's cards it could not score (the champion
    decided them instead)."""

    champion_decided: int = 0
    champion_declined: int = 0
    challenger_decided: int = 0
    challenger_declined: int = 0
    challenger_failed: int = 0

    def __add__(self, other: CanaryCounts) -> CanaryCounts:
        return CanaryCounts(
            self.champion_decided + other.champion_decided,
            self.champion_declined + other.champion_declined,
            self.challenger_decided + other.challenger_decided,
            self.challenger_declined + other.challenger_declined,
            self.challenger_failed + other.challenger_failed,
        )

    def __bool__(self) -> bool:
        return bool(self.champion_decided or self.challenger_decided or self.challenger_failed)


@dataclass(frozen=True, slots=True)
class CanaryBand:
    """How far the challenger may stray from the champion before its share goes back to 0:
    its decline rate at most ``decline_width`` away from the champion's (either way: a
    challenger that declines nothing is as wrong as one that declines everything), its
    error rate at most ``error_width``; judged once it has decided ``minimum`` cards' worth
    of transactions, so a handful of declines in its first seconds does not end it."""

    decline_width: float = 0.05
    error_width: float = 0.02
    minimum: int = 200

    def breached(self, counts: CanaryCounts) -> str | None:
        """Why the canary must roll back, or None while it stays within the band."""
        attempted = counts.challenger_decided + counts.challenger_failed
        if attempted < self.minimum or counts.champion_decided < self.minimum:
            return None
        errors = counts.challenger_failed / attempted
        if errors > self.error_width:
            return (
                f"the challenger failed to score {errors:.1%} of its transactions "
                f"(at most {self.error_width:.1%})"
            )
        champion = counts.champion_declined / counts.champion_decided
        challenger = counts.challenger_declined / max(counts.challenger_decided, 1)
        if abs(challenger - champion) > self.decline_width:
            return (
                f"the challenger declined {challenger:.1%} of {counts.challenger_decided} "
                f"transactions against the champion's {champion:.1%} of "
                f"{counts.champion_decided} (at most {self.decline_width:.1%} apart)"
            )
        return None
