"""The JSON of value lists and webhooks."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from fraud.domain.lists import (
    LIST_FIELDS,
    MAX_DESCRIPTION_LENGTH,
    MAX_ENTRIES,
    MAX_EXPIRY_DAYS,
    MAX_LIST_NAME_LENGTH,
    MAX_VALUE_LENGTH,
)
from fraud.domain.webhooks import DeliveryStatus, EventType
from fraud.entrypoints.http.schemas import Instant, QueryInteger, Shape

EVENT_TYPES = [event.value for event in EventType]
DELIVERY_STATUSES = [status.value for status in DeliveryStatus]


class ValueListSchema(Shape):
    """A list; rules read it as ``lists.NAME`` (e.g. ``tx.user_id in lists.blocked_cards``)."""

    name = fields.String(required=True, metadata={"maxLength": MAX_LIST_NAME_LENGTH})
    field = fields.String(
        required=True,
        validate=validate.OneOf(LIST_FIELDS),
        metadata={"description": "the transaction field its values are of"},
    )
    description = fields.String(required=True)
    created_by = fields.String(required=True)
    created_at = Instant(required=True)
    entries = fields.Integer(
        required=True, metadata={"description": f"live entries now; at most {MAX_ENTRIES:,}"}
    )


class ListEntrySchema(Shape):
    value = fields.String(required=True, metadata={"maxLength": MAX_VALUE_LENGTH})
    reason = fields.String(required=True)
    added_by = fields.String(required=True)
    added_at = Instant(required=True)
    expires_at = Instant(
        required=True, allow_none=True, metadata={"description": "null: until removed"}
    )


class ListDetailSchema(Shape):
    list = fields.Nested(ValueListSchema, required=True)
    entries = fields.List(
        fields.Nested(ListEntrySchema),
        required=True,
        metadata={"description": "its entries, live or expired, latest added first"},
    )


class ListRequestSchema(Schema):
    """A new list."""

    class Meta:
        unknown = INCLUDE
        examples = ({"name": "blocked_cards", "field": "user_id", "description": "refused"},)

    name = fields.String(
        required=True,
        metadata={"description": "lower-case letters, digits and _", "maxLength": 64},
    )
    field = fields.String(validate=validate.OneOf(LIST_FIELDS), metadata={"default": "user_id"})
    description = fields.String(metadata={"maxLength": MAX_DESCRIPTION_LENGTH})


class EntryRequestSchema(Schema):
    """An entry to add (a value listed again gets the new expiry and reason)."""

    class Meta:
        unknown = INCLUDE
        examples = ({"value": "user-1234", "reason": "card reported stolen", "days": 30},)

    value = fields.String(required=True, metadata={"maxLength": MAX_VALUE_LENGTH})
    reason = fields.String(required=True, metadata={"maxLength": MAX_DESCRIPTION_LENGTH})
    days = fields.Float(
        metadata={
            "description": "how long it holds; left out (and no expires_at): until removed",
            "minimum": 0.001,
            "maximum": MAX_EXPIRY_DAYS,
        }
    )
    expires_at = fields.String(
        metadata={"description": "when it stops holding, instead of days (ISO 8601, a zone)"}
    )


class SubscriptionSchema(Shape):
    """Where events of some types are sent (its secret is never shown again)."""

    id = fields.Integer(required=True)
    url = fields.String(required=True)
    events = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)), required=True)
    description = fields.String(required=True)
    created_by = fields.String(required=True)
    created_at = Instant(required=True)
    removed_at = Instant(required=True, allow_none=True)


class MadeSubscriptionSchema(Shape):
    subscription = fields.Nested(SubscriptionSchema, required=True)
    secret = fields.String(
        required=True,
        metadata={
            "description": "signs every event (Fraud-Signature: t=UNIX,v1=HMAC-SHA256 of "
            "t + '.' + body, hex): shown this once, store it now"
        },
    )


class SubscriptionRequestSchema(Schema):
    """A new subscription."""

    class Meta:
        unknown = INCLUDE
        examples = (
            {
                "url": "https://payments.example.com/fraud-events",
                "events": ["decision.decline", "case.resolved"],
                "description": "card blocking",
            },
        )

    url = fields.String(required=True, metadata={"maxLength": 2048})
    events = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)), required=True)
    description = fields.String()


class DeliverySchema(Shape):
    """One event for one subscription: where it stands."""

    id = fields.Integer(required=True)
    event_id = fields.String(required=True)
    event_type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    status = fields.String(required=True, validate=validate.OneOf(DELIVERY_STATUSES))
    attempts = fields.Integer(required=True)
    created_at = Instant(required=True)
    next_attempt_at = Instant(required=True, allow_none=True)
    delivered_at = Instant(required=True, allow_none=True)
    last_error = fields.String(required=True, allow_none=True)


class AttemptSchema(Shape):
    """One attempt at a delivery: what the receiver answered, or what failed."""

    delivery_id = fields.Integer(required=True)
    event_id = fields.String(required=True)
    at = Instant(required=True)
    status_code = fields.Integer(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)
    duration_ms = fields.Float(required=True)


class DeliveryQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    limit = QueryInteger(
        load_default=100,
        validate=validate.Range(1, 500, error="must be an integer from 1 to 500"),
        error_messages={"invalid": "must be an integer from 1 to 500"},
    )


class ReplayRequestSchema(Schema):
    """Which failed deliveries to send again: these, or (left out) every failed one."""

    class Meta:
        unknown = INCLUDE
        examples = ({}, {"delivery_ids": [12, 13]})

    delivery_ids = fields.List(fields.Integer())


class ReplayedSchema(Shape):
    replayed = fields.Integer(required=True)
