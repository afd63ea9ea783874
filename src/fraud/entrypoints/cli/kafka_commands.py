"""Commands for the Kafka deployment: topics, workers and the dead-letter topic."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click
import structlog

from fraud.application.stream.dead_letters import UnknownDeadLetters
from fraud.application.stream.pipeline import ALL, DEFAULT_GROUP_PREFIX
from fraud.containers import EMBEDDED, Process
from fraud.entrypoints.cli.context import (
    CliContext,
    FullHelp,
    freeze_what_was_loaded,
    pass_context,
    serving_models,
)
from fraud.entrypoints.cli.options import model_dir_option
from fraud.urls import masked

log = structlog.get_logger("fraud.cli")

STAGE_CHOICES = ("preprocess", "score", "record", "all")


def _require_kafka(ctx: CliContext, command: str) -> None:
    if ctx.settings.broker != "kafka":
        raise click.UsageError(
            f"`fraud {command}` works on Kafka: set FRAUD_BROKER=kafka "
            f"(and FRAUD_KAFKA_BOOTSTRAP, default 127.0.0.1:9092)"
        )


def _require_topics(ctx: CliContext) -> None:
    """A topic missing (a deployment from before it existed) would have every message that
    publishes to it dead-lettered: refuse to start instead, and say what to run."""
    missing = ctx.container.topic_admin().missing_topics()
    if missing is None:
        log.warning("could not check the topics: the cluster does not answer yet")
    elif missing:
        raise click.ClickException(
            f"the cluster lacks {', '.join(missing)}: run `fraud topics create` "
            f"(with the same FRAUD_TOPIC_PREFIX; it keeps the topics that exist)"
        )


@click.group(cls=FullHelp)
def topics() -> None:
    """The pipeline's Kafka topics."""


@topics.command("create")
@click.option("--partitions", type=click.IntRange(min=1), default=6, show_default=True)
@click.option("--replication", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--retention-hours",
    type=click.IntRange(min=1),
    default=None,
    help="Retention of every topic but the state store, which is compacted instead "
    "[default: 7 days; 30 for dead letters].",
)
@pass_context
def topics_create(
    ctx: CliContext, partitions: int, replication: int, retention_hours: int | None
) -> None:
    """Create transactions, preprocessed-transactions, fraud-results, fraud-dlq, fraud-labels
    and the behaviour-state store (idempotent)."""
    outcomes = ctx.container.topic_admin().create_topics(
        partitions=partitions,
        replication=replication,
        retention_ms=retention_hours * 3600 * 1000 if retention_hours else None,
    )
    for outcome in outcomes:
        click.echo(f"{outcome.topic}: {outcome.detail}")


