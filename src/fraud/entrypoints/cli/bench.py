"""``fraud bench``: the pipeline's throughput, latency and profile on the Kafka broker.

The benchmark itself is ``fraud.bench``: it drives real ``fraud worker``
processes on fresh topics and databases, as a user's deployment runs.
"""

from __future__ import annotations

import json
import signal
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click
from click import Command

from fraud.bench import PATHS, PHASES
from fraud.bench.config import BenchConfig, Http, Latency, Offline, Runs, Throughput
from fraud.entrypoints.cli.context import CliContext, pass_context
from fraud.entrypoints.cli.options import model_dir_option
from fraud.settings import Settings


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


def _options(*options: Callable[[Command], Command]) -> Callable[[Command], Command]:
    """Several options as one decorator, in the order given."""

    def apply(command: Command) -> Command:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


# Each group's options are named ``group__field``: they build that group of BenchConfig.
THROUGHPUT = _options(
    click.option(
        "--transactions",
        "throughput__transactions",
        type=click.IntRange(min=1_000),
        default=50_000,
        show_default=True,
        help="Transactions per throughput run (and for the broker ceiling).",
    ),
    click.option(
        "--workers",
        "throughput__workers",
        default="1,2",
        show_default=True,
        callback=_counts,
        help="Worker process counts to measure, comma-separated.",
    ),
    click.option(
        "--path",
        "throughput__paths",
        multiple=True,
        type=click.Choice(PATHS),
        default=PATHS,
        show_default=True,
        help="How the throughput runs' transactions arrive: kcat writing plain JSON (a direct "
        "producer) or the envelopes the API publishes. Repeat for both.",
    ),
    click.option(
        "--repeat",
        "throughput__repeat",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Throughput runs per worker count; the best is reported (a shared machine is noisy).",
    ),
)
RUNS = _options(
    click.option(
        "--partitions", "runs__partitions", type=click.IntRange(min=1), default=6, show_default=True
    ),
    click.option(
        "--batch-size",
        "runs__batch_size",
        type=click.IntRange(min=1),
        default=None,
        help="The workers' batch size [default: $FRAUD_BATCH_SIZE or 500].",
    ),
    click.option(
        "--worker-log-level",
        "runs__worker_log_level",
        type=click.Choice(["debug", "info", "warning"]),
        default="info",
        show_default=True,
        help="The workers' log level (debug logs a line per transaction in every stage).",
    ),
    click.option(
        "--timeout",
        "runs__timeout_s",
        type=click.FloatRange(min=10.0),
        default=300.0,
        show_default=True,
        help="Longest wait for a run's verdicts, in seconds.",
    ),
    click.option(
        "--settle",
        "runs__settle_s",
        type=click.FloatRange(min=0.0),
        default=60.0,
        show_default=True,
        help="Longest wait, before each run, for other work on the machine to finish.",
    ),
    click.option(
        "--postgres",
        "runs__postgres",
        metavar="URL",
        default=None,
        help="Also measure throughput on PostgreSQL: a server database URL whose user may "
        "create databases (each run gets a fresh one), e.g. from `ops/postgres/postgres.sh url`.",
    ),
    click.option(
        "--keep-data", "runs__keep_data", is_flag=True, help="Keep the runs' topics and databases."
    ),
)
LATENCY = _options(
    click.option(
        "--rate",
        "latency__rate",
        type=click.IntRange(min=1),
        default=2_500,
        show_default=True,
        help="Offered load of the latency runs, transactions a second.",
    ),
    click.option(
        "--duration",
        "latency__duration_s",
        type=click.FloatRange(min=1.0),
        default=10.0,
        show_default=True,
    ),
    click.option(
        "--latency-workers",
        "latency__workers",
        default="1,2",
        show_default=True,
        callback=_counts,
        help="Worker process counts of the latency runs, comma-separated.",
    ),
)
HTTP = _options(
    click.option(
        "--http-rate",
        "http__rate",
        type=click.IntRange(min=1),
        default=1_000,
        show_default=True,
        help="Offered POSTs a second of the paced HTTP runs (wrk, each connection pacing itself).",
    ),
    click.option(
        "--wait-ms",
        "http__wait_ms",
        type=click.IntRange(min=1),
        default=500,
        show_default=True,
        help="The waited answer's budget: POST /transaction?wait=MS.",
    ),
)
OFFLINE = _options(
    click.option(
        "--users",
        "offline__user_counts",
        default="10000,1000000",
        show_default=True,
        callback=_counts,
        help="Distinct card holders of the users phase, comma-separated: each is met once "
        "before --transactions over them are timed.",
    ),
    click.option(
        "--replay-rows",
        "offline__replay_rows",
        type=click.IntRange(min=2_000),
        default=388_000,
        show_default=True,
        help="Rows of the file `fraud score` replays.",
    ),
    click.option(
        "--profile-transactions",
        "offline__profile_transactions",
        type=click.IntRange(min=0),
        default=20_000,
        show_default=True,
        help="Transactions through the profiled in-process worker (0 skips the profile).",
    ),
)
OUTPUT = _options(
    click.option("--skip", multiple=True, type=click.Choice(PHASES), help="Leave a phase out."),
    click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Results JSON [default: var/bench/pipeline-<time>/results.json].",
    ),
    click.option("--quiet", is_flag=True, help="No progress bars."),
    click.option(
        "as_json",
        "--json",
        is_flag=True,
        help="Print the results as JSON on stdout (progress goes to stderr).",
    ),
)


def bench_config(
    settings: Settings, model_dir: Path | None, options: dict[str, Any]
) -> BenchConfig:
    """The configuration the options describe, each group built from its own options."""
    groups: dict[str, dict[str, Any]] = defaultdict(dict)
    for name, value in options.items():
        group, _, field = name.rpartition("__")
        groups[group][field] = value
    general = groups[""]
    throughput = groups["throughput"]
    throughput["paths"] = tuple(path for path in PATHS if path in throughput["paths"])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return BenchConfig(
        settings=settings,
        model_dir=(model_dir or Path(settings.model_dir)).resolve(),
        out_dir=Path("var/bench").resolve() / f"pipeline-{stamp}",
        phases=tuple(phase for phase in PHASES if phase not in general["skip"]),
        runs=Runs(**groups["runs"]),
        throughput=Throughput(**throughput),
        latency=Latency(**groups["latency"]),
        http=Http(**groups["http"]),
        offline=Offline(**groups["offline"]),
        progress=not general["quiet"],
        out_file=general["out"],
    )


@click.command()
@THROUGHPUT
@LATENCY
@HTTP
@OFFLINE
@RUNS
@OUTPUT
@model_dir_option
@pass_context
def bench(ctx: CliContext, model_dir: Path | None, **options: Any) -> None:
    """Sustained transactions/s through Kafka, every stage and the database; latency; the HTTP
    API's POSTs a second and waited answers; cost by users; offline replay; profile.

    Needs the broker at $FRAUD_KAFKA_BOOTSTRAP and a trained model; starts its
    own `fraud worker` processes on fresh topics and databases, and stops them.
    """
    from fraud.bench.benchmark import run_benchmark
    from fraud.bench.harness import BenchError
    from fraud.bench.report import format_report

    as_json = options.pop("as_json")
    config = bench_config(ctx.settings, model_dir, options)
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
