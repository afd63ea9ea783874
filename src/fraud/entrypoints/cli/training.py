"""`fraud train`: data from a file or the simulator, a model saved with its card, a report."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import click
import structlog

from fraud.application.models import Registration
from fraud.application.training import (
    DEFAULT_LABEL_DELAY,
    HOLDOUT_RATIO,
    HeldOut,
    TrainingPlan,
    simulated,
)
from fraud.containers import Container, Process
from fraud.domain.errors import NoLocalArchiveKeyYet
from fraud.domain.model import LabelledTransaction, ModelInfo
from fraud.entrypoints.cli.context import BadInput, CliContext, cli_actor, pass_context
from fraud.entrypoints.cli.options import (
    data_option,
    label_delay_option,
    model_dir_option,
    on_invalid_option,
    progress,
    read_rows,
)
from fraud.entrypoints.cli.replay import money

log = structlog.get_logger(__name__)

DEFAULT_SAMPLES = 15_000
DEFAULT_EPOCHS = 20
DEFAULT_SEED = 7


@click.command()
@click.option(
    "--samples",
    type=click.IntRange(min=100),
    default=None,
    help=f"Train on this many simulated transactions (8% fraud), judged on a later simulated "
    f"period {HOLDOUT_RATIO} times as long (0.5% fraud, another seed) "
    f"[default: {DEFAULT_SAMPLES}].",
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
    unsigned = _no_key_yet(container)  # before training: a deployment with no key stops here
    holdout: HeldOut | None = None
    if data is not None:
        files = container.labelled_files()
        examples = read_rows(
            data, lambda skipped: files.read_labelled(data, skipped=skipped), on_invalid
        )
    else:
        examples, holdout = _simulated(ctx, container, samples or DEFAULT_SAMPLES, seed)
    plan = TrainingPlan(
        epochs=epochs,
        label_delay=label_delay or DEFAULT_LABEL_DELAY,
        processes=os.cpu_count() or 1,
    )
    info = _trained(container, examples, plan, holdout, seed=seed)
    where = f"model {info.version} saved to {container.config.model_dir()}"
    if unsigned is not None:
        saved = (
            f"{where}, not registered: {unsigned}, and registers the model directory's "
            "model as the champion when the registry has none"
        )
    else:
        registration = _register(container, info)
        role = (
            "the champion (the first model registered)"
            if registration.champion
            else f"a candidate: `fraud models promote {info.version}` puts it in charge"
        )
        saved = f"{where} and registered as {role}"
    metrics = info.metrics
    click.echo(
        f"{saved}\n"
        f"  judged on {info.judged_on}: {int(metrics['rows']):,} transactions, "
        f"{int(metrics['frauds']):,} frauds\n"
        f"  average precision (PR-AUC) {metrics['average_precision']:.4f}  "
        f"ROC-AUC {metrics['roc_auc']:.4f}  "
        f"recall at 1% FPR {metrics['recall_at_1pct_fpr']:.4f}\n"
        f"  at {int(metrics['review_budget_per_day'])} reviews a day: precision "
        f"{metrics['precision_at_budget']:.4f}, fraud money caught "
        f"{money(metrics['fraud_money_caught'])}, missed {money(metrics['fraud_money_missed'])}\n"
        f"  thresholds: review >= {info.thresholds.review:.4f}, "
        f"decline >= {info.thresholds.decline:.4f}"
    )


def ensure_model(ctx: CliContext, container: Container) -> None:
    """Train the default model when neither the registry nor the model directory has one,
    so `fraud run` just works.

    The service reports it in log events only (the training logs its figures)."""
    container.archive_seal()  # made on a single host's first start; missing, stops it here
    if container.model_queries().roles().champion is not None or container.model_store().exists():
        return
    log.info("no model found, training the default one", model_dir=container.config.model_dir())
    examples, holdout = _simulated(ctx, container, DEFAULT_SAMPLES, DEFAULT_SEED)
    plan = TrainingPlan(epochs=DEFAULT_EPOCHS)
    info = _trained(container, examples, plan, holdout, seed=DEFAULT_SEED)
    _register(container, info)


def _no_key_yet(container: Container) -> NoLocalArchiveKeyYet | None:
    """Why a model cannot be registered yet, on a single host whose `fraud run` has not made
    its archive key: it is trained and saved, and that first start registers it. Anywhere
    else a missing key stops the command before it trains (``ArchiveKeyUnavailable``)."""
    try:
        container.archive_seal()
    except NoLocalArchiveKeyYet as missing:
        return missing
    return None


def _trained(
    container: Container,
    examples: list[LabelledTransaction],
    plan: TrainingPlan,
    holdout: HeldOut | None,
    *,
    seed: int,
) -> ModelInfo:
    """The model trained and saved; the features' progress shown (the networks' own, epoch
    by epoch, comes from the trainer)."""
    train_model = container.train_model(trainer=container.trainer(seed=seed))
    try:
        with progress(len(examples), "features", bar=container.config.interactive()) as done:
            return train_model(examples, plan, holdout, done)
    except ValueError as error:
        raise BadInput(str(error)) from None


def _register(container: Container, info: ModelInfo) -> Registration:
    return container.register_model()(info, container.model_store().archive(), cli_actor())


def _simulated(
    ctx: CliContext, container: Container, count: int, seed: int
) -> tuple[list[LabelledTransaction], HeldOut]:
    """Training rows and a later period to judge on, both simulated."""
    log.info("simulating labelled transactions", samples=count, seed=seed)
    with progress(count * (1 + HOLDOUT_RATIO), "simulating", bar=ctx.interactive) as done:
        return simulated(container.simulator(), count, seed, done)
