"""The monitoring dashboard: live charts, flagged transactions, model and pipeline panels,
a page per transaction, and the JSON the pages poll."""

from __future__ import annotations

import flask
from dependency_injector.wiring import Provide, inject
from flask import render_template
from flask_smorest import Blueprint

from fraud.application.drift import DriftReport, DriftWatch
from fraud.application.monitoring import ActivityMonitor, PipelineHealth, PipelineWatch
from fraud.application.queries import DashboardFigures, DashboardStats, LabelLoop, LabelLoopFigures
from fraud.containers import Container
from fraud.domain.identity import Permission
from fraud.domain.model import ModelInfo
from fraud.domain.monitoring import ActivitySnapshot
from fraud.domain.ports import VerdictQueries
from fraud.entrypoints.http.access import requires
from fraud.entrypoints.http.monitoring_schemas import (
    ActivitySchema,
    DashboardSchema,
    DriftReportSchema,
    LabelLoopSchema,
    ModelCardSchema,
    PipelineHealthSchema,
)
from fraud.entrypoints.http.openapi import UNAVAILABLE
from fraud.entrypoints.http.schemas import ErrorSchema, LimitQuerySchema, VerdictSchema
from fraud.entrypoints.http.timeline import timeline

pages = flask.Blueprint("pages", __name__)
dashboard = Blueprint("dashboard", __name__, description="What the dashboard polls")

_DASHBOARD = DashboardSchema()
_VERDICT = VerdictSchema()


@pages.get("/")
@requires(Permission.READ, page=True)
@inject
def index(figures: DashboardFigures = Provide[Container.dashboard_figures]) -> str:
    stats = figures(LimitQuerySchema.DEFAULT)
    return render_template("dashboard.html", stats=_DASHBOARD.dump(stats))


@pages.get("/dashboard/transactions/<path:transaction_id>")
@requires(Permission.READ, page=True)
@inject
def transaction_page(
    transaction_id: str,
    queries: VerdictQueries = Provide[Container.queries],
) -> tuple[str, int]:
    """One transaction for an analyst: fields, verdict, reasons, features, timeline, label."""
    record = queries.get(transaction_id)
    if record is None:
        return render_template("missing.html", transaction_id=transaction_id), 404
    return (
        render_template("transaction.html", item=_VERDICT.dump(record), timeline=timeline(record)),
        200,
    )


# The most of a card's transactions its page lists, newest first.
CARD_PAGE_LIMIT = 200


@pages.get("/dashboard/cards/<path:user_id>")
@requires(Permission.READ, page=True)
@inject
def card_page(user_id: str, queries: VerdictQueries = Provide[Container.queries]) -> str:
    """One card's transactions, newest first: what the analyst reads a verdict against."""
    records = queries.recent(CARD_PAGE_LIMIT, user_id=user_id)
    return render_template(
        "card.html",
        user_id=user_id,
        items=_VERDICT.dump(records, many=True),
        limit=CARD_PAGE_LIMIT,
    )


@dashboard.get("/api/dashboard", tags=["dashboard"])
@dashboard.arguments(LimitQuerySchema, location="query", as_kwargs=True)
@dashboard.response(200, DashboardSchema, description="The dashboard's figures")
@dashboard.alt_response(
    422, schema=ErrorSchema, description="limit is not an integer from 1 to 100"
)
@dashboard.alt_response(**UNAVAILABLE)
@requires(Permission.READ)
@inject
def stats(
    limit: int,
    figures: DashboardFigures = Provide[Container.dashboard_figures],
) -> DashboardStats:
    """Counts by decision, the latest transactions and the latest flagged ones.

    Also the analysts' confirmations of the last seven days' reviews and declines.
    """
    return figures(limit)


@dashboard.get("/api/activity", tags=["dashboard"])
@dashboard.response(200, ActivitySchema, description="The live window")
@dashboard.alt_response(**UNAVAILABLE)
@requires(Permission.READ)
@inject
def activity(monitor: ActivityMonitor = Provide[Container.activity]) -> ActivitySnapshot:
    """The last minutes of verdicts in time buckets.

    Throughput, decisions, fraud rate and latency percentiles per bucket, and the
    score distribution over the whole window.
    """
    return monitor.snapshot()


@dashboard.get("/api/model", tags=["dashboard"])
@dashboard.response(200, ModelCardSchema, description="The model card")
@requires(Permission.READ)
@inject
def model(card: ModelInfo | None = Provide[Container.model_card]) -> ModelInfo | None:
    """The model in use: its version, training, validation metrics and thresholds."""
    return card


@dashboard.get("/api/drift", tags=["dashboard"])
@dashboard.response(200, DriftReportSchema, description="The champion's drift")
@dashboard.alt_response(**UNAVAILABLE)
@requires(Permission.READ)
@inject
def drift(watch: DriftWatch = Provide[Container.drift_watch]) -> DriftReport:
    """How far the last day's traffic has moved from the champion's training window: the
    population stability index of each feature and of the score, most drifted first, and
    the threshold above which it counts as drift."""
    return watch.report()


@dashboard.get("/api/labels", tags=["dashboard"])
@dashboard.response(200, LabelLoopSchema, description="The label loop")
@dashboard.alt_response(**UNAVAILABLE)
@requires(Permission.READ)
@inject
def label_loop(figures: LabelLoopFigures = Provide[Container.label_loop]) -> LabelLoop:
    """How labels come back: labels given per day and how long after the purchase (the last
    30 days), and the merchants whose purchases of the last 7 days are most often confirmed
    fraud: what the features learn from."""
    return figures()


@dashboard.get("/api/pipeline", tags=["dashboard"])
@dashboard.response(200, PipelineHealthSchema, description="The pipeline's health")
@requires(Permission.READ)
@inject
def pipeline(watch: PipelineWatch = Provide[Container.pipeline_watch]) -> PipelineHealth:
    """Each stage's consumer lag per topic, and the dead letters waiting.

    When the stages run in this process, also whether they are alive.
    """
    return watch.health()
