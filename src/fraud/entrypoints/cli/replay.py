"""`fraud evaluate` and `fraud score`: a labelled or plain file through the stream's scoring."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from fraud.application.training import known_labels
from fraud.containers import Container, Process
from fraud.domain.errors import BadDataFile
from fraud.domain.evaluation import REVIEW_BUDGET_PER_DAY
from fraud.domain.label_risk import LabelEvent, label_events
from fraud.domain.ports import LabelledFiles
from fraud.domain.transaction import Transaction
from fraud.entrypoints.cli.context import CliContext, load_model, pass_context
from fraud.entrypoints.cli.options import (
    data_option,
    label_delay_option,
    labels_option,
    model_dir_option,
    on_invalid_option,
    out_option,
    processes_option,
    progress,
    read_rows,
)

Row = TypeVar("Row")


def _read_then_load(
    ctx: CliContext,
    model_dir: Path | None,
    data: Path,
    on_invalid: str,
    read: Callable[[LabelledFiles, list[BadDataFile] | None], list[Row]],
) -> tuple[Container, list[Row]]:
    """The file's rows, then the model: a broken file is refused with its lines, fields and
    rules before anything is loaded; a missing model says how to train one."""
    container = ctx.open(Process(model_dir=model_dir, interactive=ctx.interactive))
    files = container.labelled_files()
    rows = read_rows(data, lambda skipped: read(files, skipped), on_invalid)
    load_model(container)
    return container, rows


def _label_events(
    container: Container,
    labels: Path | None,
    transactions: Sequence[Transaction],
    on_invalid: str,
) -> list[LabelEvent]:
    """The label file's labels of these transactions, as the stream would receive them."""
    if labels is None:
        return []
    files = container.labelled_files()
    known = read_rows(
        labels, lambda skipped: files.read_labels(labels, skipped=skipped), on_invalid
    )
    events, unknown = label_events(transactions, known)
    if unknown:
        click.echo(
            f"{labels}: {unknown} labels name no transaction of the data; left out", err=True
        )
    return events


@dataclass(frozen=True, slots=True)
class LabelsKnown:
    """What labels the features know: a label file's, or the data's own a delay late; with
    neither, none."""

    file: Path | None
    delay: timedelta | None


def labels_known(command: Callable[..., None]) -> Callable[..., None]:
    """``--labels`` and ``--label-delay``, which exclude each other, as one parameter:
    ``known``."""

    @functools.wraps(command)
    def merged(
        *args: Any, labels: Path | None, label_delay: timedelta | None, **kwargs: Any
    ) -> None:
        if labels is not None and label_delay is not None:
            raise click.UsageError("give either --labels or --label-delay, not both")
        command(*args, known=LabelsKnown(labels, label_delay), **kwargs)

    return labels_option(
        label_delay_option(
            "Let the features know the file's own labels, each this long after its purchase "
            "(or at its labelled_at): the stream a label delay behind. Without it or --labels, "
            "no label is known."
        )(merged)
    )


