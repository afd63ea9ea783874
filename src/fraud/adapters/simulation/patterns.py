"""Fraud patterns, injected into victims' timelines while the victims go on living.

Each pattern is how a known kind of fraud looks from the card issuer's side:

- account takeover: someone logs in with stolen credentials and spends fast,
  online, from a device type the owner does not use;
- card testing: tiny purchases check that stolen card numbers work, then the
  good ones are cashed out on something resellable;
- cloned card: a skimmed copy of the card is used in shops away from the owner,
  while the owner keeps paying at home;
- a card used again: a cloned card in shops, then days later the same card online,
  which only the card's confirmed fraud ties to the first;
- a quiet one: a single high-value online purchase on the owner's usual device,
  which only the amount and the new merchant give away;
- a card that never reached its holder: stolen from the post, a new card is spent on
  resellable goods before its holder's own first purchase, so the card's first
  transactions are the fraudster's (big, away from home, nothing to compare with).

A merchant compromised for weeks (``compromise``) is fraud of a third kind: nothing in
its purchases, only the labels of its earlier ones.

Every transaction of an incident is fraud. Apart from the quiet one, each
pattern breaks several of the victim's habits at once, but each broken habit
alone is also something legitimate customers do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from random import Random

from fraud.adapters.simulation.catalogue import Catalogue, Merchant
from fraud.adapters.simulation.drafts import DAY, HOUR, MINUTE, Draft, money
from fraud.adapters.simulation.population import ONLINE_DEVICES, CardHolder

Enact = Callable[[CardHolder, float, int, Catalogue, Random], list[Draft]]


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    weight: float
    smallest: int
    largest: int
    enact: Enact


def _fraud(
    victim: CardHolder,
    at: float,
    amount: float,
    merchant: Merchant,
    device: str,
    location_match: bool,
    currency: str | None = None,
) -> Draft:
    return Draft(
        at=at,
        user_id=victim.user_id,
        amount=money(amount),
        merchant=merchant.name,
        merchant_type=merchant.merchant_type,
        device_type=device,
        location_match=location_match,
        currency=currency or victim.currency,
        is_fraud=True,
    )


def _new_merchant(victim: CardHolder, candidates: list[Merchant], rng: Random) -> Merchant:
    """A merchant the victim has no habit of using."""
    regular = {m.name for merchants in victim.regulars.values() for m in merchants}
    for _ in range(20):
        merchant = rng.choice(candidates)
        if merchant.name not in regular:
            return merchant
    return merchant


def _foreign_device(victim: CardHolder, rng: Random) -> str:
    """A device type the victim never uses, or failing that the one they use least."""
    unused = [device for device in ONLINE_DEVICES if device not in victim.known_devices()]
    if unused:
        return rng.choice(unused)
    return rng.choice([device for device in ONLINE_DEVICES if device != victim.devices[0]])


def _within(at: float, span: float, count: int, rng: Random) -> list[float]:
    """``count`` moments from ``at`` onwards, spread over at most ``span`` seconds."""
    return [at, *sorted(at + rng.uniform(MINUTE, span) for _ in range(count - 1))]


def account_takeover(
    victim: CardHolder, at: float, size: int, catalogue: Catalogue, rng: Random
) -> list[Draft]:
    device = _foreign_device(victim, rng)
    location_match = rng.random() >= 0.55  # a proxy near the victim hides the mismatch
    shops = catalogue.online + catalogue.online_cash_out
    return [
        _fraud(
            victim,
            moment,
            victim.typical_amount * rng.uniform(3, 10),
            _new_merchant(victim, shops, rng),
            device,
            location_match,
        )
        for moment in _within(at, 30 * MINUTE, size, rng)
    ]


def card_testing(
    victim: CardHolder, at: float, size: int, catalogue: Catalogue, rng: Random
) -> list[Draft]:
    cash_outs = 1 if size <= 4 else rng.randint(1, 2)
    tests = size - cash_outs
    device = rng.choice(ONLINE_DEVICES)
    location_match = rng.random() >= 0.6
    drafts = [
        _fraud(
            victim,
            moment,
            rng.uniform(0.5, 2.99),
            _new_merchant(victim, catalogue.online, rng),
            device,
            location_match,
        )
        for moment in _within(at, 20 * MINUTE, tests, rng)
    ]
    cash_out_at = drafts[-1].at + rng.uniform(10 * MINUTE, 3 * HOUR)
    for moment in _within(cash_out_at, 30 * MINUTE, cash_outs, rng):
        amount = max(victim.typical_amount * rng.uniform(5, 15), rng.uniform(150, 900))
        merchant = _new_merchant(victim, catalogue.online_cash_out, rng)
        drafts.append(_fraud(victim, moment, amount, merchant, device, location_match))
    return drafts


def cloned_card(
    victim: CardHolder, at: float, size: int, catalogue: Catalogue, rng: Random
) -> list[Draft]:
    # Shops are open in daytime wherever the copy is used, a few time zones from the victim.
    day = at - at % DAY
    local_hour = rng.uniform(9, 18) - victim.utc_offset + rng.uniform(-4, 4)
    start = max(day + local_hour * HOUR, victim.active_from)
    currency = rng.choice(("EUR", "GBP", "CAD", "USD")) if rng.random() < 0.3 else None
    shops = catalogue.in_person_shops + catalogue.in_person_cash_out
    return [
        _fraud(
            victim,
            moment,
            victim.typical_amount * rng.uniform(2, 8),
            _new_merchant(victim, shops, rng),
            "pos",
            False,
            currency,
        )
        for moment in _within(start, rng.uniform(1, 5) * HOUR, size, rng)
    ]


def quiet_purchase(
    victim: CardHolder, at: float, size: int, catalogue: Catalogue, rng: Random
) -> list[Draft]:
    day = at - at % DAY
    moment = max(day + (victim.local_hour(rng) - victim.utc_offset) * HOUR, victim.active_from)
    return [
        _fraud(
            victim,
            moment,
            victim.typical_amount * rng.uniform(4, 12),
            _new_merchant(victim, catalogue.online + catalogue.online_cash_out, rng),
            victim.devices[0],
            True,
        )
    ]


def card_used_again(
    victim: CardHolder, at: float, size: int, catalogue: Catalogue, rng: Random
) -> list[Draft]:
    """A copied card used in shops, then, days later, when the first frauds are confirmed
    but the card still works, online: only the card's confirmed fraud connects the two."""
    first = size // 2
    shops = cloned_card(victim, at, first, catalogue, rng)
    later = shops[-1].at + rng.uniform(2 * DAY, 10 * DAY)
    device = rng.choice(ONLINE_DEVICES)
    online = [
        _fraud(
            victim,
            moment,
            victim.typical_amount * rng.uniform(1, 4),
            _new_merchant(victim, catalogue.online + catalogue.online_cash_out, rng),
            device,
            True,
        )
        for moment in _within(later, 2 * HOUR, size - first, rng)
    ]
    return [*shops, *online]


