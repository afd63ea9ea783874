"""The monitoring dashboard: live charts, flagged transactions, model and pipeline panels,
a page per transaction, and the JSON the pages poll."""

from __future__ import annotations

from datetime import timedelta

from dependency_injector.wiring import Provide, inject
from flask import Blueprint, Response, current_app, jsonify, render_template, request

from fraud.application.monitoring import ActivityMonitor, PipelineWatch
from fraud.application.queries import DashboardStats, dashboard_stats, get_transaction
from fraud.containers import Container
from fraud.domain.errors import FieldError
from fraud.domain.model import ModelInfo
from fraud.domain.ports import Clock, UnitOfWorkFactory
from fraud.entrypoints.consumer.pipeline import watched_consumers
from fraud.entrypoints.http.errors import ApiError
from fraud.entrypoints.http.monitoring_schemas import (
    ACTIVITY,
    DASHBOARD,
    MODEL_CARD,
    PIPELINE_HEALTH,
)
from fraud.entrypoints.http.openapi import ERROR, operation, query, reply
from fraud.entrypoints.http.presenters import (
    activity_view,
    model_view,
    pipeline_view,
    record_view,
    timeline,
)
from fraud.entrypoints.http.schemas import UNAVAILABLE

dashboard = Blueprint("dashboard", __name__)

DEFAULT_ROWS = 20
MAX_ROWS = 100
PRECISION_WINDOW = timedelta(days=7)  # how far back the analysts' confirmations are counted


def _stats_view(stats: DashboardStats) -> dict[str, object]:
    return {
        "total": stats.total,
        "counts": stats.counts,
        "recent": [record_view(record) for record in stats.recent],
        "flagged": [record_view(record) for record in stats.flagged],
        "label_precision": stats.label_precision,
    }


@dashboard.get("/")
@inject
def index(
    unit_of_work: UnitOfWorkFactory = Provide[Container.unit_of_work],
    clock: Clock = Provide[Container.clock],
) -> str:
    stats = dashboard_stats(unit_of_work, limit=DEFAULT_ROWS, since=clock.now() - PRECISION_WINDOW)
    return render_template("dashboard.html", stats=_stats_view(stats))


@dashboard.get("/dashboard/transactions/<path:transaction_id>")
@inject
def transaction_page(
    transaction_id: str,
    unit_of_work: UnitOfWorkFactory = Provide[Container.unit_of_work],
) -> tuple[str, int]:
    """One transaction for an analyst: fields, verdict, reasons, features, timeline, label."""
    record = get_transaction(unit_of_work, transaction_id)
    if record is None:
        return render_template("missing.html", transaction_id=transaction_id), 404
    return (
        render_template("transaction.html", item=record_view(record), timeline=timeline(record)),
        200,
    )


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_ROWS
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ROWS:
        rule = f"must be an integer from 1 to {MAX_ROWS}"
        raise ApiError.breaks_contract("query", [FieldError("limit", rule)])
    return int(raw)


@dashboard.get("/api/dashboard")
@operation(
    tags=["dashboard"],
    parameters=[
        query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_ROWS, "default": DEFAULT_ROWS},
            "rows in each list",
        )
    ],
    responses={
        200: reply("The dashboard's figures", DASHBOARD),
        422: reply("limit is not an integer in range", ERROR),
        503: UNAVAILABLE,
    },
)
@inject
def stats(
    unit_of_work: UnitOfWorkFactory = Provide[Container.unit_of_work],
    clock: Clock = Provide[Container.clock],
) -> Response:
    """Counts by decision, the latest transactions and the latest flagged ones.

    Also the analysts' confirmations of the last seven days' reviews and declines.
    """
    limit = _limit()
    since = clock.now() - PRECISION_WINDOW
    return jsonify(_stats_view(dashboard_stats(unit_of_work, limit=limit, since=since)))


@dashboard.get("/api/activity")
@operation(
    tags=["dashboard"],
    responses={200: reply("The live window", ACTIVITY), 503: UNAVAILABLE},
)
@inject
def activity(monitor: ActivityMonitor = Provide[Container.activity]) -> Response:
    """The last minutes of verdicts in time buckets.

    Throughput, decisions, fraud rate and latency percentiles per bucket, and the
    score distribution over the whole window.
    """
    return jsonify(activity_view(monitor.snapshot()))


@dashboard.get("/api/model")
@operation(tags=["dashboard"], responses={200: reply("The model card", MODEL_CARD)})
@inject
def model(card: ModelInfo | None = Provide[Container.model_card]) -> Response:
    """The model in use: its version, training, validation metrics and thresholds."""
    return jsonify(model_view(card))


@dashboard.get("/api/pipeline")
@operation(tags=["dashboard"], responses={200: reply("The pipeline's health", PIPELINE_HEALTH)})
@inject
def pipeline(watch: PipelineWatch = Provide[Container.pipeline_watch]) -> Response:
    """Each stage's consumer lag per topic, and the dead letters waiting.

    When the stages run in this process, also whether they are alive.
    """
    embedded = current_app.extensions.get("fraud.pipeline")
    consumers = {
        watched.stage: (watched.group, watched.topics)
        for watched in (embedded.watched if embedded is not None else watched_consumers())
    }
    running = None if embedded is None else embedded.alive()
    return jsonify(pipeline_view(watch.health(consumers), running))
