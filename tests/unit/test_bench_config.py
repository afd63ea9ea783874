"""``fraud bench``'s configuration and wiring without a broker: the options build one group
of the configuration each, the results file records no secret, every phase the command
offers runs, and the API's envelopes come from the container as in the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fraud.application.stream.envelopes import TRANSACTION_ID_HEADER
from fraud.bench import PATHS, PHASES
from fraud.bench.config import BenchConfig, Http, Latency, Offline, Runs, Throughput
from fraud.bench.context import Bench
from fraud.bench.phases import PHASE_RUNS
from fraud.bench.phases.latency import by_second
from fraud.bench.phases.throughput import key
from fraud.bench.runs import crossing
from fraud.entrypoints.cli.bench import bench, bench_config
from fraud.settings import Settings
from tests.factories import txn


def configured(*arguments: str) -> BenchConfig:
    context = bench.make_context("bench", list(arguments))
    options = dict(context.params)
    model_dir = options.pop("model_dir")
    options.pop("as_json")
    return bench_config(Settings(), model_dir, options)


def test_the_defaults_make_every_phase_of_every_group() -> None:
    config = configured()
    assert config.phases == PHASES and config.progress and config.out_file is None
    assert (config.runs, config.throughput, config.latency) == (
        Runs(),
        Throughput(),
        Latency(2_500),
    )
    assert (config.http, config.offline) == (Http(), Offline())


def test_each_option_lands_in_its_group() -> None:
    config = configured(
        "--workers", "1,4", "--path", "api", "--path", "kcat", "--repeat", "2",
        "--rate", "300", "--duration", "2", "--latency-workers", "3",
        "--http-rate", "50", "--wait-ms", "250",
        "--users", "100", "--replay-rows", "5000", "--profile-transactions", "0",
        "--partitions", "3", "--batch-size", "100", "--timeout", "60", "--settle", "0",
        "--keep-data", "--skip", "http", "--skip", "replay", "--quiet",
    )  # fmt: skip
    assert config.throughput == Throughput(50_000, (1, 4), PATHS, 2)  # paths in their order
    assert config.latency == Latency(300, 2.0, (3,))
    assert config.http == Http(50, 250)
    assert config.offline == Offline((100,), 5_000, 0)
    assert config.runs == Runs(3, 100, "info", 60.0, 0.0, keep_data=True)
    assert config.phases == ("ceiling", "throughput", "latency", "users", "profile")
    assert not config.progress


def test_the_results_file_names_the_broker_but_no_secret() -> None:
    config = configured("--postgres", "postgresql+psycopg://bench:hunter2@db:5432/postgres")
    described = config.described()
    assert "hunter2" not in repr(described)
    assert described["runs"]["postgres"] == "postgresql+psycopg://bench:***@db:5432/postgres"
    assert described["bootstrap"] == Settings().kafka_bootstrap
    assert described["throughput"]["workers"] == (1, 2)


def test_every_phase_the_command_offers_runs_in_the_order_it_lists_them() -> None:
    assert tuple(PHASE_RUNS) == PHASES


def test_the_envelopes_are_the_apis_from_the_container() -> None:
    running = Bench.of(configured(), echo=print)
    try:
        messages = running.envelopes([txn(1), txn(2)])
        expected = running.container.envelopes().transaction_message(txn(1), datetime.now(UTC))
    finally:
        running.container.shutdown_resources()
    assert [message.key for message in messages] == ["alice", "alice"]
    assert [message.headers[TRANSACTION_ID_HEADER] for message in messages] == ["t1", "t2"]
    assert messages[0].value == expected.value  # as the API publishes it


def test_a_throughput_run_is_filed_by_path_database_and_workers() -> None:
    assert key("api", "sqlite", 2) == "workers_2"
    assert key("kcat", "postgresql", 1) == "kcat_workers_1_postgresql"


def test_the_count_crossing_a_level_is_read_between_polls() -> None:
    timeline = [(0.0, 0), (1.0, 100), (2.0, 300)]
    assert crossing(timeline, 200) == 1.5
    assert crossing(timeline, 301) is None


def test_latency_by_second_of_sending_shows_each_seconds_figures() -> None:
    start = datetime(2026, 12, 3, tzinfo=UTC)

    def timing(sent_s: float, took_ms: float):
        received = start + timedelta(seconds=sent_s)
        return received, received, received + timedelta(milliseconds=took_ms), took_ms

    seconds = by_second([timing(0.1, 10), timing(0.5, 30), timing(1.2, 500)])
    assert [(s["second"], s["count"]) for s in seconds] == [(0, 2), (1, 1)]
    assert seconds[0]["max"] == 30.0 and "p99" not in seconds[1]  # one value: no percentiles
