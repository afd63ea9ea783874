"""``GET /metrics``: the pipeline's metrics in the Prometheus text format, for a key with
the ``metrics`` role (Prometheus sends it: ``authorization: {credentials: KEY}``).

Each process serves its own registry. Under gunicorn with several workers a
scrape reaches one worker and sees only that worker's counters (transactions it
accepted); the stages' counters live in whichever process runs them (`fraud run`).
Prometheus' multiprocess mode would merge workers; it is out of scope. Consumer
lag is read from the bus at scrape time, so every process reports it in full.
"""

from __future__ import annotations

from typing import Protocol

from dependency_injector.wiring import Provide, inject
from flask import Response
from flask_smorest import Blueprint

from fraud.containers import Container
from fraud.domain.identity import Permission
from fraud.entrypoints.http.access import requires

metrics = Blueprint("metrics", __name__, description="Operations")

TEXT_FORMAT = "text/plain"


class Exposition(Protocol):
    def exposition(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, and its content type."""


@metrics.get("/metrics", tags=["operations"])
@metrics.response(
    200,
    {"type": "string"},
    content_type=TEXT_FORMAT,
    description="Counters, histograms and consumer lag",
)
@requires(Permission.SCRAPE)
@inject
def scrape(pipeline_metrics: Exposition = Provide[Container.metrics]) -> Response:
    """This process's pipeline metrics in the Prometheus text format."""
    body, content_type = pipeline_metrics.exposition()
    return Response(body, content_type=content_type)
