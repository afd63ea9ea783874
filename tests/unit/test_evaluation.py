from __future__ import annotations

import pytest

from fraud.domain.evaluation import (
    at_review_budget,
    average_precision,
    recall_at_fpr,
    roc_auc,
    summarize,
    threshold_at_fpr,
)
from tests.factories import txn

LABELS = [True, False, True, False, False]
SCORES = [0.9, 0.8, 0.7, 0.3, 0.1]


def test_average_precision_matches_the_step_wise_definition() -> None:
    # Ranked: T(0.9) F(0.8) T(0.7): precision 1 at recall .5, 2/3 at recall 1.
    assert average_precision(LABELS, SCORES) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_roc_auc_counts_correctly_ordered_pairs() -> None:
    # Of 6 fraud/legit pairs, only (0.7 vs 0.8) is misordered.
    assert roc_auc(LABELS, SCORES) == pytest.approx(5 / 6)


def test_ties_count_half() -> None:
    assert roc_auc([True, False], [0.5, 0.5]) == pytest.approx(0.5)


def test_perfect_ranking() -> None:
    labels = [True, True, False, False]
    scores = [0.9, 0.8, 0.2, 0.1]
    assert average_precision(labels, scores) == roc_auc(labels, scores) == 1.0
    assert recall_at_fpr(labels, scores, 0.0) == 1.0


def test_threshold_at_fpr_flags_no_more_legitimate_than_allowed() -> None:
    labels = [False] * 100 + [True] * 5
    scores = [i / 100 for i in range(100)] + [0.995] * 5
    threshold = threshold_at_fpr(labels, scores, 0.02)
    pairs = zip(labels, scores, strict=True)
    flagged_legit = sum(1 for label, score in pairs if not label and score >= threshold)
    assert flagged_legit == 2
    assert recall_at_fpr(labels, scores, 0.02) == 1.0


def test_summary_reports_rates() -> None:
    summary = summarize(LABELS, SCORES)
    assert summary["rows"] == 5 and summary["frauds"] == 2
    assert summary["fraud_rate"] == pytest.approx(0.4)


def test_a_review_budget_takes_each_days_highest_scores_and_counts_the_money() -> None:
    # Day one: 3 transactions, the two highest reviewed (one fraud); day two: 2, both reviewed.
    rows = [(0, 100.0, "USD"), (0, 50.0, "USD"), (0, 70.0, "USD"), (1440, 10.0, "EUR")]
    rows.append((1445, 30.0, "USD"))
    transactions = [txn(i, minutes=m, amount=a, currency=c) for i, (m, a, c) in enumerate(rows)]
    labels = [True, False, True, True, False]
    scores = [0.9, 0.8, 0.1, 0.2, 0.3]
    figures = at_review_budget(labels, scores, transactions, per_day=2)
    assert figures["reviewed"] == 4
    assert figures["precision_at_budget"] == pytest.approx(2 / 4)
    assert figures["recall_at_budget"] == pytest.approx(2 / 3)
    assert figures["fraud_money_caught"] == {"USD": 100.0, "EUR": 10.0}
    assert figures["fraud_money_missed"] == {"USD": 70.0}


def test_a_review_budget_needs_a_transaction_per_score() -> None:
    with pytest.raises(ValueError, match="2 labels, 2 scores and 1 transactions"):
        at_review_budget([True, False], [0.5, 0.4], [txn(0)])