def never_received(
    victim: CardHolder, at: float, size: int, catalogue: Catalogue, rng: Random
) -> list[Draft]:
    """A new card taken from the post: spent within hours, days before its holder's own
    first purchase (``at`` is ignored: the card's first days decide when)."""
    start = max(0.0, victim.active_from - rng.uniform(0.5, 3) * DAY)
    online = rng.random() < 0.45
    shops = catalogue.online_cash_out if online else catalogue.in_person_cash_out
    device = rng.choice(ONLINE_DEVICES) if online else "pos"
    location_match = rng.random() < 0.25  # sometimes spent near the holder's address
    return [
        _fraud(
            victim,
            moment,
            rng.uniform(800, 5_000),
            rng.choice(shops),
            device,
            location_match,
        )
        for moment in _within(start, rng.uniform(1, 6) * HOUR, size, rng)
    ]


PATTERNS: tuple[Pattern, ...] = (
    Pattern("account takeover", 0.22, 3, 8, account_takeover),
    Pattern("card testing", 0.18, 4, 8, card_testing),
    Pattern("cloned card", 0.18, 2, 5, cloned_card),
    Pattern("card used again", 0.13, 4, 8, card_used_again),
    Pattern("never received", 0.12, 1, 4, never_received),
    Pattern("quiet purchase", 0.17, 1, 1, quiet_purchase),
)
QUIET = PATTERNS[-1]
NEVER_RECEIVED = PATTERNS[-2]


def inject_fraud(
    victims: list[CardHolder], frauds: int, period: float, catalogue: Catalogue, rng: Random
) -> list[Draft]:
    """Incidents until exactly ``frauds`` fraudulent purchases exist.

    The first incidents go through every pattern once so that even a small
    sample shows each; after that patterns come by weight. An incident that
    would overshoot the count is shortened, or replaced by the quiet pattern.
    A card that never reached its holder is a new card: its victims are the card
    holders who join during the period, each once.
    """
    newcomers = [victim for victim in victims if victim.active_from > DAY]
    rng.shuffle(newcomers)
    queue: list[CardHolder] = []
    drafts: list[Draft] = []
    incident = 0
    while len(drafts) < frauds:
        remaining = frauds - len(drafts)
        if incident < len(PATTERNS):
            pattern = PATTERNS[incident]
        else:
            pattern = rng.choices(PATTERNS, [p.weight for p in PATTERNS])[0]
        if pattern is NEVER_RECEIVED and not newcomers:
            pattern = QUIET
        if pattern.smallest > remaining:
            pattern = QUIET
        if pattern is NEVER_RECEIVED:
            victim = newcomers.pop()
        else:
            if not queue:
                queue = victims.copy()
                rng.shuffle(queue)
            victim = queue.pop()
        size = min(rng.randint(pattern.smallest, pattern.largest), remaining)
        lowest = victim.active_from + min(3 * DAY, (period - victim.active_from) / 4)
        incident_drafts = pattern.enact(victim, rng.uniform(lowest, period), size, catalogue, rng)
        drafts.extend(_within_period(incident_drafts, victim, period, rng))
        incident += 1
    return drafts


def _within_period(
    drafts: list[Draft], victim: CardHolder, period: float, rng: Random
) -> list[Draft]:
    """An incident running past the period's end, moved earlier as a whole to keep its shape."""
    last = max(draft.at for draft in drafts)
    if last < period:
        return drafts
    overflow = last - period + rng.uniform(MINUTE, 6 * HOUR)
    return [replace(d, at=max(victim.active_from, d.at - overflow)) for d in drafts]
