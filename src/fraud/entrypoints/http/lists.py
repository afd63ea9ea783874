"""Value lists (analysts) and webhook subscriptions (admins): their API, and the webhooks'
page under /admin.

Reading lists needs ``read``, changing them ``lists``; every webhook operation needs
``administer`` (a subscription's log holds what was sent)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flask
from dependency_injector.wiring import Provide, inject
from flask import render_template
from flask_smorest import Blueprint

from fraud.application.lists import ManageLists
from fraud.application.webhooks import MadeSubscription, ManageWebhooks
from fraud.containers import Container
from fraud.domain.errors import FieldError
from fraud.domain.identity import Permission
from fraud.domain.lists import MAX_LIST_NAME_LENGTH, ListEntry, NewEntry, NewList, ValueList
from fraud.domain.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    InvalidWebhook,
    NewSubscription,
    Subscription,
)
from fraud.entrypoints.http.access import current_actor, requires
from fraud.entrypoints.http.api import BAD_BODY, json_body
from fraud.entrypoints.http.contracts import bound_row_ids, row_id_parameter
from fraud.entrypoints.http.lists_schemas import (
    AttemptSchema,
    DeliveryQuerySchema,
    DeliverySchema,
    EntryRequestSchema,
    ListDetailSchema,
    ListEntrySchema,
    ListRequestSchema,
    MadeSubscriptionSchema,
    ReplayedSchema,
    ReplayRequestSchema,
    SubscriptionRequestSchema,
    SubscriptionSchema,
    ValueListSchema,
)
from fraud.entrypoints.http.openapi import NOT_JSON, TOO_LARGE, answers_also, request_body
from fraud.entrypoints.http.schemas import ErrorSchema, LimitQuerySchema

lists = Blueprint("lists", __name__, description="Value lists and webhooks")
bound_row_ids(lists, "subscription_id")
webhook_pages = flask.Blueprint("webhook_pages", __name__)

NAME = {
    "in": "path",
    "name": "name",
    "description": "the list's name",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_LIST_NAME_LENGTH},
}
VALUE = {
    "in": "path",
    "name": "value",
    "description": "the entry's value",
    "schema": {"type": "string"},
}
SUBSCRIPTION = row_id_parameter("subscription_id", "the subscription's id")
REFUSED = {
    "status_code": 422,
    "schema": ErrorSchema,
    "description": "A field breaks its rule (the field and the rule are in the answer)",
}
NO_LIST = {"status_code": 404, "schema": ErrorSchema, "description": "No list of that name"}
NO_SUBSCRIPTION = {"status_code": 404, "schema": ErrorSchema, "description": "No such subscription"}
body_refusals = answers_also(lists, TOO_LARGE, BAD_BODY, NOT_JSON, REFUSED)


@lists.get("/api/lists", tags=["lists"])
@lists.response(200, ValueListSchema(many=True), description="Every list, by name")
@requires(Permission.READ)
@inject
def list_lists(manage: ManageLists = Provide[Container.manage_lists]) -> list[ValueList]:
    """The lists rules may read, each with its live entries counted."""
    return manage.lists()


@lists.post("/api/lists", tags=["lists"])
@lists.doc(**request_body(ListRequestSchema, "the new list"))
@lists.response(201, ValueListSchema, description="Made: rules may read it at once")
@body_refusals
@lists.alt_response(409, schema=ErrorSchema, description="The name is taken")
@requires(Permission.LISTS)
@inject
def create_list(manage: ManageLists = Provide[Container.manage_lists]) -> tuple[ValueList, int]:
    """Make a list of values of one transaction field (user_id for cards, merchant, ...)."""
    return manage.create(NewList.parse(json_body()), current_actor()), 201


@lists.get("/api/lists/<name>", tags=["lists"], parameters=[NAME])
@lists.arguments(LimitQuerySchema, location="query", as_kwargs=True)
@lists.response(200, ListDetailSchema, description="The list and its entries")
@lists.alt_response(**NO_LIST)
@requires(Permission.READ)
@inject
def show_list(
    name: str, limit: int, manage: ManageLists = Provide[Container.manage_lists]
) -> dict[str, Any]:
    """A list with its latest entries, live or expired."""
    found, entries = manage.show(name, limit)
    return {"list": found, "entries": entries}


@lists.post("/api/lists/<name>/entries", tags=["lists"], parameters=[NAME])
@lists.doc(**request_body(EntryRequestSchema, "the value, why, and for how many days"))
@lists.response(201, ListEntrySchema, description="In force on every worker within seconds")
@body_refusals
@lists.alt_response(**NO_LIST)
@lists.alt_response(409, schema=ErrorSchema, description="The list is full")
@requires(Permission.LISTS)
@inject
def add_entry(
    name: str, manage: ManageLists = Provide[Container.manage_lists]
) -> tuple[ListEntry, int]:
    """Add a value to a list (again: a new expiry and reason), audited."""
    return manage.add(name, NewEntry.parse(json_body()), current_actor()), 201


@lists.delete("/api/lists/<name>/entries/<path:value>", tags=["lists"], parameters=[NAME, VALUE])
@lists.response(204, description="Removed: no worker matches it within seconds")
@lists.alt_response(404, schema=ErrorSchema, description="No such list or entry")
@requires(Permission.LISTS)
@inject
def remove_entry(
    name: str, value: str, manage: ManageLists = Provide[Container.manage_lists]
) -> tuple[str, int]:
    """Remove a value from a list, audited."""
    manage.remove(name, value, current_actor())
    return "", 204


# --- webhooks -----------------------------------------------------------------------------------


@lists.get("/api/webhooks", tags=["webhooks"])
@lists.response(200, SubscriptionSchema(many=True), description="Every subscription")
@requires(Permission.ADMINISTER)
@inject
def list_webhooks(
    manage: ManageWebhooks = Provide[Container.manage_webhooks],
) -> list[Subscription]:
    """The subscriptions, removed ones too, oldest first."""
    return manage.subscriptions()


@lists.post("/api/webhooks", tags=["webhooks"])
@lists.doc(**request_body(SubscriptionRequestSchema, "where to send which events"))
@lists.response(201, MadeSubscriptionSchema, description="Subscribed; its secret this once")
@body_refusals
@requires(Permission.ADMINISTER)
@inject
def add_webhook(
    manage: ManageWebhooks = Provide[Container.manage_webhooks],
) -> tuple[MadeSubscription, int]:
    """Subscribe a URL to events; the answer holds the secret that signs them, this once.
    A receiver on a private or loopback address is refused unless the deployment allows
    it (FRAUD_WEBHOOK_PRIVATE_ADDRESSES)."""
    return manage.add(NewSubscription.parse(json_body()), current_actor()), 201


@lists.get("/api/webhooks/<int:subscription_id>", tags=["webhooks"], parameters=[SUBSCRIPTION])
@lists.response(200, SubscriptionSchema, description="The subscription")
@lists.alt_response(**NO_SUBSCRIPTION)
@requires(Permission.ADMINISTER)
@inject
def get_webhook(
    subscription_id: int, manage: ManageWebhooks = Provide[Container.manage_webhooks]
) -> Subscription:
    """A subscription."""
    return manage.get(subscription_id)


@lists.delete("/api/webhooks/<int:subscription_id>", tags=["webhooks"], parameters=[SUBSCRIPTION])
@lists.response(204, description="Removed: nothing more is sent; its log stays")
@lists.alt_response(**NO_SUBSCRIPTION)
@requires(Permission.ADMINISTER)
@inject
def remove_webhook(
    subscription_id: int, manage: ManageWebhooks = Provide[Container.manage_webhooks]
) -> tuple[str, int]:
    """Remove a subscription; what it had still to receive is kept as failed."""
    manage.remove(subscription_id, current_actor())
    return "", 204


@lists.get(
    "/api/webhooks/<int:subscription_id>/deliveries",
    tags=["webhooks"],
    parameters=[SUBSCRIPTION],
)
@lists.arguments(DeliveryQuerySchema, location="query", as_kwargs=True)
@lists.response(200, DeliverySchema(many=True), description="Its deliveries, newest first")
@lists.alt_response(**NO_SUBSCRIPTION)
@lists.alt_response(422, schema=ErrorSchema, description="A filter is out of range")
@requires(Permission.ADMINISTER)
@inject
def webhook_deliveries(
    subscription_id: int,
    limit: int,
    status: str | None = None,
    manage: ManageWebhooks = Provide[Container.manage_webhooks],
) -> list[Delivery]:
    """A subscription's deliveries: pending, delivered, or failed after the last attempt."""
    wanted = None if status is None else DeliveryStatus(status)
    return manage.deliveries(subscription_id, wanted, limit)


