"""`fraud models show` opens with a summary a person reads: what the model learnt from, what it
was judged on and how it did, the thresholds in force; --json keeps the whole card."""

from __future__ import annotations

from datetime import UTC, datetime

from fraud.application.models import ModelEntry
from fraud.domain.model import ModelInfo
from fraud.domain.policy import Thresholds
from fraud.domain.registry import ModelRole, RegisteredModel
from fraud.entrypoints.cli.models import summary

CARD = ModelInfo(
    version="20261206-035236-b00736f5",
    thresholds=Thresholds(review=0.3037, decline=0.823),
    trained_at="2026-12-06T03:52:36.123456+00:00",
    metrics={
        "average_precision": 0.57624,
        "roc_auc": 0.9315,
        "recall_at_1pct_fpr": 0.6267,
        "rows": 60_000.0,
        "frauds": 300.0,
        "fraud_rate": 0.005,
        "review_threshold_fpr": 0.01,
        "decline_threshold_fpr": 0.001,
    },
    data_fingerprint="b00736f59509a898" + "0" * 48,
    training_rows=15_000,
    trained_from="2025-01-01T00:00:12+00:00",
    trained_until="2025-01-30T23:59:01+00:00",
    judged_on="a later simulated period (seed 1007, from 2025-01-31), never trained on",
    baseline=tuple(0.5 for _ in range(36)),
)


def test_a_cards_summary_names_what_each_figure_is_and_what_it_rests_on() -> None:
    registered = RegisteredModel(CARD, datetime(2026, 12, 6, 3, 52, 36, tzinfo=UTC), "cli:ann")
    shown = summary(ModelEntry(registered, ModelRole.CHAMPION))
    lines = shown.splitlines()
    assert lines[0] == "model 20261206-035236-b00736f5  champion"
    assert "2026-12-06 03:52:36 UTC by cli:ann" in lines[1]
    assert "on 15,000 transactions from 2025-01-01 to 2025-01-30" in lines[2]
    joined = " ".join(shown.split())
    assert (
        "judged on a later simulated period (seed 1007, from 2025-01-31), never trained on: "
        "60,000 transactions, 300 frauds (0.50%)" in joined
    )
    assert "average precision 0.5762" in joined
    assert "review >= 0.3037, decline >= 0.8230" in joined
    assert "fraud models show 20261206-035236-b00736f5 --json" in lines[-1]
    assert len(lines) < 20 and "0.5, 0.5" not in shown  # no baseline, no raw numbers
    assert max(len(line) for line in lines) <= 100


def test_a_cards_summary_gives_what_its_review_budget_found_as_the_dashboard_does() -> None:
    metrics = {
        **CARD.metrics,
        "review_budget_per_day": 100.0,
        "precision_at_budget": 0.6347,
        "recall_at_budget": 0.9021,
        "fraud_money_caught": {"USD": 147_168.4, "EUR": 80.0},
        "fraud_money_missed": {"USD": 12_004.25},
    }
    card = ModelInfo.from_dict({**CARD.to_dict(), "metrics": metrics})
    registered = RegisteredModel(card, datetime(2026, 12, 6, 3, 52, 36, tzinfo=UTC), "cli:ann")
    joined = " ".join(summary(ModelEntry(registered, ModelRole.CHAMPION)).split())
    assert "at review budget 100 reviews/day: precision 0.635, recall 0.902" in joined
    assert "fraud money caught USD 147,168.40 + EUR 80.00" in joined
    assert "fraud money missed USD 12,004.25" in joined


def test_an_older_card_without_budget_figures_says_nothing_of_them() -> None:
    registered = RegisteredModel(CARD, datetime(2026, 12, 6, 3, 52, 36, tzinfo=UTC), "cli:ann")
    assert "money" not in summary(ModelEntry(registered, ModelRole.CHAMPION))
