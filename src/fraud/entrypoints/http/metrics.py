"""``GET /metrics``: the pipeline's metrics in the Prometheus text format.

Each process serves its own registry. Under gunicorn with several workers a
scrape reaches one worker and sees only that worker's counters (transactions it
accepted); the stages' counters live in whichever process runs them (`fraud run`).
Prometheus' multiprocess mode would merge workers; it is out of scope. Consumer
lag is read from the bus at scrape time, so every process reports it in full.
"""

from __future__ import annotations

from dependency_injector.wiring import Provide, inject
from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fraud.adapters.prometheus.metrics import PrometheusMetrics
from fraud.containers import Container
from fraud.entrypoints.http.openapi import operation, reply

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
@operation(
    tags=["operations"],
    responses={
        200: reply(
            "Counters, histograms and consumer lag",
            {"type": "string"},
            media_type=CONTENT_TYPE_LATEST.split(";")[0],
        )
    },
)
@inject
def scrape(pipeline_metrics: PrometheusMetrics = Provide[Container.metrics]) -> Response:
    """This process's pipeline metrics in the Prometheus text format."""
    return Response(generate_latest(pipeline_metrics.registry), content_type=CONTENT_TYPE_LATEST)
