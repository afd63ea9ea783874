"""How a fraud model is judged: ranking metrics and threshold choice on labelled scores.

Fraud is rare, so accuracy says nothing; average precision (the area under the
precision-recall curve) and recall at a fixed false-positive rate say how many
frauds are caught for how much friction put on good customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fraud.domain.transaction import Transaction


@dataclass(frozen=True, slots=True)
class _Ranked:
    """Scores high to low, with cumulative true and false positives at each distinct score."""

    thresholds: list[float]
    true_positives: list[int]
    false_positives: list[int]
    positives: int
    negatives: int


def _rank(labels: Sequence[bool], scores: Sequence[float]) -> _Ranked:
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels but {len(scores)} scores")
    pairs = sorted(zip(scores, labels, strict=True), key=lambda pair: -pair[0])
    thresholds: list[float] = []
    tps: list[int] = []
    fps: list[int] = []
    tp = fp = 0
    for i, (score, label) in enumerate(pairs):
        if label:
            tp += 1
        else:
            fp += 1
        if i + 1 == len(pairs) or pairs[i + 1][0] != score:
            thresholds.append(score)
            tps.append(tp)
            fps.append(fp)
    return _Ranked(thresholds, tps, fps, tp, fp)


@dataclass(frozen=True, slots=True)
class _OperatingPoint:
    threshold: float
    caught: int  # true positives at or above the threshold


def _operating_point(ranked: _Ranked, fpr: float) -> _OperatingPoint:
    """Walk down the ranked scores while the false positives stay within ``fpr``.

    When even the highest score flags too many legitimate transactions, the
    threshold is 1.0 and nothing is caught.
    """
    allowed = fpr * ranked.negatives
    threshold, caught = 1.0, 0
    for score, tp, fp in zip(
        ranked.thresholds, ranked.true_positives, ranked.false_positives, strict=True
    ):
        if fp > allowed:
            break
        threshold, caught = score, tp
    return _OperatingPoint(threshold, caught)


def average_precision(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """Area under the precision-recall curve (step-wise, as scikit-learn computes it)."""
    ranked = _rank(labels, scores)
    if ranked.positives == 0:
        return 0.0
    area = 0.0
    previous_recall = 0.0
    for tp, fp in zip(ranked.true_positives, ranked.false_positives, strict=True):
        recall = tp / ranked.positives
        area += (recall - previous_recall) * (tp / (tp + fp))
        previous_recall = recall
    return area


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """Probability that a random fraud scores above a random legitimate transaction."""
    ranked = _rank(labels, scores)
    if ranked.positives == 0 or ranked.negatives == 0:
        return 0.5
    area = 0.0
    previous_tp = previous_fp = 0
    for tp, fp in zip(ranked.true_positives, ranked.false_positives, strict=True):
        area += (fp - previous_fp) * (tp + previous_tp) / 2
        previous_tp, previous_fp = tp, fp
    return area / (ranked.positives * ranked.negatives)


def threshold_at_fpr(labels: Sequence[bool], scores: Sequence[float], fpr: float) -> float:
    """The lowest score threshold whose false-positive rate stays at or under ``fpr``."""
    return _operating_point(_rank(labels, scores), fpr).threshold


def recall_at_fpr(labels: Sequence[bool], scores: Sequence[float], fpr: float) -> float:
    """Share of frauds caught when at most ``fpr`` of legitimate transactions are flagged."""
    ranked = _rank(labels, scores)
    if ranked.positives == 0:
        return 0.0
    return _operating_point(ranked, fpr).caught / ranked.positives


def summarize(labels: Sequence[bool], scores: Sequence[float]) -> dict[str, float]:
    positives = sum(1 for label in labels if label)
    return {
        "average_precision": average_precision(labels, scores),
        "roc_auc": roc_auc(labels, scores),
        "recall_at_1pct_fpr": recall_at_fpr(labels, scores, 0.01),
        "rows": float(len(labels)),
        "frauds": float(positives),
        "fraud_rate": positives / len(labels) if labels else 0.0,
    }


def precision_recall_curve(
    labels: Sequence[bool], scores: Sequence[float]
) -> list[tuple[float, float, float]]:
    """(recall, precision, threshold) at each distinct score, from the highest threshold down."""
    ranked = _rank(labels, scores)
    if ranked.positives == 0:
        return []
    return [
        (tp / ranked.positives, tp / (tp + fp), threshold)
        for threshold, tp, fp in zip(
            ranked.thresholds, ranked.true_positives, ranked.false_positives, strict=True
        )
    ]


# Alerts a fraud team reviews a day, unless told otherwise: about 1% of the handbook's
# 9,500 transactions a day, a handful of analysts' work.
REVIEW_BUDGET_PER_DAY = 100


def at_review_budget(
    labels: Sequence[bool],
    scores: Sequence[float],
    transactions: Sequence[Transaction],
    per_day: int = REVIEW_BUDGET_PER_DAY,
) -> dict[str, Any]:
    """What a team that reviews the ``per_day`` highest scores of each day (UTC) finds, as
    fraud teams count it: the share of reviews that are fraud, the share of frauds reviewed,
    and the money of the frauds reviewed (caught) and not (missed), per currency.

    A budget, not a threshold: every day is reviewed to the same depth, so a day of many
    alerts cannot hide that most of its reviews were wasted.
    """
    if not len(labels) == len(scores) == len(transactions):
        raise ValueError(
            f"{len(labels)} labels, {len(scores)} scores and {len(transactions)} transactions"
        )
    by_day: dict[int, list[int]] = {}
    for i, transaction in enumerate(transactions):
        by_day.setdefault(transaction.timestamp.toordinal(), []).append(i)
    reviewed = [
        i
        for rows in by_day.values()
        for i in sorted(rows, key=lambda i: -scores[i])[:per_day]  # ties in input order
    ]
    caught = {i for i in reviewed if labels[i]}
    frauds = sum(1 for label in labels if label)
    money_caught: dict[str, float] = {}
    money_missed: dict[str, float] = {}
    for i, transaction in enumerate(transactions):
        if labels[i]:
            money = money_caught if i in caught else money_missed
            money[transaction.currency] = money.get(transaction.currency, 0.0) + transaction.amount
    return {
        "review_budget_per_day": float(per_day),
        "reviewed": float(len(reviewed)),
        "precision_at_budget": len(caught) / len(reviewed) if reviewed else 0.0,
        "recall_at_budget": len(caught) / frauds if frauds else 0.0,
        "fraud_money_caught": _rounded(money_caught),
        "fraud_money_missed": _rounded(money_missed),
    }


def _rounded(money: dict[str, float]) -> dict[str, float]:
    """Sums to the cent, largest first: a float sum of many amounts carries noise."""
    return {c: round(v, 2) for c, v in sorted(money.items(), key=lambda item: -item[1])}
