"""Training from the command line: data from a file or the simulator, a report at the end."""

from __future__ import annotations

from pathlib import Path

import click
import structlog

from fraud.application.training import TrainingPlan, train_model
from fraud.containers import Container
from fraud.domain.model import LabelledTransaction, ModelInfo
from fraud.entrypoints.cli.context import BadInput

log = structlog.get_logger(__name__)

DEFAULT_SAMPLES = 15_000
DEFAULT_EPOCHS = 20


def load_examples(samples: int | None, data: Path | None, seed: int) -> list[LabelledTransaction]:
    if data is not None:
        from fraud.adapters.csv.labelled import BadLabelledFile, read_labelled

        try:
            return read_labelled(data)
        except BadLabelledFile as error:
            raise BadInput(f"{data}: {error}") from None
    from fraud.adapters.simulation.simulator import simulate

    count = samples or DEFAULT_SAMPLES
    click.echo(f"simulating {count} labelled transactions (seed {seed})", err=True)
    return simulate(count, seed=seed, progress=True)


def train_and_report(
    container: Container, *, samples: int | None, data: Path | None, epochs: int, seed: int
) -> ModelInfo:
    examples = load_examples(samples, data, seed)
    store = container.model_store()
    try:
        info = train_model(
            examples,
            container.trainer(seed=seed),
            store,
            container.clock(),
            TrainingPlan(epochs=epochs),
        )
    except ValueError as error:
        raise BadInput(str(error)) from None
    metrics = info.metrics
    click.echo(
        f"model {info.version} saved to {container.config.model_dir()}\n"
        f"  validation: {int(metrics['rows'])} transactions, {int(metrics['frauds'])} frauds\n"
        f"  average precision (PR-AUC) {metrics['average_precision']:.4f}  "
        f"ROC-AUC {metrics['roc_auc']:.4f}  "
        f"recall at 1% FPR {metrics['recall_at_1pct_fpr']:.4f}\n"
        f"  thresholds: review >= {info.thresholds.review:.4f}, "
        f"decline >= {info.thresholds.decline:.4f}"
    )
    return info


def ensure_model(container: Container) -> None:
    """Train the default model when the model directory has none, so `fraud run` just works."""
    store = container.model_store()
    if store.exists():
        return
    log.info("no model found, training the default one", model_dir=container.config.model_dir())
    train_and_report(container, samples=DEFAULT_SAMPLES, data=None, epochs=DEFAULT_EPOCHS, seed=7)
