"""Request schemas generated from the domain's request contracts
(:mod:`fraud.domain.requests`): the API document describes a body with exactly the fields,
types, bounds and defaults the domain's parser holds it to, so the two cannot drift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, abort
from marshmallow import INCLUDE, Schema, fields, validate
from marshmallow.validate import Validator

from fraud.domain.requests import RequestContract, RequestField

_TYPES: dict[str, type[fields.Field]] = {
    "integer": fields.Integer,
    "number": fields.Float,
    "string": fields.String,
    "boolean": fields.Boolean,
}


def request_schema(
    name: str,
    contract: RequestContract,
    description: str,
    examples: Sequence[Mapping[str, Any]] = (),
) -> type[Schema]:
    """A schema named ``name`` (as the API document lists it) for a body ``contract``
    parses; ``description`` and ``examples`` are the document's."""

    class Meta:
        unknown = INCLUDE  # the domain's parser, not the schema, refuses unknown fields

    Meta.examples = tuple(examples)  # type: ignore[attr-defined]
    declared = {field.name: _declared(field) for field in contract.fields}
    return type(name, (Schema,), {"__doc__": description, "Meta": Meta, **declared})


def _declared(field: RequestField) -> fields.Field:
    validators: list[Validator] = []
    metadata: dict[str, Any] = {"description": field.meaning}
    if field.exclusive:  # OpenAPI 3.1 (JSON Schema) says an open bound by its own keyword
        bounds = {"exclusiveMinimum": field.minimum, "exclusiveMaximum": field.maximum}
        metadata |= {key: bound for key, bound in bounds.items() if bound is not None}
    elif field.minimum is not None or field.maximum is not None:
        validators.append(validate.Range(field.minimum, field.maximum))
    if field.choices:
        validators.append(validate.OneOf(field.choices))
    elif field.type == "string":
        validators.append(validate.Length(min=1))
    if field.default is not None:
        metadata["default"] = field.default
    return _TYPES[field.type](required=field.required, validate=validators, metadata=metadata)


# A stored row's id in a path, as the database can hold it: a larger number names no row (a
# 404), never an integer SQLite cannot take (a 500).
LARGEST_ROW_ID = 2**63 - 1


def row_id_parameter(name: str, description: str) -> dict[str, Any]:
    """The path parameter of a route whose id is a stored row's, as the API document says it."""
    schema = {"type": "integer", "minimum": 1, "maximum": LARGEST_ROW_ID}
    return {"in": "path", "name": name, "description": description, "schema": schema}


def bound_row_ids(blueprint: Blueprint, *names: str) -> None:
    """Answer 404 for a path whose ``names`` hold an id no row can have, before the view: a
    bound in the route's converter would turn into a 405 where another method shares the
    path, since the router then knows the path but not for that method."""

    @blueprint.url_value_preprocessor
    def no_such_row(_endpoint: str | None, values: dict[str, Any] | None) -> None:
        for name in names:
            value = (values or {}).get(name)
            if isinstance(value, int) and not 1 <= value <= LARGEST_ROW_ID:
                abort(404)
