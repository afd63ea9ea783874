"""A canary over HTTP: the share of cards the challenger decides, its steps, and its history
(reading needs ``read``; a step needs ``models``, as a change of role does). A step the use
case refuses (no challenger, the share it has already) is a 409; a share outside 0 to 1 a 422.
"""

from __future__ import annotations

from typing import Any

from dependency_injector.wiring import Provide, inject
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from fraud.application.canary import Canary, ManageCanary
from fraud.containers import Container
from fraud.domain.canary import CANARY_STEPS, CanaryStep
from fraud.domain.errors import FieldError
from fraud.domain.identity import Permission
from fraud.entrypoints.http.access import current_actor, requires
from fraud.entrypoints.http.api import BAD_BODY, json_body
from fraud.entrypoints.http.errors import ApiError
from fraud.entrypoints.http.models import REFUSED, REFUSED_ROLE
from fraud.entrypoints.http.openapi import (
    NOT_JSON,
    TOO_LARGE,
    UNAVAILABLE,
    answers_also,
    request_body,
)
from fraud.entrypoints.http.schemas import Instant, Shape

canary = Blueprint("canary", __name__, description="Canary rollout of the challenger")

SHARE = {"validate": validate.Range(0, 1), "metadata": {"description": "of the cards, 0 to 1"}}


class CanaryStepSchema(Shape):
    version = fields.String(required=True, metadata={"description": "the challenger"})
    share = fields.Float(required=True, **SHARE)
    at = Instant(required=True)
    by = fields.String(required=True, metadata={"description": "who: a person, or service"})
    reason = fields.String(required=True)
    step = fields.Integer(required=True, attribute="id", validate=validate.Range(min=1))


class CanarySchema(Shape):
    champion = fields.String(required=True, allow_none=True)
    challenger = fields.String(required=True, allow_none=True)
    share = fields.Float(required=True, **SHARE)
    steps = fields.List(fields.Float(), required=True, metadata={"description": "raised by"})
    history = fields.List(fields.Nested(CanaryStepSchema), required=True)


class CanaryRequestSchema(Schema):
    share = fields.Float(required=True, **SHARE)


@canary.get("/api/models/canary", tags=["models"])
@canary.response(200, CanarySchema, description="The canary now, and every step it took")
@canary.alt_response(**UNAVAILABLE)
@requires(Permission.READ)
@inject
def show(manage: ManageCanary = Provide[Container.manage_canary]) -> dict[str, Any]:
    """The share of cards the challenger decides (0: it scores in shadow) and its history."""
    now: Canary = manage()
    return {
        "champion": now.champion,
        "challenger": now.challenger,
        "share": now.share,
        "steps": list(CANARY_STEPS),
        "history": now.history,
    }


@canary.put("/api/models/canary", tags=["models"])
@canary.doc(**request_body(CanaryRequestSchema, "the share of cards the challenger decides"))
@canary.response(200, CanaryStepSchema, description="In force from the next batch on")
@answers_also(canary, TOO_LARGE, BAD_BODY, NOT_JSON, REFUSED)
@canary.alt_response(**REFUSED_ROLE)
@requires(Permission.MODELS)
@inject
def set_share(manage: ManageCanary = Provide[Container.manage_canary]) -> CanaryStep:
    """Have the challenger decide this share of the cards (a card by a stable hash of its
    user_id); 0 gives every card back to the champion."""
    body = json_body()
    share = body.get("share") if isinstance(body, dict) else None
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise ApiError.breaks_contract("canary", [FieldError("share", "must be a number, 0 to 1")])
    return manage.set_share(float(share), current_actor())


@canary.post("/api/models/canary/raise", tags=["models"])
@canary.response(200, CanaryStepSchema, description="The next step: 1%, 10%, 50%, 100%")
@canary.alt_response(**REFUSED_ROLE)
@requires(Permission.MODELS)
@inject
def raise_share(manage: ManageCanary = Provide[Container.manage_canary]) -> CanaryStep:
    """Raise the challenger's share of cards a step."""
    return manage.raise_share(current_actor())


@canary.post("/api/models/canary/rollback", tags=["models"])
@canary.response(200, CanaryStepSchema, description="Every card is the champion's again")
@canary.alt_response(**REFUSED_ROLE)
@requires(Permission.MODELS)
@inject
def roll_back(manage: ManageCanary = Provide[Container.manage_canary]) -> CanaryStep:
    """Give every card back to the champion; the challenger scores in shadow again."""
    return manage.roll_back(current_actor())
