"""``GET /metrics``: the pipeline's metrics in the Prometheus text format, for a key with
the ``metrics`` role (Prometheus sends it: ``authorization: {credentials: KEY}``).

Under granian (`fraud serve`) a scrape reaches one worker, which reports what every
worker counted (they share a directory of counts: adapters/prometheus); the stages'
counters live in the processes that run them (`fraud run`, each `fraud worker`'s probe
port). Consumer lag and drift are read at scrape time, once, by the process that answers.
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
