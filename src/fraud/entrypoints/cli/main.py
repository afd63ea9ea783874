"""The ``fraud`` command line."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click
import structlog

from fraud.containers import EMBEDDED, Process
from fraud.entrypoints.cli.access import audit, first_run, keys, users
from fraud.entrypoints.cli.bench import bench
from fraud.entrypoints.cli.canary import canary
from fraud.entrypoints.cli.cases import cases, queues
from fraud.entrypoints.cli.context import (
    CliContext,
    Commands,
    freeze_what_was_loaded,
    pass_context,
    serving_models,
)
from fraud.entrypoints.cli.database import db_backup, db_restore
from fraud.entrypoints.cli.features import features
from fraud.entrypoints.cli.kafka_commands import dlq, topics, worker
from fraud.entrypoints.cli.labels import export_labels, labels
from fraud.entrypoints.cli.lists import lists, webhooks
from fraud.entrypoints.cli.models import models
from fraud.entrypoints.cli.options import model_dir_option, out_option, progress
from fraud.entrypoints.cli.replay import evaluate, score
from fraud.entrypoints.cli.retrain import retrain
from fraud.entrypoints.cli.rules import rules
from fraud.entrypoints.cli.training import ensure_model, train
from fraud.owner_only import narrow_state_folder
from fraud.settings import BadSetting, Settings
from fraud.urls import masked

log = structlog.get_logger("fraud.cli")

RUN_THREADS = 32
READY_TIMEOUT_S = 60.0


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fraud")
@click.pass_context
def cli(click_ctx: click.Context) -> None:
    """Real-time card-transaction fraud detection."""
    from fraud.logs import configure_logging

    try:
        settings = Settings.from_env()
    except BadSetting as error:
        raise click.UsageError(str(error)) from None
    configure_logging(settings.log_format, settings.log_level)
    narrow_state_folder()  # var/ from before it was made owner-only
    click_ctx.obj = CliContext(settings)


@cli.group()
def db() -> None:
    """Database schema (Alembic migrations), backups and restores."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_context
def db_upgrade(ctx: CliContext, revision: str) -> None:
    """Migrate the database to REVISION."""
    ctx.container.migrator().upgrade(revision)
    click.echo(f"database {ctx.settings.database_shown} is at {revision}")


@cli.command()
@click.option("--samples", type=click.IntRange(min=1), required=True)
@out_option("CSV to write: DESIGN.md's columns plus is_fraud.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--fraud-rate", type=click.FloatRange(0.0, 0.5), default=0.005, show_default=True)
@pass_context
def simulate(ctx: CliContext, samples: int, out: Path, seed: int, fraud_rate: float) -> None:
    """Write labelled synthetic transactions to a CSV file."""
    container = ctx.container
    with progress(samples, "simulating", bar=ctx.interactive) as done:
        rows = container.simulator().simulate(
            samples, seed=seed, fraud_rate=fraud_rate, progress=done
        )
    container.labelled_files().write_labelled(out, rows)
    frauds = sum(row.is_fraud for row in rows)
    click.echo(f"wrote {len(rows)} transactions ({frauds} fraudulent) to {out}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=RUN_THREADS,
    show_default=True,
    help="Requests served at once (a waited answer holds one while it waits).",
)
@model_dir_option
@pass_context
def run(ctx: CliContext, host: str, port: int, threads: int, model_dir: Path | None) -> None:
    """API and every pipeline stage in one process, on the embedded bus."""
    from fraud.entrypoints.http.app import create_app
    from fraud.entrypoints.http.server import threaded_server

    container = ctx.open(
        Process(
            pipeline=EMBEDDED,
            model_dir=model_dir,
            migrate=True,
            interactive=ctx.interactive,
            makes_archive_key=True,  # on a single host's first start, when none is set
        )
    )
    container.broker_check()  # refused credentials stop here, before any model is loaded
    ensure_model(ctx, container)
    container.init_resources()
    in_force = serving_models(container, model_dir)  # before accepting traffic
    outbox = container.outbox()
    container.republish_pending()()  # the embedded bus lost what was between the stages
    outbox.start()
    webhook_sender = container.webhook_delivery()  # decisions' events, off the pipeline's thread
    webhook_sender.start()
    pipeline = container.pipeline()
    server = threaded_server(create_app(container), host, port, threads)
    stopping = threading.Event()

    def shut_down(signum: int, _: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("shutting down", signal=signal.Signals(signum).name)
            threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    url = f"http://{host}:{server.bind_addr[1]}"
    first_run(ctx, container, url)
    pipeline.start()  # warms the stages up first: no transaction meets a cold start
    freeze_what_was_loaded()
    pipeline.wait_until_ready(READY_TIMEOUT_S)
    log_started(ctx.settings, url, in_force.champion.version)
    try:
        server.serve()
    finally:
        # The embedded bus dies with the process: finish what was accepted first.
        outbox.stop()
        if not pipeline.drain():
            log.warning("stopping with work in flight; it is published again on the next start")
        pipeline.stop()
        webhook_sender.stop()
        container.shutdown_resources()
        log.info("service stopped")


def log_started(settings: Settings, url: str, model_version: str) -> None:
    """`fraud run`'s banner: where it answers and what it runs on, every password masked."""
    log.info(
        "service started",
        url=url,
        broker=settings.broker,
        database=settings.database_shown,
        rate_limit_storage=masked(settings.rate_limit_storage),
        model_version=model_version,
    )


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=5000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=8, show_default=True)
@model_dir_option
@pass_context
def serve(
    ctx: CliContext, host: str, port: int, workers: int, threads: int, model_dir: Path | None
) -> None:
    """The HTTP API alone under granian; the pipeline runs in `fraud worker` processes.

    It loads no model: the dashboard shows the registry's champion, which the workers load.
    """
    if ctx.settings.broker == "memory":
        raise click.UsageError(
            "`fraud serve` publishes to Kafka for separate workers to consume; with "
            "FRAUD_BROKER=memory nothing would consume what it accepts. Set FRAUD_BROKER=kafka, "
            "or use `fraud run` for the API and pipeline in one process."
        )
    from fraud.entrypoints.http.server import metrics_shared_by_workers, serve_with_granian

    with metrics_shared_by_workers():  # before any metric is made: every process counts there
        container = ctx.open(Process(migrate=True))  # once, before the workers fork
        container.broker_check()  # refused credentials stop here, not in every worker
        first_run(ctx, container, f"http://{host}:{port}")
        if model_dir is not None:  # the server's workers build their app from the environment
            os.environ["FRAUD_MODEL_DIR"] = str(model_dir)
        serve_with_granian(host=host, port=port, workers=workers, threads=threads)


db.add_command(db_backup)
db.add_command(db_restore)
cli.add_command(train)
cli.add_command(topics)
cli.add_command(worker)
cli.add_command(dlq)
cli.add_command(evaluate)
cli.add_command(features)
cli.add_command(score)
cli.add_command(bench)
cli.add_command(export_labels)
cli.add_command(labels)
cli.add_command(keys)
cli.add_command(users)
cli.add_command(audit)
cli.add_command(rules)
models.add_command(canary)
cli.add_command(models)
cli.add_command(retrain)
cli.add_command(queues)
cli.add_command(cases)
cli.add_command(lists)
cli.add_command(webhooks)


def main() -> None:
    cli(prog_name="fraud")


if __name__ == "__main__":
    sys.exit(main())
