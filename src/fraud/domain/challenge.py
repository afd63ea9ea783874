"""Champion against challenger on the same transactions: what each would have flagged, and
how each does on the labels known so far.

Both models are held to one review budget, the number of transactions the champion
flagged: each model's top that many by score are what it would send to analysts, so a
challenger cannot look better by flagging more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fraud.domain.assessment import Decision
from fraud.domain.evaluation import average_precision


@dataclass(frozen=True, slots=True)
class Scored:
    """One transaction both models scored: each one's score and decision, and its label
    (None: not labelled yet)."""

    champion_score: float
    champion_decision: Decision
    challenger_score: float
    challenger_decision: Decision
    is_fraud: bool | None


@dataclass(frozen=True, slots=True)
class ModelFigures:
    """How one model does at the shared review budget, on the labels known.

    ``precision``: of its top ``budget`` transactions that are labelled, the share confirmed
    fraud; ``recall``: of the labelled frauds, the share in its top ``budget``;
    ``average_precision`` over the labelled transactions. None where nothing is labelled."""

    precision: float | None
    recall: float | None
    average_precision: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    scored: int
    labelled: int
    frauds: int
    budget: int  # reviews: what the champion flagged
    decisions_changed: int  # transactions the challenger would have decided otherwise
    champion: ModelFigures
    challenger: ModelFigures


def compare(rows: Sequence[Scored]) -> Comparison:
    budget = sum(row.champion_decision is not Decision.APPROVE for row in rows)
    labelled = [row for row in rows if row.is_fraud is not None]
    frauds = sum(bool(row.is_fraud) for row in labelled)
    return Comparison(
        scored=len(rows),
        labelled=len(labelled),
        frauds=frauds,
        budget=budget,
        decisions_changed=sum(row.champion_decision != row.challenger_decision for row in rows),
        champion=_figures(rows, labelled, frauds, budget, lambda row: row.champion_score),
        challenger=_figures(rows, labelled, frauds, budget, lambda row: row.challenger_score),
    )


def _figures(
    rows: Sequence[Scored],
    labelled: Sequence[Scored],
    frauds: int,
    budget: int,
    score: Callable[[Scored], float],
) -> ModelFigures:
    top = sorted(rows, key=score, reverse=True)[:budget]
    known = [row for row in top if row.is_fraud is not None]
    caught = sum(bool(row.is_fraud) for row in known)
    labels = [bool(row.is_fraud) for row in labelled]
    return ModelFigures(
        precision=caught / len(known) if known else None,
        recall=caught / frauds if frauds else None,
        average_precision=(
            average_precision(labels, [score(row) for row in labelled])
            if 0 < frauds < len(labelled)
            else None
        ),
    )
