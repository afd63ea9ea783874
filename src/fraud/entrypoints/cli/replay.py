"""`fraud evaluate` and `fraud score`: a labelled or plain file through the stream's scoring."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click
from tqdm import tqdm

from fraud.application.replay import evaluate as evaluate_file
from fraud.application.replay import score_transactions
from fraud.entrypoints.cli.context import BadInput, CliContext, load_model, pass_context
from fraud.entrypoints.cli.options import model_dir_option, use_model_dir

SCORE_COLUMNS = ("transaction_id", "fraud_score", "decision", "reasons")


def _read(path: Path, *, labelled: bool):  # type: ignore[no-untyped-def]
    from fraud.adapters.csv.labelled import BadLabelledFile, read_labelled, read_transactions

    try:
        return read_labelled(path) if labelled else read_transactions(path)
    except BadLabelledFile as error:
        raise BadInput(str(error)) from None


def _progress(total: int, what: str) -> tqdm:
    return tqdm(total=total, unit="txn", desc=what, unit_scale=True, leave=False)


@click.command()
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Labelled CSV: DESIGN.md's columns plus is_fraud.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write metrics.json and the charts [default: var/evaluation/<file>].",
)
@model_dir_option
@pass_context
def evaluate(ctx: CliContext, data: Path, report_dir: Path | None, model_dir: Path | None) -> None:
    """AP (PR-AUC), ROC-AUC and recall at 1% FPR of the model on a labelled file."""
    from fraud.adapters.charts.evaluation import plot_precision_recall, plot_score_histogram

    use_model_dir(ctx, model_dir)
    examples = _read(data, labelled=True)
    container = ctx.container
    model = load_model(container)
    with _progress(len(examples), "scoring") as bar:
        result = evaluate_file(examples, model, container.policy(), container.clock(), bar.update)
    metrics = result.metrics
    report_dir = report_dir or Path("var/evaluation") / data.stem
    title = f"model {model.info.version} on {data.name}"
    pr_curve = plot_precision_recall(
        result.labels, result.scores, report_dir / "pr_curve.png", title=title
    )
    histogram = plot_score_histogram(
        result.labels,
        result.scores,
        report_dir / "score_histogram.png",
        thresholds=model.info.thresholds,
        title=title,
    )
    (report_dir / "metrics.json").write_text(
        json.dumps(
            {
                "model_version": model.info.version,
                "data": str(data),
                **metrics,
                "decisions": result.decisions,
            },
            indent=2,
        )
        + "\n"
    )
    click.echo(
        f"{data}: {int(metrics['rows'])} transactions, {int(metrics['frauds'])} frauds "
        f"({metrics['fraud_rate']:.3%}), model {model.info.version}\n"
        f"  average precision (PR-AUC)  {metrics['average_precision']:.4f}\n"
        f"  ROC-AUC                     {metrics['roc_auc']:.4f}\n"
        f"  recall at 1% FPR            {metrics['recall_at_1pct_fpr']:.4f}"
    )
    for kind, counts in result.decisions.items():
        shown = ", ".join(f"{counts.get(d, 0)} {d}" for d in ("approve", "review", "decline"))
        click.echo(f"  {kind:<11} {shown}")
    click.echo(f"  charts: {pr_curve}, {histogram}")


@click.command()
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV of transactions in DESIGN.md's columns (is_fraud, if present, is ignored).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@model_dir_option
@pass_context
def score(ctx: CliContext, data: Path, out: Path, model_dir: Path | None) -> None:
    """Replay a file in timestamp order from empty state, as the stream would score it."""
    use_model_dir(ctx, model_dir)
    transactions = _read(data, labelled=False)
    container = ctx.container
    model = load_model(container)
    with _progress(len(transactions), "scoring") as bar:
        records = score_transactions(
            transactions, model, container.policy(), container.clock(), bar.update
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SCORE_COLUMNS)
        for record in records:
            assert record.assessment is not None
            writer.writerow(
                (
                    record.transaction.transaction_id,
                    repr(record.assessment.fraud_score),
                    record.assessment.decision.value,
                    "; ".join(record.assessment.reasons),
                )
            )
    click.echo(f"scored {len(records)} transactions into {out}")