@lists.get(
    "/api/webhooks/<int:subscription_id>/attempts",
    tags=["webhooks"],
    parameters=[SUBSCRIPTION],
)
@lists.arguments(LimitQuerySchema, location="query", as_kwargs=True)
@lists.response(200, AttemptSchema(many=True), description="Its delivery log, newest first")
@lists.alt_response(**NO_SUBSCRIPTION)
@lists.alt_response(422, schema=ErrorSchema, description="limit is out of range")
@requires(Permission.ADMINISTER)
@inject
def webhook_attempts(
    subscription_id: int,
    limit: int,
    manage: ManageWebhooks = Provide[Container.manage_webhooks],
) -> list[Attempt]:
    """Every attempt at a subscription's deliveries: what its receiver answered, or why none."""
    return manage.attempts(subscription_id, limit)


@lists.post(
    "/api/webhooks/<int:subscription_id>/replay", tags=["webhooks"], parameters=[SUBSCRIPTION]
)
@lists.doc(**request_body(ReplayRequestSchema, "which failed deliveries; none named: all"))
@lists.response(200, ReplayedSchema, description="How many are sent again")
@body_refusals
@lists.alt_response(**NO_SUBSCRIPTION)
@requires(Permission.ADMINISTER)
@inject
def replay_webhook(
    subscription_id: int, manage: ManageWebhooks = Provide[Container.manage_webhooks]
) -> dict[str, int]:
    """Send failed deliveries again, their attempts counted afresh."""
    ids = _delivery_ids(json_body())
    return {"replayed": manage.replay(subscription_id, current_actor(), ids)}


def _delivery_ids(body: object) -> list[int]:
    ids = body.get("delivery_ids", []) if isinstance(body, Mapping) else None
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise InvalidWebhook([FieldError("delivery_ids", "must be a list of delivery ids")])
    return ids


@webhook_pages.get("/admin/webhooks")
@requires(Permission.ADMINISTER, page=True)
@inject
def webhooks_page(manage: ManageWebhooks = Provide[Container.manage_webhooks]) -> str:
    subscriptions = manage.subscriptions()
    logs = {
        subscription.id: AttemptSchema(many=True).dump(manage.attempts(subscription.id, 20))
        for subscription in subscriptions
    }
    failed = {
        subscription.id: len(manage.deliveries(subscription.id, DeliveryStatus.FAILED, 500))
        for subscription in subscriptions
    }
    return render_template(
        "webhooks.html",
        subscriptions=SubscriptionSchema(many=True).dump(subscriptions),
        logs=logs,
        failed=failed,
    )
