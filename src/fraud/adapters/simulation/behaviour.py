"""Legitimate purchases: everyday habits plus the surprises real customers cause.

The surprises matter as much as the habits. People travel (days of purchases
away from home at shops they never used), buy a television, get a new laptop,
try a new restaurant, pay for parking at 2 a.m., run several errands in an
hour, and start a new card with the purchase they opened it for. Without them every
fraud signal would be clean and a model trained here would flood analysts with false
alarms on real traffic.
"""

from __future__ import annotations

import math
from random import Random

from fraud.adapters.simulation.catalogue import TYPE_LEVEL, UNUSUAL_LEVEL, Catalogue, Merchant
from fraud.adapters.simulation.drafts import DAY, HOUR, MINUTE, Draft, money
from fraud.adapters.simulation.population import ONLINE_DEVICES, CardHolder, Trip

ERRAND_CHANCE = 0.12  # a session of 2-4 purchases within the hour
BIG_PURCHASE_CHANCE = 0.004
UNUSUAL_MERCHANT_CHANCE = 0.01  # merchant types outside the known list
STRAY_DEVICE_CHANCE = 0.003  # a borrowed laptop, a partner's tablet
STRAY_MISMATCH_CHANCE = 0.006  # a shop just across the border, a misplaced IP address
LATE_NIGHT_CHANCE = 0.015
# A new card's first purchase is often the one it was opened for (a phone, a laptop, a
# flight), online and at times from elsewhere (the office, a VPN): what a card that never
# reached its holder looks like too (patterns.never_received), so neither gives the other away.
NEW_CARD_BIG_START_CHANCE = 0.45
NEW_CARD_ELSEWHERE_CHANCE = 0.5
NEW_CARD_BIG_START_TYPICAL = 900.0  # a phone or a flight, whatever the holder's habits
TRIP_SPENDING = (
    ("restaurant", 0.4),
    ("retail", 0.2),
    ("travel", 0.15),
    ("entertainment", 0.1),
    ("gas", 0.1),
    ("grocery", 0.05),
)
_TRIP_TYPES = tuple(t for t, _ in TRIP_SPENDING)
_TRIP_WEIGHTS = tuple(w for _, w in TRIP_SPENDING)
_PRICE_POINTS = (0.99, 1.99, 2.75, 2.99, 3.5, 4.25)


def legitimate_purchases(
    holder: CardHolder, count: int, period: float, catalogue: Catalogue, rng: Random
) -> list[Draft]:
    """Exactly ``count`` purchases by ``holder`` over the period, in no particular order."""
    drafts = [
        _booking(holder, trip, catalogue, rng)
        for trip in holder.trips
        if trip.start - 2 * DAY > holder.active_from
    ][:count]
    if holder.active_from > 0 and len(drafts) < count and rng.random() < NEW_CARD_BIG_START_CHANCE:
        drafts.append(_first_big_purchase(holder, catalogue, rng))
    while len(drafts) < count:
        at = _session_start(holder, period, rng)
        errands = 1 if rng.random() >= ERRAND_CHANCE else rng.randint(2, 4)
        for _ in range(min(errands, count - len(drafts))):
            trip = holder.trip_at(at)
            if trip is None:
                drafts.append(_home_purchase(holder, at, catalogue, rng))
            else:
                drafts.append(_trip_purchase(holder, at, trip, catalogue, rng))
            at += rng.uniform(4, 40) * MINUTE
            if at >= period:
                break  # the rest of this errand run falls after the period
    return drafts


def _session_start(holder: CardHolder, period: float, rng: Random) -> float:
    """A moment in the holder's active days at an hour their rhythm (in their time zone) likes."""
    day = math.floor(rng.uniform(holder.active_from, period) / DAY)
    late_night = rng.random() < LATE_NIGHT_CHANCE
    hour = rng.uniform(0, 5) if late_night else holder.local_hour(rng)
    at = day * DAY + (hour - holder.utc_offset) * HOUR
    if at >= period:
        at -= DAY
    if at < holder.active_from:
        at += DAY
    return min(max(at, holder.active_from), period - 1)


