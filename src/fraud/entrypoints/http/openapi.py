"""The OpenAPI document, generated from the views that answer the requests.

A view documents itself with :func:`operation`, next to the code it describes;
:func:`build_spec` walks the app's URL rules and hands every documented view to
apispec, so the document lists exactly the routes that exist, with the path
parameters their rules declare. Usage, in any blueprint module::

    from fraud.entrypoints.http.openapi import Schema, operation, query, reply
    from fraud.entrypoints.http.schemas import UNAVAILABLE

    ACTIVITY = Schema("Activity", {"type": "object", "properties": {...}})

    @dashboard.get("/api/activity")
    @operation(
        tags=["dashboard"],
        parameters=[query("limit", {"type": "integer", "minimum": 1}, "rows per list")],
        responses={200: reply("The recent activity", ACTIVITY), 503: UNAVAILABLE},
    )
    @inject
    def activity(...) -> Response:
        '''Summary line.

        Further paragraphs become the operation's description.
        '''

The docstring's first paragraph is the summary and the rest the description,
unless ``summary`` or ``description`` is given. A :class:`Schema` may be used
anywhere a JSON Schema goes, nested ones included: it becomes a component of the
document the first time it is used, and every use a reference to it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from apispec import APISpec
from apispec_webframeworks.flask import FlaskPlugin
from flask import Flask

from fraud import __version__

OPENAPI_VERSION = "3.1.0"
# Flask answers these for every rule by itself; they are not the view's operations.
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})

View = TypeVar("View", bound=Callable[..., Any])

_OPERATION = "openapi_operation"


@dataclass(frozen=True, slots=True)
class Schema:
    """A named JSON Schema, published once under ``components/schemas``."""

    name: str
    definition: Mapping[str, Any]


ERROR = Schema(
    "Error",
    {
        "description": "What every refusal and failure answers: never HTML, never a traceback.",
        "type": "object",
        "required": ["error", "status"],
        "additionalProperties": False,
        "properties": {
            "error": {"type": "string", "description": "what went wrong, for a person"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "details": {
                "type": "array",
                "description": "one entry per offending field of the body",
                "items": {
                    "type": "object",
                    "required": ["field", "rule"],
                    "additionalProperties": False,
                    "properties": {"field": {"type": "string"}, "rule": {"type": "string"}},
                },
            },
        },
    },
)


def reply(
    description: str,
    body: Schema | Mapping[str, Any] | None = None,
    *,
    media_type: str = "application/json",
    headers: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A response object: what the status means, its body and its headers (header objects)."""
    response: dict[str, Any] = {"description": description}
    if body is not None:
        response["content"] = {media_type: {"schema": body}}
    if headers:
        response["headers"] = dict(headers)
    return response


def query(
    name: str, schema: Schema | Mapping[str, Any], description: str, *, required: bool = False
) -> dict[str, Any]:
    """A query string parameter."""
    return _parameter(name, "query", schema, description, required=required)


def header(
    name: str, schema: Schema | Mapping[str, Any], description: str, *, required: bool = False
) -> dict[str, Any]:
    """A request header parameter."""
    return _parameter(name, "header", schema, description, required=required)


def path(name: str, schema: Schema | Mapping[str, Any], description: str) -> dict[str, Any]:
    """A path parameter, for when the rule's own (a non-empty string) says too little."""
    return _parameter(name, "path", schema, description, required=True)


def operation(
    *,
    responses: Mapping[int, Mapping[str, Any]],
    request: Schema | Mapping[str, Any] | None = None,
    parameters: Sequence[Mapping[str, Any]] = (),
    tags: Sequence[str] = (),
    summary: str | None = None,
    description: str | None = None,
) -> Callable[[View], View]:
    """Document a view as an operation of the API; ``request`` is its JSON body's schema."""

    def document(view: View) -> View:
        doc_summary, doc_description = _docstring(view)
        described: dict[str, Any] = {"summary": summary or doc_summary}
        if description or doc_description:
            described["description"] = description or doc_description
        if tags:
            described["tags"] = list(tags)
        if parameters:
            described["parameters"] = [dict(parameter) for parameter in parameters]
        if request is not None:
            described["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": request}},
            }
        described["responses"] = dict(responses)
        setattr(view, _OPERATION, described)
        return view

    return document


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every documented view the app routes to."""
    spec = APISpec(
        title="fraud",
        version=__version__,
        openapi_version=OPENAPI_VERSION,
        plugins=[FlaskPlugin()],
        info={
            "description": (
                "Real-time card-transaction fraud detection: submit a transaction, "
                "read its verdict, label it."
            )
        },
    )
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        view = app.view_functions[rule.endpoint]
        described = getattr(view, _OPERATION, None)
        if described is None:
            continue
        methods = sorted((rule.methods or set()) - IMPLICIT_METHODS)
        if len(methods) != 1:
            raise ValueError(f"{rule.endpoint} serves {methods}: document one method per view")
        described = {**described, "operationId": rule.endpoint}
        parameters = _with_path_parameters(described.get("parameters", []), rule.arguments)
        if parameters:
            described["parameters"] = parameters
        if "requestBody" in described and app.config.get("MAX_CONTENT_LENGTH"):
            described["responses"] = dict(
                sorted({413: _too_large(app), **described["responses"]}.items())
            )
        spec.path(view=view, app=app, operations={methods[0].lower(): _resolve(spec, described)})
    return spec.to_dict()


def _resolve(spec: APISpec, value: Any) -> Any:
    """``value`` with every :class:`Schema` in it registered and replaced by a reference."""
    if isinstance(value, Schema):
        if value.name not in spec.components.schemas:
            spec.components.schema(value.name, _resolve(spec, value.definition))
        return spec.components.get_ref("schema", value.name)
    if isinstance(value, Mapping):
        return {key: _resolve(spec, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(spec, item) for item in value]
    return value


def _with_path_parameters(
    parameters: list[dict[str, Any]], arguments: set[str]
) -> list[dict[str, Any]]:
    """The view's parameters plus one per rule argument the view did not describe itself."""
    described = {parameter["name"] for parameter in parameters if parameter["in"] == "path"}
    generated = [
        path(name, {"type": "string", "minLength": 1}, name.replace("_", " "))
        for name in sorted(arguments - described)
    ]
    return [*parameters, *generated]


def _too_large(app: Flask) -> dict[str, Any]:
    """Werkzeug refuses any body over the app's limit before the view reads it."""
    limit_kib = app.config["MAX_CONTENT_LENGTH"] // 1024
    return reply(f"The body is larger than {limit_kib} KiB", ERROR)


def _parameter(
    name: str,
    location: str,
    schema: Schema | Mapping[str, Any],
    description: str,
    *,
    required: bool,
) -> dict[str, Any]:
    return {
        "name": name,
        "in": location,
        "required": required,
        "description": description,
        "schema": schema,
    }


def _docstring(view: Callable[..., Any]) -> tuple[str, str]:
    """The view's docstring as (summary, description): the first paragraph, then the rest."""
    summary, _, rest = inspect.cleandoc(view.__doc__ or "").partition("\n\n")
    return " ".join(summary.split()), rest.strip()
