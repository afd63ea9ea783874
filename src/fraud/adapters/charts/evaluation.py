"""The evaluation report's pictures: the precision-recall curve and the score histogram."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

from fraud.domain.evaluation import precision_recall_curve
from fraud.domain.policy import Thresholds


class MatplotlibCharts:
    """The ``EvaluationCharts`` port: PNG files drawn with matplotlib."""

    def precision_recall(
        self, labels: Sequence[bool], scores: Sequence[float], path: Path, *, title: str
    ) -> Path:
        curve = precision_recall_curve(labels, scores)
        figure, axes = plt.subplots(figsize=(6, 5), dpi=110)
        if curve:
            recall = [0.0] + [point[0] for point in curve]
            precision = [curve[0][1]] + [point[1] for point in curve]
            axes.step(recall, precision, where="post", color="#1565c0", linewidth=2)
        base_rate = sum(labels) / len(labels) if labels else 0.0
        axes.axhline(
            base_rate, color="#9e9e9e", linestyle="--", label=f"fraud rate {base_rate:.2%}"
        )
        axes.set(xlabel="recall (share of frauds caught)", ylabel="precision", title=title)
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.02)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower left")
        return _save(figure, path)

    def score_histogram(
        self,
        labels: Sequence[bool],
        scores: Sequence[float],
        path: Path,
        *,
        thresholds: Thresholds,
        title: str,
    ) -> Path:
        figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
        bins = [i / 50 for i in range(51)]
        legitimate = [s for s, label in zip(scores, labels, strict=True) if not label]
        frauds = [s for s, label in zip(scores, labels, strict=True) if label]
        axes.hist(
            legitimate,
            bins=bins,
            color="#2e7d32",
            alpha=0.7,
            label=f"legitimate ({len(legitimate)})",
        )
        axes.hist(frauds, bins=bins, color="#c62828", alpha=0.7, label=f"fraud ({len(frauds)})")
        axes.set_yscale("log")
        for value, name, colour in (
            (thresholds.review, "review", "#ef8f00"),
            (thresholds.decline, "decline", "#6a1b9a"),
        ):
            axes.axvline(value, color=colour, linestyle="--", label=f"{name} >= {value:.3f}")
        axes.set(xlabel="fraud score", ylabel="transactions (log scale)", title=title)
        axes.legend()
        return _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
