"""The monitoring dashboard: counts by decision and the latest transactions, refreshed live."""

from __future__ import annotations

from datetime import timedelta

from dependency_injector.wiring import Provide, inject
from flask import Blueprint, Response, jsonify, render_template, request

from fraud.application.queries import DashboardStats, dashboard_stats
from fraud.containers import Container
from fraud.domain.ports import Clock, UnitOfWorkFactory
from fraud.entrypoints.http.presenters import record_view

dashboard = Blueprint("dashboard", __name__)

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
    stats = dashboard_stats(unit_of_work, limit=20, since=clock.now() - PRECISION_WINDOW)
    return render_template("dashboard.html", stats=_stats_view(stats))


@dashboard.get("/api/dashboard")
@inject
def stats(
    unit_of_work: UnitOfWorkFactory = Provide[Container.unit_of_work],
    clock: Clock = Provide[Container.clock],
) -> Response:
    limit = min(max(request.args.get("limit", 20, type=int) or 20, 1), MAX_ROWS)
    since = clock.now() - PRECISION_WINDOW
    return jsonify(_stats_view(dashboard_stats(unit_of_work, limit=limit, since=since)))
