"""`fraud retrain`: a candidate trained on the stored transactions and the labels known,
registered, and backtested against the champion on the most recent labelled period."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from fraud.application.retrain import DEFAULT_HOLDOUT, Backtest, NotEnoughHistory, RetrainPlan
from fraud.application.training import DEFAULT_LABEL_DELAY, TrainingPlan
from fraud.containers import Process
from fraud.domain.errors import ModelNotFound
from fraud.domain.transaction import format_instant, parse_instant
from fraud.entrypoints.cli.context import BadInput, CliContext, cli_actor, pass_context
from fraud.entrypoints.cli.options import Duration, label_delay_option
from fraud.entrypoints.cli.training import DEFAULT_EPOCHS, DEFAULT_SEED

METRICS = (
    ("AP", "average_precision"),
    ("ROC-AUC", "roc_auc"),
    ("recall@1%FPR", "recall_at_1pct_fpr"),
)


class Instant(click.ParamType):
    """An ISO 8601 instant with a time zone."""

    name = "instant"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_instant(str(value))
        except ValueError as error:
            self.fail(f"{value!r}: {error} (ISO 8601 with a time zone, e.g. 2026-12-01T00:00Z)")


@click.command()
@click.option(
    "--since",
    type=Duration(),
    default="60d",
    show_default=True,
    metavar="DURATION",
    help="Learn from the transactions of this span before --until.",
)
@click.option(
    "--until",
    type=Instant(),
    default=None,
    metavar="INSTANT",
    help="The end of the span, and what is known by then [default: now].",
)
@click.option(
    "--holdout",
    type=Duration(),
    default=f"{DEFAULT_HOLDOUT.days}d",
    show_default=True,
    metavar="DURATION",
    help="The most recent labelled period: backtested on, never learnt from.",
)
@label_delay_option(
    "How long labels take to come: older unlabelled transactions count as legitimate, newer "
    "ones are left out [default: 7d]."
)
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULT_EPOCHS, show_default=True)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option(
    "--promote-if-better",
    "margin",
    type=click.FloatRange(min=0.0),
    default=None,
    metavar="MARGIN",
    help="Promote the candidate when its backtest AP beats the champion's by MARGIN (e.g. 0.01).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the backtest as JSON to this file.",
)
@pass_context
def retrain(
    ctx: CliContext,
    since: timedelta,
    until: datetime | None,
    holdout: timedelta,
    label_delay: timedelta | None,
    epochs: int,
    seed: int,
    margin: float | None,
    report: Path | None,
) -> None:
    """Train a candidate on what the service has stored, register it, and backtest it
    against the champion; it is promoted only with --promote-if-better (or by a person)."""
    plan = RetrainPlan(
        since=since,
        until=until,
        holdout=holdout,
        training=TrainingPlan(epochs=epochs, label_delay=label_delay or DEFAULT_LABEL_DELAY),
        promote_if_better=margin,
    )
    container = ctx.open(Process(migrate=True, interactive=ctx.interactive))
    with tempfile.TemporaryDirectory(prefix="fraud-candidate-") as scratch:
        store = container.model_store_at(directory=str(Path(scratch) / "model"))
        retrain_model = container.retrain_model(
            train=container.train_model(trainer=container.trainer(seed=seed), store=store),
            store=store,
        )
        try:
            done = retrain_model(plan, cli_actor())
        except (NotEnoughHistory, ModelNotFound) as refused:  # a champion refused, too
            raise BadInput(str(refused)) from None
    version = done.registration.model.version
    if done.registration.champion:
        outcome = "the champion: there was none"
    elif done.promoted:
        outcome = f"promoted: its AP beats the champion's by {margin} or more"
    elif margin is not None:
        outcome = f"not promoted: its AP does not beat the champion's by {margin}"
    else:
        outcome = f"a candidate: `fraud models promote {version}` puts it in charge"
    click.echo(f"model {version} registered, {outcome}")
    _say(done.backtest, version)
    if report is not None:
        report.write_text(json.dumps(_as_json(done.backtest, version), indent=2) + "\n")


def _say(backtest: Backtest, candidate: str) -> None:
    click.echo(
        f"backtest {format_instant(backtest.period_from)} to "
        f"{format_instant(backtest.period_until)}: {backtest.rows} transactions, "
        f"{backtest.frauds} frauds"
    )
    rows = [("candidate", candidate, backtest.candidate)]
    if backtest.champion is not None:
        rows.insert(0, ("champion", backtest.champion_version or "", backtest.champion))
    width = max(len(f"{role} {version}") for role, version, _ in rows)
    click.echo("  " + " " * width + "".join(f"{name:>14}" for name, _ in METRICS))
    for role, version, figures in rows:
        cells = "".join(f"{figures[key]:>14.4f}" for _, key in METRICS)
        click.echo(f"  {f'{role} {version}':<{width}}{cells}")


def _as_json(backtest: Backtest, candidate: str) -> dict[str, Any]:
    return {
        "candidate": candidate,
        "champion": backtest.champion_version,
        "period": {
            "from": format_instant(backtest.period_from),
            "until": format_instant(backtest.period_until),
        },
        "rows": backtest.rows,
        "frauds": backtest.frauds,
        "figures": {"candidate": backtest.candidate, "champion": backtest.champion},
    }
