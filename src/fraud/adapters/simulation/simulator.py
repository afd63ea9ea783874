"""Labelled synthetic card transactions: card holders living their lives, and fraud among them.

The output is reproducible from its arguments alone (one ``random.Random``
seeded by ``seed``, no global state), so a model trained on ``simulate(n,
seed=s)`` can be trained again on exactly the same data.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from random import Random

from fraud.adapters.simulation.behaviour import legitimate_purchases
from fraud.adapters.simulation.catalogue import build_catalogue
from fraud.adapters.simulation.compromise import COMPROMISED_SHARE, compromise_merchants
from fraud.adapters.simulation.drafts import DAY, Draft
from fraud.adapters.simulation.patterns import inject_fraud
from fraud.adapters.simulation.population import (
    MEAN_DAILY_RATE,
    activity_weight,
    draw_population,
)
from fraud.domain.model import LabelledTransaction
from fraud.domain.ports import Progress
from fraud.domain.transaction import Transaction

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
MIN_DAYS = 30
MAX_DAYS = 90
SAMPLES_PER_EXTRA_DAY = 3_000
USERS_PER_MERCHANT_BRANCH = 6


def default_days(samples: int) -> int:
    """30 days for small runs, growing to 90 for large ones, so users keep a history."""
    return min(MAX_DAYS, max(MIN_DAYS, round(samples / SAMPLES_PER_EXTRA_DAY)))


def simulate(
    samples: int,
    *,
    seed: int = 7,
    fraud_rate: float = 0.005,
    start: datetime | None = None,
    days: int | None = None,
    progress: Progress | None = None,
) -> list[LabelledTransaction]:
    """Exactly ``samples`` labelled transactions, sorted by timestamp.

    ``round(samples * fraud_rate)`` of them are fraud. The period starts at
    ``start`` (default 2025-01-01 UTC) and lasts ``days`` (default from
    :func:`default_days`); the number of card holders follows from both so that
    each has weeks of history.
    """
    if samples < 0:
        raise ValueError(f"samples must be 0 or more, got {samples}")
    if not 0 <= fraud_rate < 1:
        raise ValueError(f"fraud_rate must be at least 0 and below 1, got {fraud_rate}")
    if days is not None and days < 1:
        raise ValueError(f"days must be 1 or more, got {days}")
    if start is not None and start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    origin = (start or DEFAULT_START).astimezone(UTC)
    period = (days or default_days(samples)) * DAY
    frauds = round(samples * fraud_rate)
    # Some of the frauds are purchases at compromised merchants: drawn from the legitimate
    # ones, which are made that many more.
    compromised = round(frauds * COMPROMISED_SHARE)
    legitimate = samples - frauds + compromised

    rng = Random(seed)
    users = max(1, round(legitimate / (MEAN_DAILY_RATE * period / DAY)))
    catalogue = build_catalogue(branches=max(4, math.ceil(users / USERS_PER_MERCHANT_BRANCH)))
    holders = draw_population(users, period, catalogue, rng)
    counts = _share(legitimate, [activity_weight(holder, period) for holder in holders])

    done = progress or _quiet
    drafts: list[Draft] = []
    for holder, count in zip(holders, counts, strict=True):
        drafts.extend(legitimate_purchases(holder, count, period, catalogue, rng))
        done(count)
    drafts = compromise_merchants(drafts, compromised, rng)
    copied = sum(draft.is_fraud for draft in drafts)
    if copied < compromised:  # too few busy merchants: drop the legitimate ones made extra
        legitimate_ones = [i for i, draft in enumerate(drafts) if not draft.is_fraud]
        spare = set(rng.sample(legitimate_ones, compromised - copied))
        drafts = [draft for i, draft in enumerate(drafts) if i not in spare]
    victims = [holder for holder, count in zip(holders, counts, strict=True) if count]
    drafts.extend(inject_fraud(victims or holders, frauds - copied, period, catalogue, rng))
    done(frauds - compromised)

    drafts.sort(key=attrgetter("at"))
    return [
        _labelled(draft, f"sim-{seed}-{index:08d}", origin) for index, draft in enumerate(drafts)
    ]


class Simulator:
    """The ``Simulator`` port on :func:`simulate`."""

    def simulate(
        self,
        samples: int,
        *,
        seed: int,
        fraud_rate: float,
        progress: Progress | None = None,
        start: datetime | None = None,
    ) -> list[LabelledTransaction]:
        return simulate(samples, seed=seed, fraud_rate=fraud_rate, progress=progress, start=start)


def _quiet(_: int) -> None:
    pass


def _share(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into whole counts proportional to ``weights`` (largest remainders)."""
    whole = sum(weights)
    exact = [total * weight / whole for weight in weights]
    counts = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _labelled(draft: Draft, transaction_id: str, origin: datetime) -> LabelledTransaction:
    transaction = Transaction(
        transaction_id=transaction_id,
        user_id=draft.user_id,
        amount=draft.amount,
        merchant=draft.merchant,
        timestamp=origin + timedelta(seconds=round(draft.at)),
        merchant_type=draft.merchant_type,
        device_type=draft.device_type,
        location_match=draft.location_match,
        currency=draft.currency,
    )
    return LabelledTransaction(transaction, draft.is_fraud)
