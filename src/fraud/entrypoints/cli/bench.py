"""``fraud bench``: the pipeline's throughput, latency and profile on the Kafka broker.

The benchmark itself is ``fraud.bench``: it drives real ``fraud worker``
processes on fresh topics and databases, as a user's deployment runs.
"""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from fraud.bench import PATHS, PHASES
from fraud.entrypoints.cli.context import CliContext, pass_context
from fraud.entrypoints.cli.options import model_dir_option


def _exit_on_signal(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _counts(_: click.Context, __: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list like 1,2") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("give one or more counts of at least 1, like 1,2")
    return counts


@click.command()
@click.option(
    "--transactions",
    type=click.IntRange(min=1_000),
    default=50_000,
    show_default=True,
    help="Transactions per throughput run (and for the broker ceiling).",
)
@click.option(
    "--workers",
    default="1,2",
    show_default=True,
    callback=_counts,
    help="Worker process counts to measure, comma-separated.",
)
@click.option(
    "--path",
    "paths",
    multiple=True,
    type=click.Choice(PATHS),
    default=PATHS,
    show_default=True,
    help="How the throughput runs' transactions arrive: kcat writing plain JSON (a direct "
    "producer) or the envelopes the API publishes. Repeat for both.",
)
@click.option("--partitions", type=click.IntRange(min=1), default=6, show_default=True)
@click.option(
    "--rate",
    type=click.IntRange(min=1),
    default=2_500,
    show_default=True,
    help="Offered load of the latency runs, transactions a second.",
)
@click.option("--duration", type=click.FloatRange(min=1.0), default=10.0, show_default=True)
@click.option(
    "--latency-workers",
    default="1,2",
    show_default=True,
    callback=_counts,
    help="Worker process counts of the latency runs, comma-separated.",
)
@click.option(
    "--profile-transactions",
    type=click.IntRange(min=0),
    default=20_000,
    show_default=True,
    help="Transactions through the profiled in-process worker (0 skips the profile).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="The workers' batch size [default: $FRAUD_BATCH_SIZE or 500].",
)
@click.option(
    "--worker-log-level",
    type=click.Choice(["debug", "info", "warning"]),
    default="info",
    show_default=True,
    help="The workers' log level (debug logs a line per transaction in every stage).",
)
@click.option("--skip", multiple=True, type=click.Choice(PHASES), help="Leave a phase out.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=10.0),
    default=300.0,
    show_default=True,
    help="Longest wait for a run's verdicts, in seconds.",
)
@click.option(
    "--settle",
    type=click.FloatRange(min=0.0),
    default=60.0,
    show_default=True,
    help="Longest wait, before each run, for other work on the machine to finish.",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Throughput runs per worker count; the best is reported (a shared machine is noisy).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Results JSON [default: var/bench/pipeline-<time>/results.json].",
)
@click.option(
    "--postgres",
    metavar="URL",
    default=None,
    help="Also measure throughput on PostgreSQL: a server database URL whose user may create "
    "databases (each run gets a fresh one), e.g. from `ops/postgres/postgres.sh url`.",
)
@click.option(
    "--http-rate",
    type=click.IntRange(min=1),
    default=1_000,
    show_default=True,
    help="Offered POSTs a second of the paced HTTP runs (wrk, each connection pacing itself).",
)
@click.option(
    "--wait-ms",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="The waited answer's budget: POST /transaction?wait=MS.",
)
@click.option(
    "--users",
    "user_counts",
    default="10000,1000000",
    show_default=True,
    callback=_counts,
    help="Distinct card holders of the users phase, comma-separated: each is met once "
    "before --transactions over them are timed.",
)
@click.option(
    "--replay-rows",
    type=click.IntRange(min=2_000),
    default=388_000,
    show_default=True,
    help="Rows of the file `fraud score` replays.",
)
@click.option("--keep-data", is_flag=True, help="Keep the runs' topics and databases.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "as_json",
    "--json",
    is_flag=True,
    help="Print the results as JSON on stdout (progress goes to stderr).",
)
@model_dir_option
@pass_context
def bench(
    ctx: CliContext,
    transactions: int,
    workers: tuple[int, ...],
    paths: tuple[str, ...],
    partitions: int,
    rate: int,
    duration: float,
    latency_workers: tuple[int, ...],
    profile_transactions: int,
    batch_size: int | None,
    worker_log_level: str,
    skip: tuple[str, ...],
    timeout: float,
    settle: float,
    repeat: int,
    out: Path | None,
    postgres: str | None,
    http_rate: int,
    wait_ms: int,
    user_counts: tuple[int, ...],
    replay_rows: int,
    keep_data: bool,
    quiet: bool,
    as_json: bool,
    model_dir: Path | None,
) -> None:
    """Sustained transactions/s through Kafka, every stage and the database; latency; the HTTP
    API's POSTs a second and waited answers; cost by users; offline replay; profile.

    Needs the broker at $FRAUD_KAFKA_BOOTSTRAP and a trained model; starts its
    own `fraud worker` processes on fresh topics and databases, and stops them.
    """
    from fraud.bench.harness import BenchError
    from fraud.bench.pipeline import BenchConfig, format_report, run_benchmark

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    config = BenchConfig(
        bootstrap=ctx.settings.kafka_bootstrap,
        security=ctx.settings.kafka_security,
        model_dir=(model_dir or Path(ctx.settings.model_dir)).resolve(),
        out_dir=Path("var/bench").resolve() / f"pipeline-{stamp}",
        transactions=transactions,
        workers=workers,
        paths=tuple(path for path in PATHS if path in paths),
        partitions=partitions,
        rate=rate,
        duration_s=duration,
        latency_workers=latency_workers,
        profile_transactions=profile_transactions,
        batch_size=batch_size,
        worker_log_level=worker_log_level,
        run_timeout_s=timeout,
        settle_s=settle,
        repeat=repeat,
        phases=tuple(phase for phase in PHASES if phase not in skip),
        keep_data=keep_data,
        postgres=postgres,
        http_rate=http_rate,
        wait_ms=wait_ms,
        user_counts=user_counts,
        replay_rows=replay_rows,
        progress=not quiet,
        out_file=out,
    )
    # SIGTERM (a timeout, a cancel) unwinds like Ctrl-C: every run's finally stops its workers.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        results = run_benchmark(config, echo=lambda line: click.echo(line, err=as_json))
    except BenchError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(results, indent=2, default=str))
        return
    click.echo("")
    click.echo(format_report(results))
