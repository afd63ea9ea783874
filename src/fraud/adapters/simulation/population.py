"""Simulated card holders, each with habits of their own.

People differ far more from each other than from themselves: one spends 8 a
purchase, another 300; one pays twice a month, another fifteen times a day.
Drawing every habit per person (amount level and spread, pace, daily rhythm in
their own time zone, devices, regular shops, trips) makes "unusual for this
user" the signal, rather than any fixed amount, hour or device.
"""

from __future__ import annotations

import math
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate
from random import Random
from typing import TypeVar

from fraud.adapters.simulation.catalogue import Catalogue, Merchant
from fraud.adapters.simulation.drafts import DAY, HOUR

T = TypeVar("T")

_DEVICE_POPULARITY = {"mobile": 0.6, "desktop": 0.3, "tablet": 0.1}
ONLINE_DEVICES = tuple(_DEVICE_POPULARITY)

# Mean of the per-user daily rate below: log-normal(0, 0.8) has mean e^0.32.
MEAN_DAILY_RATE = math.exp(0.8**2 / 2)
# Card holders whose card is older than the period; the others get theirs during it.
NOT_NEW_SHARE = 0.7

_CURRENCIES = (("USD", 0.92), ("EUR", 0.04), ("GBP", 0.02), ("CAD", 0.02))
_UTC_OFFSETS = {
    "USD": ((-5.0, 0.5), (-6.0, 0.2), (-7.0, 0.1), (-8.0, 0.2)),
    "EUR": ((1.0, 1.0),),
    "GBP": ((0.0, 1.0),),
    "CAD": ((-5.0, 0.6), (-8.0, 0.4)),
}
# Where in a local day people tend to pay: morning, lunch, after work, evening.
_DAY_PARTS = ((8.5, 1.0), (12.5, 0.8), (18.0, 1.5), (20.5, 1.2))
_NIGHT_OWL_PART = (23.5, 1.2)
_SPENDING_MIX = {
    "grocery": 0.2,
    "restaurant": 0.22,
    "retail": 0.14,
    "gas": 0.1,
    "online": 0.2,
    "entertainment": 0.06,
    "travel": 0.08,
}
_REGULARS_PER_TYPE = {
    "grocery": (1, 2),
    "restaurant": (2, 5),
    "retail": (1, 3),
    "gas": (1, 2),
    "online": (2, 4),
    "entertainment": (1, 2),
    "travel": (1, 1),
}


@dataclass(frozen=True, slots=True)
class Trip:
    """Days away from home: purchases there do not match the card holder's location."""

    start: float
    end: float
    currency: str


@dataclass(frozen=True, slots=True)
class CardHolder:
    user_id: str
    typical_amount: float
    spread: float  # standard deviation of log amounts around the typical level
    daily_rate: float
    utc_offset: float  # hours; the features see UTC, people live in local time
    rhythm: tuple[tuple[float, float], ...]  # (local hour, width in hours) of each habit
    rhythm_weights: tuple[float, ...]  # cumulative
    devices: tuple[str, ...]  # used for online purchases
    device_weights: tuple[float, ...]  # cumulative
    wallet: str | None  # a phone or watch tapped at the till instead of the card
    wallet_share: float
    spending_types: tuple[str, ...]
    spending_weights: tuple[float, ...]  # cumulative
    regulars: dict[str, tuple[Merchant, ...]]
    novelty: float  # chance a purchase is at a shop not among the regulars
    small_share: float  # coffee, transit, parking, vending
    currency: str
    active_from: float  # seconds into the period: new customers join over time
    trips: tuple[Trip, ...]
    new_device: str | None  # a device adopted part-way through (a new phone or laptop)
    new_device_from: float

    def local_hour(self, rng: Random) -> float:
        """An hour of the day, local time, drawn from this person's rhythm."""
        centre, width = self.rhythm[
            bisect(self.rhythm_weights, rng.random() * self.rhythm_weights[-1])
        ]
        return rng.gauss(centre, width) % 24

    def online_device(self, at: float, rng: Random) -> str:
        if self.new_device is not None and at >= self.new_device_from and rng.random() < 0.5:
            return self.new_device
        return self.devices[bisect(self.device_weights, rng.random() * self.device_weights[-1])]

    def in_person_device(self, rng: Random) -> str:
        if self.wallet is not None and rng.random() < self.wallet_share:
            return self.wallet
        return "pos"

    def spending_type(self, rng: Random) -> str:
        weights = self.spending_weights
        return self.spending_types[bisect(weights, rng.random() * weights[-1])]

    def trip_at(self, at: float) -> Trip | None:
        for trip in self.trips:
            if trip.start <= at < trip.end:
                return trip
        return None

    def known_devices(self) -> set[str]:
        """Every device type this person ever uses, whatever the time."""
        known = set(self.devices)
        known.update(device for device in (self.wallet, self.new_device) if device)
        return known


