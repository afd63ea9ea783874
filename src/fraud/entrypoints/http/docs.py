"""Swagger UI over the OpenAPI document (``/openapi.json``, served by flask-smorest).

Swagger UI is served from ``static/vendor`` (``make install`` vendors it), so the
page works without reaching the internet.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from fraud.domain.identity import Permission
from fraud.entrypoints.http.access import requires

docs = Blueprint("docs", __name__)


@docs.get("/docs")
@requires(Permission.DOCS, page=True)
def swagger_ui() -> str:
    return render_template("docs.html")
