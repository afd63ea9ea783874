"""gunicorn, run from Python so `fraud serve` needs no separate command line."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.glogging import Logger


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
