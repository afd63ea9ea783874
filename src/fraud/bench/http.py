"""What a client meets over HTTP: how many POSTs a second the API takes, and the answer
while the card waits.

The run starts ``fraud worker`` processes and ``fraud serve`` (granian, its
defaults) on fresh topics and a fresh database, creates a submitter key, and
drives the API with ``wrk`` (Debian's package) and ``post.lua`` beside this
module, each POST its own transaction:

* **ingest**: as fast as 16 connections get answers, no waiting: POSTs a second;
* **ingest paced**: about ``rate`` a second offered: the 202's latency at that load;
* **waited answer**: ``?wait=MS`` at about ``rate`` a second: how many got their
  verdict within the budget (200) and the waited answer's percentiles.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraud.bench.context import Bench
from fraud.bench.harness import BenchError, RunSpace, WorkerPool, end_with_parent

POST_SCRIPT = Path(__file__).with_name("post.lua")
SERVER_READY_S = 60.0
RESULT_PREFIX = "RESULT "


@dataclass(frozen=True, slots=True)
class HttpLoad:
    """One wrk run: ``rate`` 0 sends as fast as answers come; ``wait_ms`` 0 does not wait."""

    name: str
    connections: int
    rate: int = 0
    wait_ms: int = 0


def loads(rate: int, wait_ms: int) -> tuple[HttpLoad, ...]:
    """The three runs: unpaced ingest, ingest at ``rate``, waited answers at ``rate``."""
    # Closed-loop pacing: each connection waits connections/rate s between requests, so a
    # waited answer needs enough connections that the gaps, not the answers, set the rate.
    return (
        HttpLoad("ingest", connections=16),
        HttpLoad("ingest_paced", connections=max(16, rate // 20), rate=rate),
        HttpLoad("waited", connections=max(16, rate // 5), rate=rate, wait_ms=wait_ms),
    )


def measure_http(bench: Bench, space: RunSpace, workers: int) -> dict[str, Any]:
    """Workers and ``fraud serve`` on ``space``, then each of the configured loads (see
    :func:`loads`) with wrk, each for the latency runs' duration."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk is not installed (Debian: apt-get install wrk)"}
    load_plan = loads(bench.config.http.rate, bench.config.http.wait_ms)
    duration_s, echo = bench.config.latency.duration_s, bench.echo
    env = bench.worker_environment(space)
    space.migrate()
    key = _create_key(env)
    log_dir = space.directory / "logs-http"
    pool = WorkerPool(workers, env, space.group, log_dir)
    port = _free_port()
    server: subprocess.Popen[bytes] | None = None
    results: dict[str, Any] = {"workers": workers, "server": "fraud serve (defaults)"}
    try:
        pool.start()
        echo(f"  workers ready after {bench.ready(pool, space):.1f}s")
        log_dir.mkdir(parents=True, exist_ok=True)
        with (log_dir / "serve.log").open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "fraud.entrypoints.cli.main", "serve", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=end_with_parent,
            )
        _wait_for_health(port, server, log_dir / "serve.log")
        url = f"http://127.0.0.1:{port}"
        _wrk(wrk, url, key, HttpLoad("warm-up", connections=4), 2.0)  # imports, connections
        for load in load_plan:
            echo(f"  wrk: {_describe(load)} for {duration_s:g}s")
            run = _wrk(wrk, url, key, load, duration_s)
            pool.check_alive()
            echo(f"    {run['per_s']:,} req/s, p50 {run['p50']} ms, p99 {run['p99']} ms")
            results[load.name] = run
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        pool.stop()
    return results


def _describe(load: HttpLoad) -> str:
    offered = f"about {load.rate:,}/s" if load.rate else "unpaced"
    waited = f"?wait={load.wait_ms}" if load.wait_ms else "no wait"
    return f"{load.name}, {load.connections} connections, {offered}, {waited}"


def _create_key(env: dict[str, str]) -> str:
    """A submitter key in the run's database; it is read here and never printed."""
    command = [sys.executable, "-m", "fraud.entrypoints.cli.main", "keys", "create"]
    command += ["--name", f"bench-{uuid.uuid4().hex[:6]}", "--role", "submitter"]
    command += ["--rate-limit", "1000000/second"]
    created = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    if created.returncode != 0:
        raise BenchError(f"could not create the benchmark's API key: {created.stderr[-500:]}")
    return created.stdout.strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_health(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_READY_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"fraud serve exited with {server.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise BenchError(f"fraud serve did not answer /health within {SERVER_READY_S:.0f}s")


def _tail(log: Path, chars: int = 3_000) -> str:
    return log.read_text(errors="replace")[-chars:]


def _wrk(wrk: str, url: str, key: str, load: HttpLoad, duration_s: float) -> dict[str, Any]:
    threads = min(2, load.connections)
    command = [wrk, f"-t{threads}", f"-c{load.connections}", f"-d{duration_s:g}s"]
    command += ["--timeout", "5s", "--latency", "-s", str(POST_SCRIPT), url]
    env = {
        "AUTH": f"Authorization: Bearer {key}",
        "RATE": str(load.rate),
        "CONNECTIONS": str(load.connections),
        "WAIT_MS": str(load.wait_ms),
        "RUN": f"bench-{uuid.uuid4().hex[:8]}",
        "PATH": "/usr/bin:/bin",
    }
    finished = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration_s + 60
    )
    if finished.returncode != 0:
        raise BenchError(f"wrk failed ({finished.returncode}): {finished.stderr[-500:]}")
    return {
        "connections": load.connections,
        "offered_per_s": load.rate or None,
        "wait_ms": load.wait_ms or None,
        **parse_result(finished.stdout),
    }


def parse_result(output: str) -> dict[str, Any]:
    """The figures ``post.lua`` prints as its last JSON line, with the rate reached."""
    lines = [line for line in output.splitlines() if line.startswith(RESULT_PREFIX)]
    if not lines:
        raise BenchError(f"wrk printed no result line:\n{output[-1000:]}")
    figures: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    seconds = figures["seconds"] or 1e-9
    figures["per_s"] = round(figures["requests"] / seconds)
    figures["accepted_per_s"] = round((figures["decided"] + figures["pending"]) / seconds)
    return figures
