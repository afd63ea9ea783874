"""The API's own documentation: the OpenAPI document and Swagger UI over it.

Swagger UI is served from ``static/vendor`` (``make install`` vendors it), so the
page works without reaching the internet.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template

from fraud.entrypoints.http.openapi import build_spec

docs = Blueprint("docs", __name__)

_DOCUMENT = "fraud.openapi"


@docs.get("/openapi.json")
def openapi_document() -> Response:
    """Built on first request, when every blueprint is registered, then kept: routes
    do not change while the app runs."""
    if _DOCUMENT not in current_app.extensions:
        current_app.extensions[_DOCUMENT] = build_spec(current_app)
    return jsonify(current_app.extensions[_DOCUMENT])


@docs.get("/docs")
def swagger_ui() -> str:
    return render_template("docs.html")
