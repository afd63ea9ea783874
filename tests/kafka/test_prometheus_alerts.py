"""A real Prometheus (Debian's package) scrapes `fraud serve` and a `fraud worker` (its probe
port) with a key of the metrics role, evaluates ops/prometheus's rules, and fires
FraudBrokerUnreachable once the broker stops: within the alert's `for:` and two evaluation
intervals of the scrape that first misses the broker.

The test's copy of the rules is the repository's, with that alert's `for:` shortened, and
scrapes and evaluations every second or two. The broker is this module's own."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from fraud.domain.identity import Role
from tests.kafka.conftest import Workers, make_topics
from tests.kafka.test_broker_outage import OwnBroker, own_broker  # noqa: F401 (a fixture)
from tests.processes import fraud_env, free_port, start_service, stop_service

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "ops" / "prometheus" / "rules"
ALERT = "FraudBrokerUnreachable"
FOR_S = 10
EVALUATION_S = 2
SCRAPE_S = 2  # and its timeout: a scrape waits a second for a broker that does not answer
# A scrape that misses the broker: one interval to come, and the second it waits for the
# broker to answer before leaving the lag out.
SCRAPE_MISSES_BROKER_S = SCRAPE_S + 1


@pytest.fixture(scope="module")
def kafka_bootstrap(own_broker: OwnBroker) -> str:  # noqa: F811
    return own_broker.bootstrap


def prometheus() -> str:
    found = shutil.which("prometheus")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("prometheus is missing: `make system-deps` installs Debian's package")
    pytest.skip("prometheus is missing: `make system-deps` (or apt-get install prometheus)")


def rules_with_a_short_for(into: Path) -> list[str]:
    """The repository's rule files, copied, with the alert's `for:` of FOR_S seconds."""
    names = []
    for path in sorted(RULES.glob("*.yml")):
        text = path.read_text()
        if path.name == "alerts.yml":
            rules = yaml.safe_load(text)
            for group in rules["groups"]:
                for rule in group["rules"]:
                    if rule.get("alert") == ALERT:
                        rule["for"] = f"{FOR_S}s"
            text = yaml.safe_dump(rules, sort_keys=False)
        (into / path.name).write_text(text)
        names.append(path.name)
    return names


class Prometheus:
    def __init__(self, home: Path, api: str, worker: str, key: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        (home / "metrics.key").write_text(key)
        (home / "metrics.key").chmod(0o600)
        config = {
            "global": {
                "scrape_interval": f"{SCRAPE_S}s",
                "scrape_timeout": f"{SCRAPE_S}s",
                "evaluation_interval": f"{EVALUATION_S}s",
            },
            "rule_files": rules_with_a_short_for(home),
            "scrape_configs": [
                {
                    "job_name": job,
                    "authorization": {"credentials_file": "metrics.key"},
                    "static_configs": [{"targets": [target]}],
                }
                for job, target in (("fraud-api", api), ("fraud-workers", worker))
            ],
        }
        (home / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process = subprocess.Popen(
            [
                prometheus(),
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
            ],
            stdout=(home / "prometheus.log").open("w"),
            stderr=subprocess.STDOUT,
        )

    def query(self, expression: str) -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=5)
        answer.raise_for_status()
        return answer.json()["data"]["result"]

    def alert_state(self) -> str | None:
        answer = requests.get(f"{self.url}/api/v1/alerts", timeout=5)
        answer.raise_for_status()
        states = [
            a["state"] for a in answer.json()["data"]["alerts"] if a["labels"]["alertname"] == ALERT
        ]
        return states[0] if states else None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if result := condition():
                return result
        except requests.ConnectionError:
            pass  # not listening yet
        except requests.HTTPError as error:
            # Prometheus answers 503 until its storage is open (slow on a busy machine).
            if error.response is None or error.response.status_code != 503:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.2)


@pytest.fixture
def scraped(kafka_bootstrap, prefix, database, small_model, tmp_path) -> Iterator[Prometheus]:
    make_topics(kafka_bootstrap, prefix)
    env = {
        "FRAUD_BROKER": "kafka",
        "FRAUD_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "FRAUD_TOPIC_PREFIX": prefix,
        "FRAUD_DATABASE_URL": database,
    }
    probes = free_port()
    workers = Workers(
        fraud_env(
            **env,
            FRAUD_MODEL_DIR=str(small_model),
            FRAUD_WORKER_PROBES=f"127.0.0.1:{probes}",
        ),
        tmp_path,
    )
    workers.start()
    service = start_service(tmp_path, small_model, command="serve", **env)
    home = tmp_path / "prometheus"
    home.mkdir()
    watching = Prometheus(
        home, service.url.removeprefix("http://"), f"127.0.0.1:{probes}", service.keys[Role.METRICS]
    )
    try:
        yield watching
    finally:
        watching.stop()
        stop_service(service)
        workers.stop_all()
        print((home / "prometheus.log").read_text()[-3000:])


def test_the_broker_alert_fires_once_the_broker_stops(own_broker, scraped) -> None:  # noqa: F811
    up = 'count(up{job=~"fraud-api|fraud-workers"} == 1) == 2'
    lag = 'count(fraud_consumer_lag{topic="transactions"}) == 2'  # the API's and the worker's
    wait_until(lambda: scraped.query(up) and scraped.query(lag), 120, "scrape of both")
    wait_until(lambda: scraped.query(f'ALERTS{{alertname="{ALERT}"}}') == [], 30, "quiet")
    time.sleep(EVALUATION_S)  # a whole evaluation with the broker there
    assert scraped.alert_state() is None

    own_broker.stop()
    wait_until(
        lambda: scraped.alert_state() == "firing",
        SCRAPE_MISSES_BROKER_S + FOR_S + 2 * EVALUATION_S,
        f"{ALERT} firing",
    )
    # Every process still answers its scrapes: the alert is the broker's, not theirs.
    assert len(scraped.query(up)) == 1