@click.command()
@data_option("Labelled CSV: DESIGN.md's columns plus is_fraud.")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write metrics.json and the charts [default: var/evaluation/<file>].",
)
@labels_known
@click.option(
    "--review-budget",
    type=click.IntRange(min=1),
    default=REVIEW_BUDGET_PER_DAY,
    show_default=True,
    metavar="N",
    help="Reviews a day: precision and the frauds' money are counted for the N highest "
    "scores of each day (UTC).",
)
@on_invalid_option
@processes_option
@model_dir_option
@pass_context
def evaluate(
    ctx: CliContext,
    data: Path,
    report_dir: Path | None,
    known: LabelsKnown,
    review_budget: int,
    on_invalid: str,
    processes: int,
    model_dir: Path | None,
) -> None:
    """AP (PR-AUC), ROC-AUC, recall at 1% FPR, and what a review budget of the top N a day
    catches (precision, the frauds' money caught and missed) of the model on a labelled
    file."""
    container, examples = _read_then_load(
        ctx, model_dir, data, on_invalid, lambda f, skipped: f.read_labelled(data, skipped=skipped)
    )
    events = (
        known_labels(examples, known.delay)
        if known.delay is not None
        else _label_events(container, known.file, [e.transaction for e in examples], on_invalid)
    )
    with progress(len(examples), "scoring", bar=ctx.interactive) as done:
        result = container.evaluate_model()(examples, done, events, processes, review_budget)
    metrics, model = result.metrics, result.model
    report_dir = report_dir or Path("var/evaluation") / data.stem
    title = f"model {model.version} on {data.name}"
    charts = container.charts()
    pr_curve = charts.precision_recall(
        result.labels, result.scores, report_dir / "pr_curve.png", title=title
    )
    histogram = charts.score_histogram(
        result.labels,
        result.scores,
        report_dir / "score_histogram.png",
        thresholds=model.thresholds,
        title=title,
    )
    (report_dir / "metrics.json").write_text(
        json.dumps(
            {
                "model_version": model.version,
                "data": str(data),
                **metrics,
                "decisions": result.decisions,
                "fraud_money_by_decision": result.fraud_money,
            },
            indent=2,
        )
        + "\n"
    )
    click.echo(
        f"{data}: {int(metrics['rows'])} transactions, {int(metrics['frauds'])} frauds "
        f"({metrics['fraud_rate']:.3%}), model {model.version}\n"
        f"  average precision (PR-AUC)  {metrics['average_precision']:.4f}\n"
        f"  ROC-AUC                     {metrics['roc_auc']:.4f}\n"
        f"  recall at 1% FPR            {metrics['recall_at_1pct_fpr']:.4f}\n"
        f"  at {review_budget} reviews a day: precision {metrics['precision_at_budget']:.4f}, "
        f"recall {metrics['recall_at_budget']:.4f} ({int(metrics['reviewed']):,} reviewed)\n"
        f"    fraud money caught {money(metrics['fraud_money_caught'])}, "
        f"missed {money(metrics['fraud_money_missed'])}"
    )
    for kind, counts in result.decisions.items():
        shown = ", ".join(f"{counts.get(d, 0)} {d}" for d in ("approve", "review", "decline"))
        click.echo(f"  {kind:<11} {shown}")
    taken = result.fraud_money
    click.echo(
        "  fraud money by decision: "
        + ", ".join(f"{d} {money(taken.get(d, {}))}" for d in ("decline", "review", "approve"))
    )
    click.echo(f"  charts: {pr_curve}, {histogram}")


def money(amounts: dict[str, float]) -> str:
    """Sums per currency as a fraud team reads them: "USD 1,234.50 + EUR 80.00"."""
    return " + ".join(f"{currency} {amount:,.2f}" for currency, amount in amounts.items()) or "0"


@click.command()
@data_option("CSV of transactions in DESIGN.md's columns (is_fraud, if present, is ignored).")
@out_option("CSV to write: transaction_id, fraud_score, decision, reasons.")
@labels_option
@on_invalid_option
@processes_option
@model_dir_option
@pass_context
def score(
    ctx: CliContext,
    data: Path,
    out: Path,
    labels: Path | None,
    on_invalid: str,
    processes: int,
    model_dir: Path | None,
) -> None:
    """Replay a file in timestamp order from empty state, as the stream would score it."""
    container, transactions = _read_then_load(
        ctx,
        model_dir,
        data,
        on_invalid,
        lambda f, skipped: f.read_transactions(data, skipped=skipped),
    )
    known = _label_events(container, labels, transactions, on_invalid)
    with progress(len(transactions), "scoring", bar=ctx.interactive) as done:
        verdicts = container.score_transactions()(transactions, done, known, processes)
    written = container.labelled_files().write_verdicts(out, verdicts)
    click.echo(f"scored {written} transactions into {out}")
