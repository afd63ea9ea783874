"""Which kind of fraud each confirmed fraud is, and which of them a model's reviews find.

The Fraud Detection Handbook's data makes frauds three ways (its README): a large amount
(over 220) on any card, a skimmed terminal (every purchase there for 28 days) and a
compromised customer (a third of their purchases for 14 days, at five times the amount).
The file carries no scenario column, so each fraud's kind is read back from the labels,
for the error analysis only (never a feature: it looks at frauds after the purchase):

* ``terminal``: another card's fraud at the same merchant within 28 days either side;
* ``customer``: otherwise, another fraud on the same card within 14 days either side;
* ``large amount``: otherwise, an amount over 220;
* ``other``: none of these (the simulator's frauds, or the handbook's stray ones).

And the genuine purchases a model's reviews spend themselves on, by what the labels known
at the purchase said of its terminal (``terminal_stages``): none of its purchases confirmed
fraud, or its first confirmed fraud under three weeks, three to four, or four weeks or more
before. A skimming lasts four weeks and its labels come a week late, so the last stage holds
the purchases made once it ended, which the labels cannot yet tell from the skimmed ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

import numpy as np

from fraud.domain.label_risk import MERCHANT_MEMORY
from fraud.domain.model import LabelledTransaction
from fraud.domain.transaction import Transaction
from fraud.domain.windows import DAY

TERMINAL_SPAN = timedelta(days=28)
CUSTOMER_SPAN = timedelta(days=14)
LARGE_AMOUNT = 220.0
SCENARIOS = ("terminal", "customer", "large amount", "other")
# How long ago a terminal's first confirmed fraud was: the edges of the stages between.
FIRST_FRAUD_WEEKS = (3, 4)
STAGES = (
    "no confirmed fraud known",
    "first fraud under 3 weeks before",
    "first fraud 3 to 4 weeks before",
    "first fraud 4 weeks or more before",
)


def scenarios(examples: Sequence[LabelledTransaction]) -> dict[str, str | None]:
    """Each row's scenario by transaction id (None for a genuine purchase), from the frauds
    around it."""
    frauds = [e.transaction for e in examples if e.is_fraud]
    at_merchant: dict[str, list[Transaction]] = defaultdict(list)
    on_card: dict[str, list[Transaction]] = defaultdict(list)
    for fraud in frauds:
        at_merchant[fraud.merchant].append(fraud)
        on_card[fraud.user_id].append(fraud)

    def kind(fraud: Transaction) -> str:
        if any(
            other.user_id != fraud.user_id
            and abs(other.timestamp - fraud.timestamp) <= TERMINAL_SPAN
            for other in at_merchant[fraud.merchant]
        ):
            return "terminal"
        if any(
            other.transaction_id != fraud.transaction_id
            and abs(other.timestamp - fraud.timestamp) <= CUSTOMER_SPAN
            for other in on_card[fraud.user_id]
        ):
            return "customer"
        return "large amount" if fraud.amount > LARGE_AMOUNT else "other"

    return {
        e.transaction.transaction_id: kind(e.transaction) if e.is_fraud else None for e in examples
    }


def reviewed(transactions: Sequence[Transaction], scores: np.ndarray, per_day: int) -> np.ndarray:
    """Whether each row is among its day's (UTC) ``per_day`` highest scores, ties in input
    order: the reviews of :func:`fraud.domain.evaluation.at_review_budget`."""
    days = np.asarray([t.timestamp.toordinal() for t in transactions])
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores), days))
    rank_in_day = np.empty(len(order), dtype=np.int64)
    for day_rows in np.split(order, np.flatnonzero(np.diff(days[order])) + 1):
        rank_in_day[day_rows] = np.arange(len(day_rows))
    return rank_in_day < per_day


def breakdown(
    kinds: Sequence[str | None],
    transactions: Sequence[Transaction],
    found: dict[str, np.ndarray],
) -> list[dict[str, object]]:
    """Per scenario: its frauds and money, and for each model (``found``: its reviews) the
    frauds and money caught, and the frauds it caught that the first model missed and the
    other way round."""
    rows: list[dict[str, object]] = []
    amounts = np.asarray([t.amount for t in transactions])
    for scenario in SCENARIOS:
        mask = np.asarray([k == scenario for k in kinds])
        if not mask.any():
            continue
        row: dict[str, object] = {
            "scenario": scenario,
            "frauds": int(mask.sum()),
            "money": round(float(amounts[mask].sum()), 2),
        }
        first = next(iter(found.values()))
        for model, caught in found.items():
            hits = mask & caught
            row[model] = {
                "caught": int(hits.sum()),
                "recall": float(hits.sum() / mask.sum()),
                "money_caught": round(float(amounts[hits].sum()), 2),
                "caught_first_missed": int((hits & ~first).sum()),
                "missed_first_caught": int((mask & first & ~caught).sum()),
            }
        rows.append(row)
    return rows


def terminal_stages(since_first_fraud: np.ndarray, since_latest_fraud: np.ndarray) -> np.ndarray:
    """Each purchase's terminal stage (:data:`STAGES`), from its features: the seconds since
    the terminal's first and latest purchases confirmed fraud, as known by then."""
    known = np.asarray(since_latest_fraud) < MERCHANT_MEMORY
    weeks = np.digitize(np.asarray(since_first_fraud) / (7 * DAY), FIRST_FRAUD_WEEKS)
    return np.where(known, np.asarray(STAGES)[1:][weeks], STAGES[0])


def false_alarms(
    stages: np.ndarray, labels: np.ndarray, found: dict[str, np.ndarray]
) -> list[dict[str, object]]:
    """Per terminal stage: its genuine purchases, and for each model (``found``: its reviews)
    how many of its reviews were spent there and how many of those on genuine purchases."""
    genuine = ~np.asarray(labels, dtype=bool)
    rows: list[dict[str, object]] = []
    for stage in STAGES:
        mask = stages == stage
        row: dict[str, object] = {"stage": stage, "genuine": int((mask & genuine).sum())}
        for model, reviews in found.items():
            row[model] = {
                "reviewed": int((mask & reviews).sum()),
                "false_alarms": int((mask & reviews & genuine).sum()),
            }
        rows.append(row)
    return rows