@click.command()
@click.option("--stage", type=click.Choice(STAGE_CHOICES), default="all", show_default=True)
@click.option(
    "--group",
    default=DEFAULT_GROUP_PREFIX,
    show_default=True,
    help="Consumer group prefix: each stage joins GROUP-<stage>.",
)
@click.option(
    "--probes",
    envvar="FRAUD_WORKER_PROBES",
    default="127.0.0.1:0",
    show_default=True,
    help="HOST:PORT where /health and /metrics answer [env FRAUD_WORKER_PROBES]; port 0: "
    "one the system picks, said in the log; 0.0.0.0:PORT in a container.",
)
@model_dir_option
@pass_context
def worker(ctx: CliContext, stage: str, group: str, probes: str, model_dir: Path | None) -> None:
    """Pipeline stage(s) consuming from Kafka; start several for more throughput.

    With --stage all (the default) one pass takes each batch through every stage. The
    worker says `worker ready` (and /health answers 200) once it is warm and holds its
    partitions; /metrics has its counters for a key with the metrics role."""
    from fraud.entrypoints.worker_probes import Probes, ProbeServer  # cheroot: workers only

    _require_kafka(ctx, "worker")
    stages = (stage,)
    container = ctx.open(
        Process(
            pipeline=EMBEDDED,
            stages=stages,
            group_prefix=group,
            model_dir=model_dir,
            migrate=bool({"score", "record", ALL} & set(stages)),  # rules and models live there
            interactive=ctx.interactive,
        )
    )
    container.init_resources()
    _require_topics(ctx)
    if {"score", ALL} & set(stages):
        serving_models(container, model_dir)  # before joining the group, not on the first batch
    pipeline = container.pipeline()

    def stop(signum: int, _: FrameType | None) -> None:
        log.info("stopping: finishing the batch in hand", signal=signal.Signals(signum).name)
        pipeline.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    probe_host, probe_port = _host_port(probes, "--probes")
    server = ProbeServer(
        Probes(pipeline, container.authenticate(), container.metrics().exposition),
        probe_host,
        probe_port,
    )
    server.start()
    pipeline.start()
    # A worker that records verdicts writes their webhook events: it sends them too, in a
    # thread of its own (several workers share the outbox: each delivery goes to one).
    webhook_sender = container.webhook_delivery() if {"record", ALL} & set(stages) else None
    if webhook_sender is not None:
        webhook_sender.start()
    freeze_what_was_loaded()
    log.info(
        "worker started",
        stages=list(stages),
        group=group,
        bootstrap=masked(ctx.settings.kafka_bootstrap),
        probes=f"http://{probe_host}:{server.port}",
    )
    try:
        # Said again after each rebalance, once the new partitions are settled on.
        said = 0
        while pipeline.alive() and not pipeline.stop_event.wait(0.05):
            settled = pipeline.settled()
            if settled is not None and settled > said:
                said = settled
                log.info(
                    "worker ready",
                    stages=list(stages),
                    partitions=pipeline.held_partitions(),
                    probes=f"http://{probe_host}:{server.port}",
                )
    finally:
        pipeline.stop()
        if webhook_sender is not None:
            webhook_sender.stop()
        server.stop()
        container.shutdown_resources()
    if not pipeline.stopped_cleanly():
        raise click.ClickException("a stage stopped on an error; see the log")


def _host_port(value: str, option: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"must be HOST:PORT, got {value!r}", param_hint=option)
    return host, int(port)


@click.group(cls=FullHelp)
def dlq() -> None:
    """Inspect and replay the dead-letter topic."""


@dlq.command("list")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@pass_context
def dlq_list(ctx: CliContext, limit: int) -> None:
    """What is in fraud-dlq and why."""
    _require_kafka(ctx, "dlq list")
    letters = ctx.container.list_dead_letters()(limit)
    if not letters:
        click.echo("fraud-dlq is empty")
    for view in letters:
        click.echo(
            f"{view.partition}:{view.offset}  stage={view.stage}  from={view.source}  "
            f"transaction_id={view.transaction_id or '-'}\n"
            f"    error: {view.error}\n    value: {view.preview}"
        )
    ctx.container.shutdown_resources()


@dlq.command("replay")
@click.option(
    "--offset",
    "offsets",
    multiple=True,
    metavar="PARTITION:OFFSET",
    help="A dead letter to replay (repeatable), as `fraud dlq list` shows it.",
)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@click.option(
    "--force", is_flag=True, help="Send letters again that an earlier replay already sent."
)
@pass_context
def dlq_replay(ctx: CliContext, offsets: tuple[str, ...], replay_all: bool, force: bool) -> None:
    """Send dead letters back to the topic they came from, once what broke them is fixed."""
    _require_kafka(ctx, "dlq replay")
    if not offsets and not replay_all:
        raise click.UsageError("name dead letters with --offset PARTITION:OFFSET, or use --all")
    positions = None if replay_all else {_position(text) for text in offsets}
    container = ctx.open(Process(migrate=True, interactive=ctx.interactive))
    try:
        replayed = container.replay_dead_letters()(positions, force=force)
    except UnknownDeadLetters as unknown:
        raise click.ClickException(str(unknown)) from None
    finally:
        container.shutdown_resources()
    click.echo(f"replayed {replayed.sent} dead letters to their source topics")
    if replayed.already_replayed:
        click.echo(
            f"{replayed.already_replayed} had been replayed already and were left alone "
            "(--force sends them again)"
        )


def _position(text: str) -> tuple[int, int]:
    try:
        partition, offset = text.split(":")
        return int(partition), int(offset)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not PARTITION:OFFSET", param_hint="--offset"
        ) from None
