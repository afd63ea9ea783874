"""Fraud that only labels give away: a compromised merchant.

A skimmer on a shop's terminal, or a breached web shop: for one to three weeks, about
half of the purchases there are made with copied cards. Each looks like any other
purchase at that shop (the Fraud Detection Handbook's compromised terminals); what gives
them away is the shop's own recent purchases, confirmed fraudulent days later.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from random import Random

from fraud.adapters.simulation.drafts import DAY, Draft

COMPROMISED_SHARE = 0.3  # of a sample's frauds, made at compromised merchants
SHORTEST, LONGEST = 7 * DAY, 21 * DAY
COPIED_SHARE = 0.5  # of a compromised merchant's purchases while it is
BUSY_MERCHANT = 20  # purchases over the period: a merchant worth compromising


def compromise_merchants(drafts: list[Draft], count: int, rng: Random) -> list[Draft]:
    """``drafts`` with exactly ``count`` legitimate ones (or all there are) turned into
    fraud: purchases at merchants while each was compromised, merchant after merchant."""
    at_merchant: dict[str, list[int]] = defaultdict(list)
    for index, draft in enumerate(drafts):
        if not draft.is_fraud:
            at_merchant[draft.merchant].append(index)
    busy = sorted(m for m, found in at_merchant.items() if len(found) >= BUSY_MERCHANT)
    rng.shuffle(busy)
    copied: set[int] = set()
    for merchant in busy:
        if len(copied) >= count:
            break
        purchases = sorted(at_merchant[merchant], key=lambda i: drafts[i].at)
        first = drafts[purchases[0]].at
        last = drafts[purchases[-1]].at
        start = rng.uniform(first, first + (last - first) * 2 / 3)
        end = start + rng.uniform(SHORTEST, LONGEST)
        for index in purchases:
            if start <= drafts[index].at < end and rng.random() < COPIED_SHARE:
                copied.add(index)
                if len(copied) == count:
                    break
    return [replace(d, is_fraud=True) if i in copied else d for i, d in enumerate(drafts)]
