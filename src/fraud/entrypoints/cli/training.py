"""`fraud train`: data from a file or the simulator, a model saved with its card, a report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
import structlog

from fraud.application.models import Registration
from fraud.application.training import DEFAULT_LABEL_DELAY, TrainingPlan
from fraud.containers import Container, Process
from fraud.domain.model import LabelledTransaction
from fraud.entrypoints.cli.context import BadInput, CliContext, cli_actor, pass_context
from fraud.entrypoints.cli.options import (
    data_option,
    label_delay_option,
    model_dir_option,
    on_invalid_option,
    progress,
    read_rows,
)

log = structlog.get_logger(__name__)

DEFAULT_SAMPLES = 15_000
DEFAULT_EPOCHS = 20
DEFAULT_SEED = 7


@click.command()
@click.option(
    "--samples",
    type=click.IntRange(min=100),
    default=None,
    help=f"Train on this many simulated transactions [default: {DEFAULT_SAMPLES}].",
)
@data_option("Train on a labelled CSV file (DESIGN.md's columns plus is_fraud).", required=False)
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULT_EPOCHS, show_default=True)
@label_delay_option(
    "When a row's label became known, where the file has no labelled_at: this long after "
    "the purchase [default: 7d]. Features use only labels known at each row's time."
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@on_invalid_option
@model_dir_option
@pass_context
def train(
    ctx: CliContext,
    samples: int | None,
    data: Path | None,
    epochs: int,
    label_delay: timedelta | None,
    seed: int,
    on_invalid: str,
    model_dir: Path | None,
) -> None:
    """Train a model, save it with its metrics and thresholds, and register it (the first
    model registered becomes the champion; a later one waits for `fraud models promote`)."""
    if samples is not None and data is not None:
        raise click.UsageError("give either --samples or --data, not both")
    container = ctx.open(Process(model_dir=model_dir, migrate=True, interactive=ctx.interactive))
    if data is not None:
        files = container.labelled_files()
        examples = read_rows(
            data, lambda skipped: files.read_labelled(data, skipped=skipped), on_invalid
        )
    else:
        examples = _simulated(ctx, container, samples or DEFAULT_SAMPLES, seed)
    plan = TrainingPlan(epochs=epochs, label_delay=label_delay or DEFAULT_LABEL_DELAY)
    registration = _train(container, examples, plan, seed=seed)
    info = registration.model.info
    metrics = info.metrics
    role = (
        "the champion (the first model registered)"
        if registration.champion
        else f"a candidate: `fraud models promote {info.version}` puts it in charge"
    )
    click.echo(
        f"model {info.version} saved to {container.config.model_dir()} and registered as "
        f"{role}\n"
        f"  validation: {int(metrics['rows'])} transactions, {int(metrics['frauds'])} frauds\n"
        f"  average precision (PR-AUC) {metrics['average_precision']:.4f}  "
        f"ROC-AUC {metrics['roc_auc']:.4f}  "
        f"recall at 1% FPR {metrics['recall_at_1pct_fpr']:.4f}\n"
        f"  thresholds: review >= {info.thresholds.review:.4f}, "
        f"decline >= {info.thresholds.decline:.4f}"
    )


def ensure_model(ctx: CliContext, container: Container) -> None:
    """Train the default model when neither the registry nor the model directory has one,
    so `fraud run` just works.

    The service reports it in log events only (the training logs its figures)."""
    if container.model_queries().roles().champion is not None or container.model_store().exists():
        return
    log.info("no model found, training the default one", model_dir=container.config.model_dir())
    examples = _simulated(ctx, container, DEFAULT_SAMPLES, DEFAULT_SEED)
    _train(container, examples, TrainingPlan(epochs=DEFAULT_EPOCHS), seed=DEFAULT_SEED)


def _train(
    container: Container, examples: list[LabelledTransaction], plan: TrainingPlan, *, seed: int
) -> Registration:
    train_model = container.train_model(trainer=container.trainer(seed=seed))
    try:
        info = train_model(examples, plan)
    except ValueError as error:
        raise BadInput(str(error)) from None
    return container.register_model()(info, container.model_store().archive(), cli_actor())


def _simulated(
    ctx: CliContext, container: Container, count: int, seed: int
) -> list[LabelledTransaction]:
    log.info("simulating labelled transactions", samples=count, seed=seed)
    with progress(count, "simulating", bar=ctx.interactive) as done:
        return container.simulator().simulate(count, seed=seed, fraud_rate=0.005, progress=done)
