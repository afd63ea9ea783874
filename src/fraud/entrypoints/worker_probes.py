"""What a `fraud worker` answers over HTTP, on a port of its own, for probes and scrapes.

* ``GET /health`` (open, as the API's is): ``200 {"status": "ready"}`` once every stage is
  warm and holds its partitions (the moment it logs ``worker ready``), ``503 {"status":
  "starting"}`` before, ``503 {"status": "stopped"}`` once a stage has stopped: what a
  readiness probe asks before traffic is sent, and a liveness probe after.
* ``GET /metrics`` (the ``metrics`` role, a key as ``Authorization: Bearer KEY``): the
  worker's counters and histograms in the Prometheus text format: its stages' messages,
  batches, dead letters, verdicts, latency, rule hits and errors.

Served by cheroot (the production WSGI server `fraud run` uses) on a few threads: a probe
must answer even while the stages are busy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import structlog
from cheroot.wsgi import Server

from fraud.application.identity import Authenticate
from fraud.application.stream.pipeline import Pipeline
from fraud.domain.identity import Permission

log = structlog.get_logger(__name__)

StartResponse = Callable[..., Any]
PROBE_THREADS = 2


class Probes:
    """The worker's two endpoints, as a plain WSGI application."""

    def __init__(
        self,
        pipeline: Pipeline,
        authenticate: Authenticate,
        exposition: Callable[[], tuple[bytes, str]],
    ) -> None:
        self.pipeline = pipeline
        self.authenticate = authenticate
        self.exposition = exposition

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _json(start_response, "405 Method Not Allowed", {"error": "GET only"})
        if path == "/health":
            return self._health(start_response)
        if path == "/metrics":
            return self._metrics(environ, start_response)
        return _json(start_response, "404 Not Found", {"error": "no such resource"})

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        if not self.pipeline.alive() and self.pipeline.threads:
            return _json(start_response, "503 Service Unavailable", {"status": "stopped"})
        if not self.pipeline.ready():
            return _json(start_response, "503 Service Unavailable", {"status": "starting"})
        return _json(start_response, "200 OK", {"status": "ready"})

    def _metrics(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        scheme, _, key = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        principal = (
            self.authenticate.key(key.strip()) if scheme.lower() == "bearer" and key else None
        )
        if principal is None:
            start_response(
                "401 Unauthorized",
                [
                    ("Content-Type", "application/json"),
                    ("WWW-Authenticate", 'Bearer realm="fraud"'),
                ],
            )
            return [orjson.dumps({"error": "a key with the metrics role is required"})]
        if not principal.may(Permission.SCRAPE):
            return _json(
                start_response, "403 Forbidden", {"error": f"the {principal.role} role may not"}
            )
        body, content_type = self.exposition()
        start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-store")])
        return [body]


def _json(start_response: StartResponse, status: str, body: dict[str, str]) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
    return [orjson.dumps(body)]


class ProbeServer:
    """The probes on ``host:port`` (port 0: one the system picks), on a thread of its own."""

    def __init__(self, probes: Probes, host: str, port: int) -> None:
        self._server = Server((host, port), probes, numthreads=PROBE_THREADS, timeout=5)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    def start(self) -> None:
        self._server.prepare()  # binds now: a port taken fails the start, not a probe
        self._thread = threading.Thread(
            target=self._server.serve, name="worker-probes", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(5)
