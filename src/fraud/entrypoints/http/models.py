"""The model registry over HTTP: every registered model with its card and role, and the
changes of who decides (promote, roll back, challenge).

Reading needs ``read``; changing roles needs ``models`` (admins). What the use cases refuse
is answered by the error handlers: 404 for an unknown version, 409 for a change that
cannot be made (the champion promoted again, a rollback with no earlier champion)."""

from __future__ import annotations

from typing import Any

from dependency_injector.wiring import Provide, inject
from flask_smorest import Blueprint

from fraud.application.models import CompareModels, ManageModels, ModelEntry, SetReviewBudget
from fraud.containers import Container
from fraud.domain.identity import Permission
from fraud.domain.registry import ReviewBudgetRequest, RoleChange, ThresholdsChange
from fraud.entrypoints.http.access import current_actor, requires
from fraud.entrypoints.http.api import BAD_BODY, json_body
from fraud.entrypoints.http.models_schemas import (
    ChallengerRequestSchema,
    ChallengeSchema,
    ModelEntrySchema,
    RegistrySchema,
    ReviewBudgetRequestSchema,
    RoleChangeSchema,
    ThresholdsChangeSchema,
    version_of,
)
from fraud.entrypoints.http.openapi import (
    NOT_JSON,
    TOO_LARGE,
    UNAVAILABLE,
    answers_also,
    request_body,
)
from fraud.entrypoints.http.schemas import ErrorSchema

models = Blueprint("models", __name__, description="The model registry: who decides")

VERSION = {
    "in": "path",
    "name": "version",
    "description": "the model's version",
    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
}
UNKNOWN = {"status_code": 404, "schema": ErrorSchema, "description": "No model of that version"}
REFUSED_ROLE = {
    "status_code": 409,
    "schema": ErrorSchema,
    "description": "The change cannot be made (it holds that role already, or there is no "
    "earlier champion, or no challenger)",
}
REFUSED = {"status_code": 422, "schema": ErrorSchema, "description": "A field breaks its rule"}


@models.get("/api/models", tags=["models"])
@models.response(200, RegistrySchema, description="The registry")
@models.alt_response(**UNAVAILABLE)
@requires(Permission.READ)
@inject
def list_models(manage: ManageModels = Provide[Container.manage_models]) -> dict[str, Any]:
    """Every registered model, newest first, with its card and role; who holds each role
    now, and the registry's revision."""
    return {"roles": manage.roles(), "models": manage.models()}


@models.get("/api/models/challenge", tags=["models"])
@models.response(200, ChallengeSchema, description="The challenge in progress, if any")
@models.alt_response(**UNAVAILABLE)
@requires(Permission.READ)
@inject
def challenge(compare: CompareModels = Provide[Container.compare_models]) -> dict[str, Any]:
    """The champion against the challenger on the transactions of the last 30 days the
    challenger scored in shadow: each one's precision and recall at the champion's review
    budget and its average precision, on the labels known, and how many decisions the
    challenger would have changed."""
    return {"challenge": compare()}


@models.get("/api/models/<version>", tags=["models"], parameters=[VERSION])
@models.response(200, ModelEntrySchema, description="The model")
@models.alt_response(**UNKNOWN)
@requires(Permission.READ)
@inject
def get_model(version: str, manage: ManageModels = Provide[Container.manage_models]) -> ModelEntry:
    """A registered model: its card (metrics, thresholds, training window, data
    fingerprint, features), its role, and who registered it when."""
    return manage.get(version)


@models.post("/api/models/<version>/promote", tags=["models"], parameters=[VERSION])
@models.response(200, RoleChangeSchema, description="It decides from the next batch on")
@models.alt_response(**UNKNOWN)
@models.alt_response(**REFUSED_ROLE)
@requires(Permission.MODELS)
@inject
def promote(version: str, manage: ManageModels = Provide[Container.manage_models]) -> RoleChange:
    """Make this model the champion: every scoring worker decides with it within seconds,
    with no restart. A challenger promoted stops challenging."""
    return manage.promote(version, current_actor())


@models.post("/api/models/<version>/review-budget", tags=["models"], parameters=[VERSION])
@models.doc(**request_body(ReviewBudgetRequestSchema, "the reviews a day the team can handle"))
@models.response(200, ThresholdsChangeSchema, description="In force from the next batch on")
@answers_also(models, TOO_LARGE, BAD_BODY, NOT_JSON, REFUSED)
@models.alt_response(**UNKNOWN)
@models.alt_response(**REFUSED_ROLE)
@requires(Permission.MODELS)
@inject
def review_budget(
    version: str, set_budget: SetReviewBudget = Provide[Container.set_review_budget]
) -> ThresholdsChange:
    """Set the model's review threshold from how many reviews a day the team can handle,
    worked out on the scores it gave over the last days, with the precision to expect on
    the labels known; 409 when it scored nothing lately."""
    budget = ReviewBudgetRequest.parse(json_body())
    return set_budget(version, budget.per_day, current_actor(), budget.days)


@models.post("/api/models/rollback", tags=["models"])
@models.response(200, RoleChangeSchema, description="The earlier champion decides again")
@models.alt_response(**REFUSED_ROLE)
@requires(Permission.MODELS)
@inject
def rollback(manage: ManageModels = Provide[Container.manage_models]) -> RoleChange:
    """Give the champion's role back to the model that held it before the current one."""
    return manage.rollback(current_actor())


@models.put("/api/models/challenger", tags=["models"])
@models.doc(**request_body(ChallengerRequestSchema, "the model to challenge the champion"))
@models.response(200, RoleChangeSchema, description="It scores in shadow from the next batch on")
@answers_also(models, TOO_LARGE, BAD_BODY, NOT_JSON, REFUSED)
@models.alt_response(**UNKNOWN)
@models.alt_response(**REFUSED_ROLE)
@requires(Permission.MODELS)
@inject
def set_challenger(manage: ManageModels = Provide[Container.manage_models]) -> RoleChange:
    """Make a model the challenger: it scores every transaction beside the champion, its
    scores are kept as versions of each verdict, and it decides nothing."""
    return manage.challenge(version_of(json_body()), current_actor())


@models.delete("/api/models/challenger", tags=["models"])
@models.response(200, RoleChangeSchema, description="No model scores in shadow any more")
@models.alt_response(**REFUSED_ROLE)
@requires(Permission.MODELS)
@inject
def end_challenge(manage: ManageModels = Provide[Container.manage_models]) -> RoleChange:
    """End the challenge."""
    return manage.end_challenge(current_actor())