def _home_purchase(holder: CardHolder, at: float, catalogue: Catalogue, rng: Random) -> Draft:
    roll = rng.random()
    typical = holder.typical_amount
    merchant: Merchant
    if roll < holder.small_share:
        merchant = rng.choice(catalogue.small)
        amount = rng.choice(_PRICE_POINTS) if rng.random() < 0.4 else rng.uniform(0.99, 6.5)
    elif roll < holder.small_share + BIG_PURCHASE_CHANCE:
        merchant = rng.choice(catalogue.big)
        amount = typical * rng.uniform(5, 20)
    elif roll < holder.small_share + BIG_PURCHASE_CHANCE + UNUSUAL_MERCHANT_CHANCE:
        merchant = rng.choice(catalogue.unusual)
        amount = typical * UNUSUAL_LEVEL * rng.lognormvariate(0, holder.spread)
    else:
        spending_type = holder.spending_type(rng)
        if rng.random() < holder.novelty:
            merchant = rng.choice(catalogue.everyday[spending_type])
        else:
            regulars = holder.regulars[spending_type]
            merchant = regulars[min(int(rng.expovariate(0.9)), len(regulars) - 1)]
        amount = typical * TYPE_LEVEL[spending_type] * rng.lognormvariate(0, holder.spread)
    return Draft(
        at=at,
        user_id=holder.user_id,
        amount=money(amount),
        merchant=merchant.name,
        merchant_type=merchant.merchant_type,
        device_type=_device(holder, merchant, at, rng),
        location_match=rng.random() >= STRAY_MISMATCH_CHANCE,
        currency=holder.currency,
    )


def _trip_purchase(
    holder: CardHolder, at: float, trip: Trip, catalogue: Catalogue, rng: Random
) -> Draft:
    """Away from home: new shops, a bit more spent, in the local currency when abroad."""
    spending_type = rng.choices(_TRIP_TYPES, _TRIP_WEIGHTS)[0]
    merchant = rng.choice(catalogue.trip[spending_type])
    amount = holder.typical_amount * TYPE_LEVEL[spending_type] * 1.3
    return Draft(
        at=at,
        user_id=holder.user_id,
        amount=money(amount * rng.lognormvariate(0, holder.spread)),
        merchant=merchant.name,
        merchant_type=merchant.merchant_type,
        device_type=_device(holder, merchant, at, rng),
        location_match=False,
        currency=trip.currency,
    )


def _first_big_purchase(holder: CardHolder, catalogue: Catalogue, rng: Random) -> Draft:
    """The purchase a new card was opened for, online within hours of its first day."""
    at = holder.active_from + rng.uniform(0, 3) * HOUR
    merchant = rng.choice([merchant for merchant in catalogue.big if merchant.online])
    return Draft(
        at=at,
        user_id=holder.user_id,
        amount=money(min(4_000.0, rng.lognormvariate(math.log(NEW_CARD_BIG_START_TYPICAL), 0.7))),
        merchant=merchant.name,
        merchant_type=merchant.merchant_type,
        device_type=holder.online_device(at, rng),
        location_match=rng.random() >= NEW_CARD_ELSEWHERE_CHANCE,
        currency=holder.currency,
    )


def _booking(holder: CardHolder, trip: Trip, catalogue: Catalogue, rng: Random) -> Draft:
    """The flight or train booked days or weeks before a trip: big, online, legitimate."""
    at = rng.uniform(max(holder.active_from, trip.start - 40 * DAY), trip.start - 2 * DAY)
    merchant = rng.choice(catalogue.bookings)
    return Draft(
        at=at,
        user_id=holder.user_id,
        amount=money(max(60.0, holder.typical_amount * rng.uniform(3, 12))),
        merchant=merchant.name,
        merchant_type=merchant.merchant_type,
        device_type=holder.online_device(at, rng),
        location_match=True,
        currency=holder.currency,
    )


def _device(holder: CardHolder, merchant: Merchant, at: float, rng: Random) -> str:
    if not merchant.online:
        return holder.in_person_device(rng)
    if rng.random() < STRAY_DEVICE_CHANCE:
        return rng.choice(ONLINE_DEVICES)
    return holder.online_device(at, rng)
