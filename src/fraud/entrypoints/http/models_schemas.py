"""The shapes of the model registry's API: its requests and answers."""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import INCLUDE, Schema, fields, validate

from fraud.domain.errors import FieldError
from fraud.domain.registry import REVIEW_BUDGET_REQUEST, ModelRole, ReviewBudgetRequest
from fraud.entrypoints.http.contracts import request_schema
from fraud.entrypoints.http.errors import ApiError
from fraud.entrypoints.http.monitoring_schemas import ModelSchema, ThresholdsSchema
from fraud.entrypoints.http.schemas import Instant, Shape

MAX_VERSION_LENGTH = 128
ROLES = [role.value for role in ModelRole]


class ReviewBudgetSchema(Shape):
    per_day = fields.Float(required=True, metadata={"description": "reviews a day asked for"})
    days = fields.Float(required=True, metadata={"description": "span of scores it was set on"})
    volume_per_day = fields.Float(required=True)
    expected_reviews_per_day = fields.Float(required=True)
    expected_precision = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "on the labelled ones it would have sent; null: none"},
    )
    labelled = fields.Integer(required=True)


class ModelEntrySchema(Shape):
    """A registered model: its card, the role it holds, who registered it and when, and the
    thresholds in force for it (its card's, or those a review budget set)."""

    model = fields.Nested(ModelSchema, required=True, attribute="model.info")
    role = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf(ROLES),
        metadata={"description": "champion (decides), challenger (scores in shadow) or null"},
    )
    registered_at = Instant(required=True, attribute="model.registered_at")
    registered_by = fields.String(required=True, attribute="model.registered_by")
    thresholds = fields.Nested(ThresholdsSchema, required=True, attribute="in_force")
    review_budget = fields.Nested(
        ReviewBudgetSchema,
        attribute="thresholds.budget",
        metadata={"description": "how the thresholds were set, when a review budget set them"},
    )


class RolesSchema(Shape):
    revision = fields.Integer(
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "grows with every change of role"},
    )
    champion = fields.String(required=True, allow_none=True)
    challenger = fields.String(required=True, allow_none=True)
    canary = fields.Float(
        validate=validate.Range(0, 1),
        metadata={"description": "the share of cards the challenger decides (0: in shadow)"},
    )


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
    change = fields.Integer(
        required=True,
        attribute="id",
        validate=validate.Range(min=1),
        metadata={"description": "its number in the role history"},
    )


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


class ModelFiguresSchema(Shape):
    precision = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "of its top `budget` by score that are labelled, the share fraud"},
    )
    recall = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "of the labelled frauds, the share in its top `budget`"},
    )
    average_precision = fields.Float(required=True, allow_none=True)


class ComparisonSchema(Shape):
    scored = fields.Integer(required=True, metadata={"description": "scored by both"})
    labelled = fields.Integer(required=True)
    frauds = fields.Integer(required=True)
    budget = fields.Integer(
        required=True, metadata={"description": "reviews: how many the champion flagged"}
    )
    decisions_changed = fields.Integer(
        required=True,
        metadata={"description": "how many the challenger would have decided otherwise"},
    )
    champion = fields.Nested(ModelFiguresSchema, required=True)
    challenger = fields.Nested(ModelFiguresSchema, required=True)


class ChallengeSchema(Shape):
    challenge = fields.Nested(
        "ChallengeDetailSchema",
        required=True,
        allow_none=True,
        metadata={"description": "null when no model challenges the champion"},
    )


class ChallengeDetailSchema(Shape):
    champion = fields.String(required=True)
    challenger = fields.String(required=True)
    since = Instant(required=True)
    comparison = fields.Nested(ComparisonSchema, required=True)


ReviewBudgetRequestSchema = request_schema(
    "ReviewBudgetRequestSchema",
    REVIEW_BUDGET_REQUEST,
    ReviewBudgetRequest.__doc__ or "",
    examples=({"per_day": 200, "days": 7},),
)


class ThresholdsChangeSchema(Shape):
    version = fields.String(required=True)
    thresholds = fields.Nested(ThresholdsSchema, required=True)
    review_budget = fields.Nested(ReviewBudgetSchema, required=True, attribute="budget")
    changed_at = Instant(required=True, attribute="at")
    changed_by = fields.String(required=True, attribute="by")
