"""Tests against a three-node Kafka cluster (started by `make test`, or `make kafka-cluster-up`).

The cluster is shared by the session, so each test works under a topic prefix of its own and
leaves every node running as it found it.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = os.environ.get(
    "FRAUD_TEST_KAFKA_CLUSTER_BOOTSTRAP", "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
)
# The same nodes' SASL_PLAINTEXT listeners (SCRAM-SHA-512; `ops/kafka/cluster.sh bootstrap sasl`).
SASL_BOOTSTRAP = os.environ.get(
    "FRAUD_TEST_KAFKA_CLUSTER_SASL_BOOTSTRAP", "127.0.0.1:9102,127.0.0.1:9103,127.0.0.1:9104"
)


class Cluster:
    """The three nodes of the local cluster, which a test may crash and start again."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.servers = bootstrap.split(",")
        self.killed: set[int] = set()

    def kill(self, node: int) -> None:
        """SIGKILL: no controlled shutdown, no leadership handed over."""
        self._script("kill", node)
        self.killed.add(node)

    def start(self, node: int) -> None:
        """Start the node again on its storage; returns once it is a registered broker."""
        self._script("start", node)
        self.killed.discard(node)

    def stop(self) -> None:
        """Every node stopped, as ``make kafka-cluster-down`` does."""
        self._script("down", "")

    def grant(self, topic_prefix: str) -> None:
        """Let the service and the client principals at their topics under ``topic_prefix``,
        as the operator does for an environment sharing the cluster."""
        self._script("acls", topic_prefix)

    def _script(self, action: str, argument: int | str) -> None:
        first_port = self.servers[0].rsplit(":", 1)[1]
        subprocess.run(
            [str(ROOT / "ops/kafka/cluster.sh"), action, str(argument)],
            env={**os.environ, "KAFKA_CLUSTER_PORT": first_port},
            check=True,
            capture_output=True,
            timeout=180,
        )


def answering(bootstrap: str, variable: str) -> str:
    for server in bootstrap.split(","):
        host, port = server.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
        except OSError:
            pytest.fail(
                f"no Kafka broker answers on {server} of {bootstrap}: `make test` starts a "
                f"cluster, or run `make kafka-cluster-up` (set {variable} for another)"
            )
    return bootstrap


@pytest.fixture(scope="session")
def cluster_bootstrap() -> str:
    return answering(BOOTSTRAP, "FRAUD_TEST_KAFKA_CLUSTER_BOOTSTRAP")


@pytest.fixture(scope="session")
def cluster_sasl_bootstrap(cluster_bootstrap: str) -> str:
    return answering(SASL_BOOTSTRAP, "FRAUD_TEST_KAFKA_CLUSTER_SASL_BOOTSTRAP")


@pytest.fixture
def cluster(cluster_bootstrap: str) -> Iterator[Cluster]:
    nodes = Cluster(cluster_bootstrap)
    yield nodes
    for node in sorted(nodes.killed):  # the next test gets all three back
        nodes.start(node)


@pytest.fixture
def cluster_database(migrated_postgres_url: str) -> str:
    """A fresh, migrated PostgreSQL database for a test on the cluster (what a deployment
    beyond one machine writes to); its URL."""
    return migrated_postgres_url


# Set by `make test` (tests/run.py) when it started the cluster for this run: the cluster may
# then stop as soon as its last test is done. Its three nodes took 2 to 3% of a core each
# while the rest of the suite ran for another six minutes.
STOP_WHEN_DONE = "FRAUD_TEST_KAFKA_CLUSTER_STOP_WHEN_DONE"
finished: set[str] = set()


@pytest.fixture(autouse=True)
def cluster_stopped_after_its_last_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the last of this session's cluster tests (they all run on one xdist worker, in
    the `cluster` group), the cluster stops, if this run started it. Set up before every other
    fixture of the test, so torn down after them, the restart of a killed node included."""
    yield
    finished.add(request.node.nodeid)
    if os.environ.get(STOP_WHEN_DONE) != "1":
        return
    cluster_tests = {
        item.nodeid for item in request.session.items if item.get_closest_marker("cluster")
    }
    if cluster_tests <= finished:
        Cluster(BOOTSTRAP).stop()
