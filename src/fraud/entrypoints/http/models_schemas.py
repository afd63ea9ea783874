"""The shapes of the model registry's API: its requests and answers."""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import INCLUDE, Schema, fields, validate

from fraud.domain.errors import FieldError
from fraud.domain.registry import ModelRole
from fraud.entrypoints.http.errors import ApiError
from fraud.entrypoints.http.monitoring_schemas import ModelSchema
from fraud.entrypoints.http.schemas import Instant, Shape

MAX_VERSION_LENGTH = 128
ROLES = [role.value for role in ModelRole]


class ModelEntrySchema(Shape):
    """A registered model: its card, the role it holds, who registered it and when."""

    model = fields.Nested(ModelSchema, required=True, attribute="model.info")
    role = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf(ROLES),
        metadata={"description": "champion (decides), challenger (scores in shadow) or null"},
    )
    registered_at = Instant(required=True, attribute="model.registered_at")
    registered_by = fields.String(required=True, attribute="model.registered_by")


class RolesSchema(Shape):
    revision = fields.Integer(
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "grows with every change of role"},
    )
    champion = fields.String(required=True, allow_none=True)
    challenger = fields.String(required=True, allow_none=True)


class RegistrySchema(Shape):
    roles = fields.Nested(RolesSchema, required=True)
    models = fields.List(fields.Nested(ModelEntrySchema), required=True)


class RoleChangeSchema(Shape):
    """A change of role: who held it before, who holds it now (null: nobody)."""

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    version = fields.String(required=True, allow_none=True)
    previous = fields.String(required=True, allow_none=True)
    changed_at = Instant(required=True, attribute="at")
    changed_by = fields.String(required=True, attribute="by")
    revision = fields.Integer(required=True, attribute="id", validate=validate.Range(min=1))


class ChallengerRequestSchema(Schema):
    """The model to challenge the champion."""

    class Meta:
        unknown = INCLUDE
        examples = ({"version": "20261203-101500-1a2b3c4d"},)

    version = fields.String(required=True, validate=validate.Length(min=1, max=MAX_VERSION_LENGTH))


def version_of(body: object) -> str:
    """The request's ``version``, or a 422 naming it."""
    if not isinstance(body, Mapping):
        raise ApiError.breaks_contract("request", [FieldError("body", "must be a JSON object")])
    version = body.get("version")
    if not isinstance(version, str) or not 1 <= len(version) <= MAX_VERSION_LENGTH:
        raise ApiError.breaks_contract(
            "request",
            [
                FieldError(
                    "version", f"is required: a string of 1 to {MAX_VERSION_LENGTH} characters"
                )
            ],
        )
    return version
