"""The production servers the API runs under: granian's processes for `fraud serve`, run
from Python so it needs no separate command line; cheroot's threads in `fraud run`, whose
API shares one process (and the embedded bus) with every stage.

cheroot was measured against Werkzeug's development server (which `fraud run` used, a
thread per connection and no timeouts) and waitress, `fraud run` under wrk with 16
connections posting transactions: cheroot answered the most a second, with the lowest
tail. granian (HTTP parsed and answered in Rust, the app on a bounded pool of Python
threads) was measured against gunicorn's threaded workers, `fraud serve` alone with two
processes of eight threads, alternating on one broker: 1,554, 1,442 and 1,326 requests a
second against 1,278, 1,156 and 978 (see the README's performance section)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cheroot.wsgi import Server
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server import Server as Granian

from fraud.containers import count_metrics_across_processes

# granian's own lines (listening, workers started, a worker that died) go to the root
# logger, whose handler the process configured (structlog's JSON), like everything else.
_LOGS_TO_ROOT = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {},
    "handlers": {},
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    },
}

# A request's headers must arrive within this, and an idle keep-alive connection is closed
# after it. cheroot holds a body to it too; under granian (as under gunicorn before it) a
# body that stalls holds one of the worker's threads: put a proxy that buffers bodies in
# front of a service open to clients that may stall.
REQUEST_TIMEOUT_S = 10

# What a worker that stops gets to finish its requests in flight before it is killed.
GRACEFUL_TIMEOUT_S = 30

# Connections waiting to be accepted, and requests the workers hold waiting for a thread.
BACKLOG = 1024


def worker_app() -> Any:
    """What each of granian's workers serves: the app, built from the environment.

    A worker is forked with its server's own SIGTERM handler, which only tells the server to
    stop: a stop that reached a worker still building its app was swallowed, and the worker
    went on to serve until it was killed. Until it serves, nothing is in flight, so a SIGTERM
    simply ends it; once it serves, granian's handler finishes what it holds."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from fraud.entrypoints.http.app import create_app

    return create_app()


def serve_with_granian(*, host: str, port: int, workers: int, threads: int) -> None:
    """``workers`` processes, each building its own app and container (no shared
    connections) and running at most ``threads`` requests at once; up to BACKLOG more wait
    for a thread, then connections wait in the listen queue. Stops on SIGTERM or SIGINT,
    each worker finishing what it holds.

    The wait for a thread is what keeps a paced load flowing: held at ``threads`` requests,
    the bench's paced POSTs (50 connections, 1,000 a second offered, with two workers)
    got 274 answers a second, and its waited ones (200 connections) 71."""
    Granian(
        "fraud.entrypoints.http.server:worker_app",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        factory=True,
        workers=workers,
        blocking_threads=threads,
        backpressure=max(threads, BACKLOG // workers),
        backlog=BACKLOG,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=REQUEST_TIMEOUT_S * 1000),
        log_dictconfig=_LOGS_TO_ROOT,
        respawn_failed_workers=True,
        workers_kill_timeout=GRACEFUL_TIMEOUT_S,
    ).serve()


@contextmanager
def metrics_shared_by_workers() -> Iterator[Path]:
    """While it is open, this process and the server workers it forks count into one
    directory, so a scrape answered by any worker reports what every worker counted: the
    PROMETHEUS_MULTIPROC_DIR the deployment names, else a private one of this server's,
    removed when it stops (by the process that made it: the workers leave through here
    too)."""
    named = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory, maker = Path(named or tempfile.mkdtemp(prefix="fraud-metrics-")), os.getpid()
    count_metrics_across_processes(directory)
    try:
        yield directory
    finally:
        if not named and os.getpid() == maker:
            shutil.rmtree(directory, ignore_errors=True)


def threaded_server(app: Any, host: str, port: int, threads: int) -> Server:
    """``app`` on ``host:port`` with at most ``threads`` requests at once (more wait in the
    listen queue), bound now: a port taken fails the start, not the first request."""
    server = Server(
        (host, port),
        app,
        numthreads=threads,
        max=threads,
        timeout=REQUEST_TIMEOUT_S,
        request_queue_size=1024,
        shutdown_timeout=5,
    )
    server.prepare()
    return server
