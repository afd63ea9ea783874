"""The monitoring dashboard: counts by decision and the latest transactions, refreshed live."""

from __future__ import annotations

from dependency_injector.wiring import Provide, inject
from flask import Blueprint, Response, jsonify, render_template, request

from fraud.application.queries import DashboardStats, dashboard_stats
from fraud.containers import Container
from fraud.domain.ports import UnitOfWorkFactory
from fraud.entrypoints.http.presenters import record_view

dashboard = Blueprint("dashboard", __name__)

MAX_ROWS = 100


def _stats_view(stats: DashboardStats) -> dict[str, object]:
    return {
        "total": stats.total,
        "counts": stats.counts,
        "recent": [record_view(record) for record in stats.recent],
        "flagged": [record_view(record) for record in stats.flagged],
    }


@dashboard.get("/")
@inject
def index(unit_of_work: UnitOfWorkFactory = Provide[Container.unit_of_work]) -> str:
    stats = dashboard_stats(unit_of_work, limit=20)
    return render_template("dashboard.html", stats=_stats_view(stats))


@dashboard.get("/api/dashboard")
@inject
def stats(unit_of_work: UnitOfWorkFactory = Provide[Container.unit_of_work]) -> Response:
    limit = min(max(request.args.get("limit", 20, type=int) or 20, 1), MAX_ROWS)
    return jsonify(_stats_view(dashboard_stats(unit_of_work, limit=limit)))
