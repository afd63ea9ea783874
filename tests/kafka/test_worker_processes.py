"""`fraud worker` processes on a real broker: a crash loses nothing, any producer is welcome,
and dead letters can be listed and replayed from the command line."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from fraud.adapters.kafka.admin import create_topics
from fraud.adapters.kafka.bus import KafkaBus
from fraud.adapters.simulation.simulator import simulate
from fraud.domain.identity import Role
from fraud.domain.ports import OutgoingMessage, Topic
from tests.factories import ENVELOPES, EXAMPLE
from tests.kafka.conftest import DEFAULT_GROUPS, rows, serve_on_kafka, wait_for_rows
from tests.postgres import BACKENDS
from tests.processes import FRAUD, fraud_env, non_json_lines, stop_service


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_a_worker_killed_mid_stream_loses_nothing_and_duplicates_nothing(
    kafka_bootstrap, prefix, workers, database
) -> None:
    bus = KafkaBus(kafka_bootstrap, topic_prefix=prefix)
    transactions = [example.transaction for example in simulate(5_000, seed=11)]
    received = datetime.now(UTC)
    messages = [ENVELOPES.transaction_message(t, received) for t in transactions]

    victim = workers.start()
    workers.start()
    bus.publish(Topic.TRANSACTIONS, messages[:1_500])
    wait_for_rows(database, 300, "status = 'scored'", timeout=120)
    victim.send_signal(signal.SIGKILL)  # no chance to finish, commit or leave the group
    victim.wait(timeout=10)
    for start in range(1_500, 5_000, 500):
        bus.publish(Topic.TRANSACTIONS, messages[start : start + 500])
    bus.close()

    wait_for_rows(database, 5_000, "status = 'scored'", timeout=180)
    assert rows(database) == 5_000
    engine = create_engine(database)
    with engine.connect() as connection:
        stored = set(connection.execute(text("SELECT transaction_id FROM transactions")).scalars())
    engine.dispose()
    assert stored == {t.transaction_id for t in transactions}
    assert victim.returncode == -signal.SIGKILL


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is installed by `make test`")
def test_a_client_nobody_here_wrote_can_produce_straight_into_kafka(
    kafka_bootstrap, prefix, workers, database
) -> None:
    workers.start()
    lines = [
        f"kcat-user-{i}|"
        + json.dumps({**EXAMPLE, "transaction_id": f"kcat-{i}", "user_id": f"kcat-user-{i}"})
        for i in range(10)
    ]
    subprocess.run(
        ["kcat", "-P", "-b", kafka_bootstrap, "-t", f"{prefix}transactions", "-K", "|"],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
        timeout=30,
    )
    wait_for_rows(database, 10, "status = 'scored' AND transaction_id LIKE 'kcat-%'", timeout=60)

    consumed = subprocess.run(
        [
            "kcat",
            "-C",
            "-b",
            kafka_bootstrap,
            "-t",
            f"{prefix}fraud-results",
            "-e",
            "-q",
            "-f",
            "%k\t%s\n",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.splitlines()
    results = {
        json.loads(value)["transaction"]["transaction_id"]: key
        for key, value in (line.split("\t", 1) for line in consumed)
    }
    assert {f"kcat-{i}" for i in range(10)} <= set(results)
    assert results["kcat-3"] == "kcat-user-3"


def test_dead_letters_are_listed_and_replayed_from_the_command_line(
    kafka_bootstrap, prefix, workers, database
) -> None:
    workers.start()
    bus = KafkaBus(kafka_bootstrap, topic_prefix=prefix)
    broken = {**EXAMPLE, "transaction_id": "fix-me", "timestamp": "2023-10-05 14:30"}
    bus.publish(Topic.TRANSACTIONS, [OutgoingMessage("user123", json.dumps(broken).encode())])
    bus.close()
    env = workers.env
    deadline = time.monotonic() + 60
    while True:
        listing = subprocess.run(
            [FRAUD, "dlq", "list"], env=env, capture_output=True, text=True, timeout=60
        )
        assert listing.returncode == 0, listing.stderr
        if "fraud-dlq is empty" not in listing.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "stage=preprocess" in listing.stdout
    assert "timestamp: must include a time zone" in listing.stdout
    position = listing.stdout.split()[0]

    replay = subprocess.run(
        [FRAUD, "dlq", "replay", "--offset", position],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    assert "replayed 1 dead letters" in replay.stdout
    # Still broken, so it is dead-lettered again: the replay went through the pipeline.
    deadline = time.monotonic() + 60
    while len(KafkaBus(kafka_bootstrap, topic_prefix=prefix).read_topic(Topic.DEAD_LETTERS)) < 2:
        assert time.monotonic() < deadline, "the replayed message never came back"
        time.sleep(0.5)

    missing = subprocess.run(
        [FRAUD, "dlq", "replay", "--offset", "0:999"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "no dead letter at 0:999" in missing.stderr


@pytest.mark.xdist_group(DEFAULT_GROUPS)  # one test at a time in the default groups
@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_the_dashboard_of_fraud_serve_shows_what_separate_workers_did(
    kafka_bootstrap, prefix, workers, database, small_model, tmp_path
) -> None:
    """The production topology: the API process accepts, workers score and record, and the
    API's dashboard sees their verdicts (through the database) and their lag and dead
    letters (through the broker)."""
    workers.group = "fraud"  # the consumer groups the dashboard watches by default
    workers.start()
    service = serve_on_kafka(tmp_path, small_model, kafka_bootstrap, prefix, database)
    try:
        with service.client() as http:
            for i in range(20):
                body = {**EXAMPLE, "transaction_id": f"dash-{i}", "user_id": f"dash-user-{i % 4}"}
                assert http.post(f"{service.url}/transaction", json=body).status_code == 202
        bus = KafkaBus(kafka_bootstrap, topic_prefix=prefix)
        bus.publish(Topic.TRANSACTIONS, [OutgoingMessage("someone", b"{not json")])
        bus.close()
        wait_for_rows(database, 20, "status = 'scored' AND transaction_id LIKE 'dash-%'", 60)

        viewer = service.client(Role.VIEWER)

        def settled(url: str, ready) -> dict:
            deadline = time.monotonic() + 30
            while True:
                body = viewer.get(url, timeout=20).json()
                if ready(body) or time.monotonic() > deadline:
                    return body
                time.sleep(0.5)

        health = settled(
            f"{service.url}/api/pipeline",
            lambda h: (
                h["dead_letters"] == 1
                and all(lag == 0 for stage in h["stages"] for lag in stage["lag"].values())
            ),
        )
        assert health["running"] is None  # the stages run in the workers
        assert health["dead_letters"] == 1
        # Workers running every stage in one pass read transactions in the preprocess
        # stage's group; nobody reads the later topics, so no lag is reported there.
        assert {stage["group"] for stage in health["stages"]} == {"fraud-preprocess"}
        assert all(lag == 0 for stage in health["stages"] for lag in stage["lag"].values())

        activity = settled(
            f"{service.url}/api/activity",
            lambda a: sum(a["totals"]["decisions"].values()) == 20,
        )
        assert sum(activity["totals"]["decisions"].values()) == 20
        assert activity["totals"]["latency_ms"]["p99"] > 0

        card = viewer.get(f"{service.url}/api/model", timeout=20).json()["model"]
        assert card["version"] == json.loads((small_model / "model.json").read_text())["version"]

        assert viewer.get(f"{service.url}/metrics", timeout=20).status_code == 403
        scraper = service.client(Role.METRICS)
        metrics = scraper.get(f"{service.url}/metrics", timeout=20).text
        assert "fraud_transactions_accepted_total" in metrics  # per server worker
        assert 'fraud_consumer_lag{stage="preprocess",topic="transactions"} 0.0' in metrics
        assert 'stage="record"' not in metrics  # nobody reads fraud-results in a group
    finally:
        stop_service(service)
    # A log shipper reads one format: the HTTP server's own lines and the workers' are JSON too.
    assert non_json_lines(service.logs()) == []
    assert any('"logger": "_granian"' in line for line in service.logs().splitlines())
    workers.stop_all()
    for log in sorted(tmp_path.glob("worker-*.log")):
        assert non_json_lines(log.read_text()) == [], log.name


def test_a_worker_refuses_to_start_on_a_cluster_without_its_state_topic(
    kafka_bootstrap, prefix, small_model, tmp_path
) -> None:
    """A deployment from before the state store: every transaction would be dead-lettered
    for want of `behaviour-state`, so the worker says what to run instead of starting."""
    create_topics(kafka_bootstrap, prefix=prefix, topics=[t for t in Topic.ALL if t != Topic.STATE])
    env = fraud_env(
        FRAUD_BROKER="kafka",
        FRAUD_KAFKA_BOOTSTRAP=kafka_bootstrap,
        FRAUD_TOPIC_PREFIX=prefix,
        FRAUD_DATABASE_URL=f"sqlite:///{tmp_path / 'fraud.db'}",
        FRAUD_MODEL_DIR=str(small_model),
    )
    refused = subprocess.run(
        [FRAUD, "worker", "--stage", "all"], env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert "the cluster lacks behaviour-state: run `fraud topics create`" in refused.stderr
