"""`make test`: start the services the selected tests need, all at once, run pytest on them,
and stop the services whatever the result.

    python -m tests.run [--first COMMAND] [PYTEST ARGUMENTS]

``--first COMMAND`` runs while the services start (`make test` lints so); the tests run
only if it succeeds.

The tests run in FRAUD_TEST_WORKERS pytest-xdist processes (``--dist loadgroup``: what must
not run side by side shares an ``xdist_group``). With no argument every test runs and every
service starts. With arguments (paths, ``-m``,
``-k``), a collection first asks which services the selected tests need (their markers,
tests/tiers.py), and only those start. The services listen on the tests' own ports, from
empty storage: FRAUD_TEST_KAFKA_PORT, FRAUD_TEST_KAFKA_SASL_PORT,
FRAUD_TEST_KAFKA_CLUSTER_PORT and FRAUD_TEST_POSTGRES_PORT (the Makefile sets them).
The test PostgreSQL keeps its files under test-output/, not var/: any `fraud` command a
test runs makes var/ owner-only, which would shut out a server run as another account.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("kafka", "cluster", "postgres")
NEEDED = "services needed:"


@dataclass(frozen=True)
class Service:
    """One of ops/'s scripts, with the environment that puts it on the tests' ports."""

    name: str
    script: str
    env: Mapping[str, str]

    def run(self, *arguments: str, fresh: bool = False) -> subprocess.CompletedProcess[str]:
        fresh_env = {"KAFKA_FRESH": "1", "PG_FRESH": "1"} if fresh else {}
        return subprocess.run(
            [str(ROOT / self.script), *arguments],
            env={**os.environ, **self.env, **fresh_env},
            capture_output=True,
            text=True,
            cwd=ROOT,
        )


def services(ports: Mapping[str, str]) -> dict[str, Service]:
    return {
        "kafka": Service(
            "kafka",
            "ops/kafka/kafka.sh",
            {"KAFKA_PORT": ports["kafka"], "KAFKA_SASL_PORT": ports["kafka_sasl"]},
        ),
        "cluster": Service(
            "cluster", "ops/kafka/cluster.sh", {"KAFKA_CLUSTER_PORT": ports["cluster"]}
        ),
        "postgres": Service(
            "postgres",
            "ops/postgres/postgres.sh",
            {"PG_PORT": ports["postgres"], "PG_HOME": str(ROOT / "test-output" / "postgres")},
        ),
    }


# The tests' brokers (the ones started here and the ones tests start) run on the JVM's quick
# compiler and serial collector: on a fresh single broker, 2.2 s of CPU to start instead of
# 3.6, 2.2 s idle over two minutes instead of 2.8, and 0.4 s instead of 1.0 for 20,000
# messages in and out. They carry little, and a run keeps four of them on two cores.
BROKER_JVM = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"


def needed(arguments: Sequence[str]) -> list[str]:
    """The services the tests ``arguments`` select need: every one when nothing is selected,
    else what a collection of the selection says."""
    if not arguments:
        return list(SERVICES)
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--services-needed", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    for line in collected.stdout.splitlines():
        if line.startswith(NEEDED):
            return line.removeprefix(NEEDED).split()
    sys.stderr.write(collected.stdout[-3000:] + collected.stderr[-3000:])
    raise SystemExit(collected.returncode or 1)


def warm_rewrites(arguments: Sequence[str]) -> None:
    """One collection, while the services start, that leaves the rewritten modules for every
    worker to read (a collection that fails says so again in the run itself). A selection
    was collected already, to find the services it needs."""
    if arguments:
        return
    subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q"],
        capture_output=True,
        cwd=ROOT,
    )


def environment(started: Mapping[str, Service], ports: Mapping[str, str]) -> dict[str, str]:
    """What the tests read to find the services (tests/kafka, tests/cluster, tests/postgres)."""
    env: dict[str, str] = {}
    if "kafka" in started:
        env["FRAUD_TEST_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{ports['kafka']}"
        env["FRAUD_TEST_KAFKA_SASL_BOOTSTRAP"] = f"127.0.0.1:{ports['kafka_sasl']}"
    if "cluster" in started:
        cluster = started["cluster"]
        env["FRAUD_TEST_KAFKA_CLUSTER_STOP_WHEN_DONE"] = "1"  # tests/cluster/conftest.py
        env["FRAUD_TEST_KAFKA_CLUSTER_BOOTSTRAP"] = cluster.run("bootstrap").stdout.strip()
        env["FRAUD_TEST_KAFKA_CLUSTER_SASL_BOOTSTRAP"] = cluster.run(
            "bootstrap", "sasl"
        ).stdout.strip()
    if "postgres" in started:
        env["FRAUD_TEST_POSTGRES_URL"] = started["postgres"].run("url").stdout.strip()
    return env


def start(chosen: Sequence[Service]) -> bool:
    """Every service in ``chosen`` started at once; whether all came up (each one's output
    is printed, a failure's in full)."""
    began = time.monotonic()
    with ThreadPoolExecutor(max(1, len(chosen))) as pool:
        results = list(pool.map(lambda service: service.run("up", fresh=True), chosen))
    for service, result in zip(chosen, results, strict=True):
        if result.returncode != 0:
            said = (result.stdout + result.stderr).strip()
            print(f"{service.name} did not start:\n{said}", file=sys.stderr)
        else:
            lines = result.stdout.strip().splitlines()
            print(lines[-1] if lines else f"{service.name} is up")
    names = ", ".join(service.name for service in chosen) or "nothing"
    print(f"started {names} in {time.monotonic() - began:.0f} s")
    return all(result.returncode == 0 for result in results)


def stop(chosen: Sequence[Service]) -> None:
    with ThreadPoolExecutor(max(1, len(chosen))) as pool:
        list(pool.map(lambda service: service.run("down"), chosen))


def main(arguments: Sequence[str]) -> int:
    os.environ.setdefault("KAFKA_JVM_OPTS", BROKER_JVM)
    # pytest rewrites the asserts of every test module, conftest and pytest plugin it imports
    # (schemathesis' whole package among them: some 500 modules) and keeps the result only
    # where Python may write bytecode. PYTHONDONTWRITEBYTECODE is set on CI machines, so each
    # xdist worker rewrote them all again: 7 s of its 10 s collection. Everything this starts
    # runs with it unset.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    first: str | None = None
    if arguments[:1] == ["--first"]:
        first, arguments = arguments[1], arguments[2:]
    ports = {
        "kafka": os.environ.get("FRAUD_TEST_KAFKA_PORT", "19092"),
        "kafka_sasl": os.environ.get("FRAUD_TEST_KAFKA_SASL_PORT", "19094"),
        "cluster": os.environ.get("FRAUD_TEST_KAFKA_CLUSTER_PORT", "29092"),
        "postgres": os.environ.get("FRAUD_TEST_POSTGRES_PORT", "55433"),
    }
    every = services(ports)
    chosen = [every[name] for name in needed(arguments)]
    try:
        with ThreadPoolExecutor(2) as pool:
            started = pool.submit(start, chosen)
            warmed = pool.submit(warm_rewrites, arguments)
            checked = subprocess.run(first, shell=True, cwd=ROOT).returncode if first else 0
            warmed.result()
            if not started.result():
                return 1
        if checked != 0:
            return checked
        env = {**os.environ, **environment({s.name: s for s in chosen}, ports)}
        workers = os.environ.get("FRAUD_TEST_WORKERS", "4")
        parallel = ["-n", workers, "--dist", "loadgroup"] if workers not in ("", "0") else []
        # The slowest tests are named at the end, so a run that grows slower says where.
        pytest = [sys.executable, "-m", "pytest", *parallel, "--durations=25", *arguments]
        return subprocess.run(pytest, env=env, cwd=ROOT).returncode
    finally:
        stop(chosen)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
