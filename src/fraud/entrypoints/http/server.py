"""The production servers the API runs under: gunicorn's processes for `fraud serve`, run
from Python so it needs no separate command line; cheroot's threads in `fraud run`, whose
API shares one process (and the embedded bus) with every stage.

cheroot was measured against Werkzeug's development server (which `fraud run` used, a
thread per connection and no timeouts) and waitress, `fraud run` under wrk with 16
connections posting transactions: cheroot answered the most a second, with the lowest
tail (see the README's performance section)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cheroot.wsgi import Server
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.glogging import Logger

from fraud.containers import count_metrics_across_processes


class StructuredLogs(Logger):  # type: ignore[misc]
    """gunicorn's own lines (listening, workers booting, a worker killed) go through the
    process's structlog handlers, so they come out as JSON like everything else."""

    def setup(self, cfg: Config) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()
            logger.propagate = True


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from fraud.entrypoints.http.app import create_app

        return create_app()


def serve_with_gunicorn(*, host: str, port: int, workers: int, threads: int) -> None:
    """Each worker builds its own app and container after the fork (no shared connections)."""
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": None,  # the app logs each request itself, with its request id
            "logger_class": StructuredLogs,
            "graceful_timeout": 30,
        }
    ).run()


@contextmanager
def metrics_shared_by_workers() -> Iterator[Path]:
    """While it is open, this process and the gunicorn workers it forks count into one
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


# A request (headers and body) must arrive within this, and an idle keep-alive connection is
# closed after it: a client that stalls cannot hold a thread.
REQUEST_TIMEOUT_S = 10


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