def draw_population(
    count: int, period: float, catalogue: Catalogue, rng: Random
) -> list[CardHolder]:
    return [_draw_holder(f"user{n:05d}", period, catalogue, rng) for n in range(1, count + 1)]


def _pick(rng: Random, weighted: tuple[tuple[T, float], ...]) -> T:
    return rng.choices([value for value, _ in weighted], [weight for _, weight in weighted])[0]


def _draw_holder(user_id: str, period: float, catalogue: Catalogue, rng: Random) -> CardHolder:
    currency = _pick(rng, _CURRENCIES)
    utc_offset = _pick(rng, _UTC_OFFSETS[currency])
    active_from = 0.0 if rng.random() < NOT_NEW_SHARE else rng.uniform(0, 0.7 * period)

    parts = rng.sample(_DAY_PARTS, rng.choices((1, 2, 3), (0.3, 0.45, 0.25))[0])
    if rng.random() < 0.1:
        parts.append(_NIGHT_OWL_PART)
    rhythm = tuple(
        (centre + rng.uniform(-1, 1), width * rng.uniform(0.6, 1.6)) for centre, width in parts
    )

    devices, device_weights = _draw_devices(rng)
    known = set(devices)
    new_device = None
    new_device_from = period
    unused = [device for device in ONLINE_DEVICES if device not in known]
    if unused and rng.random() < 0.12:
        new_device = rng.choice(unused)
        new_device_from = rng.uniform(active_from + 0.2 * (period - active_from), period)
    wallet = None
    if rng.random() < 0.4:
        wallet = "smartwatch" if rng.random() < 0.08 else "mobile"

    types = tuple(_SPENDING_MIX)
    mix = [_SPENDING_MIX[t] * rng.gammavariate(1.5, 1.0) for t in types]
    regulars = {
        t: tuple(rng.sample(catalogue.everyday[t], rng.randint(*_REGULARS_PER_TYPE[t])))
        for t in types
    }
    commuter = rng.random() < 0.3
    return CardHolder(
        user_id=user_id,
        typical_amount=min(800.0, max(3.0, rng.lognormvariate(math.log(30), 0.75))),
        spread=rng.uniform(0.25, 0.8),
        daily_rate=min(20.0, max(0.05, rng.lognormvariate(0.0, 0.8))),
        utc_offset=utc_offset,
        rhythm=rhythm,
        rhythm_weights=tuple(accumulate(rng.uniform(0.5, 1.5) for _ in rhythm)),
        devices=devices,
        device_weights=device_weights,
        wallet=wallet,
        wallet_share=rng.uniform(0.2, 0.7),
        spending_types=types,
        spending_weights=tuple(accumulate(mix)),
        regulars=regulars,
        novelty=rng.uniform(0.03, 0.15),
        small_share=rng.uniform(0.1, 0.3) if commuter else rng.uniform(0.0, 0.06),
        currency=currency,
        active_from=active_from,
        trips=_draw_trips(rng, active_from, period, currency),
        new_device=new_device,
        new_device_from=new_device_from,
    )


def _draw_devices(rng: Random) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """One usual device for online purchases, sometimes a second one."""
    primary = rng.choices(ONLINE_DEVICES, tuple(_DEVICE_POPULARITY.values()))[0]
    if rng.random() >= 0.35:
        return (primary,), (1.0,)
    if rng.random() < 0.05:
        second = "smart-tv"
    else:
        others = [device for device in ONLINE_DEVICES if device != primary]
        second = rng.choices(others, [_DEVICE_POPULARITY[device] for device in others])[0]
    share = rng.uniform(0.6, 0.9)
    return (primary, second), (share, 1.0)


def _draw_trips(rng: Random, active_from: float, period: float, currency: str) -> tuple[Trip, ...]:
    """Trips as a Poisson process: some people never travel, some are often away."""
    trips_per_day = rng.expovariate(1.0) / 75
    if trips_per_day <= 0:
        return ()
    trips = []
    at = active_from + rng.expovariate(trips_per_day) * DAY
    while at < period:
        length = rng.uniform(2, 7) * DAY
        abroad = rng.random() < 0.35
        away_currency = (
            rng.choice([c for c, _ in _CURRENCIES if c != currency]) if abroad else currency
        )
        trips.append(Trip(at, min(period, at + length), away_currency))
        at += length + rng.expovariate(trips_per_day) * DAY
    return tuple(trips)


def activity_weight(holder: CardHolder, period: float) -> float:
    """Expected purchases over the period, used to share the sample count between users."""
    return holder.daily_rate * max(HOUR, period - holder.active_from) / DAY
