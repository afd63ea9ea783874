"""Request schemas generated from the domain's request contracts
(:mod:`fraud.domain.requests`): the API document describes a body with exactly the fields,
types, bounds and defaults the domain's parser holds it to, so the two cannot drift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
