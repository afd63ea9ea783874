"""The JSON of review queues and cases: what the API answers and the requests it takes."""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, fields, pre_dump, validate

from fraud.domain.cases import (
    MAX_NOTE_LENGTH,
    MAX_QUEUE_NAME_LENGTH,
    MAX_SLA_MINUTES,
    MAX_WEIGHT,
    MIN_SLA_MINUTES,
    CaseAction,
    CaseStatus,
    Disposition,
    Queue,
)
from fraud.domain.lists import MAX_EXPIRY_DAYS
from fraud.entrypoints.http.schemas import (
    DECISIONS,
    Instant,
    QueryInteger,
    Rounded,
    Shape,
    VerdictSchema,
)

CASE_STATUSES = [status.value for status in CaseStatus]
DISPOSITIONS = [disposition.value for disposition in Disposition]
_CONDITION = {
    "description": "a CEL condition over tx, features, score, decision (review or decline) and "
    "rules (the names of the active rules that hit), e.g. '\"gift-cards\" in rules'; "
    "the first queue, by position, whose condition holds takes the case"
}
_WEIGHTS = {
    "description": "the priority's exponents: priority = score^score x log10(amount + "
    "10)^amount x (1 + waited / SLA)^waiting; 0 drops a factor (0, 0, 1: first come, first "
    f"served); each from 0 to {MAX_WEIGHT:g}"
}


class WeightsSchema(Shape):
    score = fields.Float(required=True)
    amount = fields.Float(required=True)
    waiting = fields.Float(required=True)


class WeightsRequestSchema(Shape):
    """The weights given; each one left out is 1."""

    score = fields.Float(load_default=1.0)
    amount = fields.Float(load_default=1.0)
    waiting = fields.Float(load_default=1.0)


class QueueSchema(Shape):
    """A queue: what routes a case to it, its SLA, and how its cases are ordered."""

    name = fields.String(required=True, metadata={"maxLength": MAX_QUEUE_NAME_LENGTH})
    condition = fields.String(required=True, metadata=_CONDITION)
    sla_minutes = fields.Method("_sla_minutes", required=True)
    include_declines = fields.Boolean(
        required=True, metadata={"description": "whether declines open cases here too"}
    )
    weights = fields.Nested(WeightsSchema, required=True, metadata=_WEIGHTS)
    position = fields.Integer(
        required=True, metadata={"description": "routing order: lower first; default is last"}
    )
    description = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "1, then one per change"})

    def _sla_minutes(self, queue: Queue) -> float:
        return queue.sla.total_seconds() / 60


class QueueStateSchema(Shape):
    """A queue with its cases counted: open, held, waiting on information, and past its SLA
    (open or held longer than it), with a warning when its oldest case nears the SLA."""

    queue = fields.Nested(QueueSchema, required=True)
    open = fields.Integer(required=True)
    claimed = fields.Integer(required=True)
    waiting = fields.Integer(required=True)
    past_sla = fields.Integer(required=True)
    oldest_open_at = Instant(required=True, allow_none=True)
    warning = fields.String(required=True, allow_none=True)


class CaseSchema(Shape):
    """A case: its transaction's figures, its queue, who holds it and how it ended."""

    id = fields.Integer(required=True)
    transaction_id = fields.String(required=True)
    user_id = fields.String(required=True, metadata={"description": "the card"})
    merchant = fields.String(required=True)
    amount = fields.Float(required=True)
    currency = fields.String(required=True)
    fraud_score = Rounded(6, required=True)
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    queue = fields.String(required=True)
    opened_at = Instant(required=True)
    status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    assignee = fields.String(required=True, allow_none=True)
    claimed_at = Instant(allow_none=True)
    resolved_at = Instant(allow_none=True)
    disposition = fields.String(allow_none=True, validate=validate.OneOf(DISPOSITIONS))
    resolved_by = fields.String(allow_none=True)


class RankedCaseSchema(CaseSchema):
    """A case with its priority now and when its queue's SLA runs out for it."""

    @pre_dump
    def _flatten(self, ranked: Any, **_: Any) -> dict[str, Any]:
        case = ranked.case
        return {
            **{name: getattr(case, name) for name in CaseSchema._declared_fields},
            "priority": ranked.priority,
            "due_at": ranked.due_at,
        }

    priority = Rounded(4, required=True)
    due_at = Instant(required=True)


class QueueViewSchema(Shape):
    state = fields.Nested(QueueStateSchema, required=True)
    cases = fields.List(
        fields.Nested(RankedCaseSchema),
        required=True,
        attribute="ranked",
        metadata={"description": "its open cases, highest priority first"},
    )
    held = fields.List(
        fields.Nested(RankedCaseSchema),
        required=True,
        metadata={"description": "its cases held by an analyst or waiting on information"},
    )


class CaseNoteSchema(Shape):
    at = Instant(required=True)
    by = fields.String(required=True)
    text = fields.String(required=True)


class CaseEventSchema(Shape):
    at = Instant(required=True)
    by = fields.String(required=True)
    action = fields.String(
        required=True, validate=validate.OneOf([action.value for action in CaseAction])
    )
    detail = fields.String(required=True)


class CaseDetailSchema(Shape):
    """A case with everything its page shows."""

    case = fields.Nested(RankedCaseSchema, required=True)
    transaction = fields.Nested(VerdictSchema, required=True, allow_none=True, attribute="record")
    notes = fields.List(fields.Nested(CaseNoteSchema), required=True)
    history = fields.List(fields.Nested(CaseEventSchema), required=True)
    card_transactions = fields.List(
        fields.Nested(VerdictSchema),
        required=True,
        metadata={"description": "the card's latest other transactions"},
    )
    card_cases = fields.List(
        fields.Nested(CaseSchema),
        required=True,
        metadata={"description": "the card's other cases not yet resolved"},
    )
    merchant_frauds = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "the merchant's transactions resolved as fraud, latest first"},
    )


# --- requests ---------------------------------------------------------------------------------


class QueueUpdateSchema(Schema):
    """The fields of a queue to change (at least one); a queue's name does not change."""

    class Meta:
        unknown = INCLUDE
        examples = ({"sla_minutes": 30, "include_declines": True},)

    condition = fields.String(metadata=_CONDITION)
    sla_minutes = fields.Float(metadata={"minimum": MIN_SLA_MINUTES, "maximum": MAX_SLA_MINUTES})
    include_declines = fields.Boolean()
    weights = fields.Nested(WeightsRequestSchema, metadata=_WEIGHTS)
    position = fields.Integer()
    description = fields.String()


class QueueRequestSchema(QueueUpdateSchema):
    """A new queue (only its name is required)."""

    class Meta:
        unknown = INCLUDE
        examples = (
            {
                "name": "high-value",
                "condition": "tx.amount >= 1000.0",
                "sla_minutes": 60,
                "include_declines": True,
                "weights": {"score": 1, "amount": 2, "waiting": 1},
                "position": 10,
                "description": "large purchases, declines too",
            },
        )

    name = fields.String(required=True, metadata={"maxLength": MAX_QUEUE_NAME_LENGTH})


class NoteRequestSchema(Schema):
    class Meta:
        unknown = INCLUDE
        examples = ({"text": "called the card holder: not theirs"},)

    text = fields.String(required=True, metadata={"maxLength": MAX_NOTE_LENGTH})


class ResolutionRequestSchema(Schema):
    """A disposition: fraud or not fraud resolves the case with the transaction's label;
    needs_info sets it waiting (no label)."""

    class Meta:
        unknown = INCLUDE
        examples = ({"disposition": "fraud", "note": "card reported stolen", "whole_card": True},)

    disposition = fields.String(required=True, validate=validate.OneOf(DISPOSITIONS))
    note = fields.String(allow_none=True, metadata={"maxLength": MAX_NOTE_LENGTH})
    whole_card = fields.Boolean(
        metadata={"description": "resolve the card's other cases nobody else holds the same way"}
    )


class ListValueRequestSchema(Schema):
    """A case's value of the list's field (its card, its merchant) added to the list."""

    class Meta:
        unknown = INCLUDE
        examples = ({"list": "blocked_cards", "days": 30, "reason": "card reported stolen"},)

    list = fields.String(required=True)
    reason = fields.String(required=True)
    days = fields.Float(metadata={"minimum": 0.001, "maximum": MAX_EXPIRY_DAYS})


class CaseQuerySchema(Schema):
    """Which cases to list, newest first."""

    queue = fields.String(validate=validate.Length(1, MAX_QUEUE_NAME_LENGTH))
    status = fields.String(validate=validate.OneOf(CASE_STATUSES))
    assignee = fields.String(validate=validate.Length(1, 64))
    user_id = fields.String(validate=validate.Length(1, 64), metadata={"description": "a card"})
    limit = QueryInteger(
        load_default=100,
        validate=validate.Range(1, 500, error="must be an integer from 1 to 500"),
        error_messages={"invalid": "must be an integer from 1 to 500"},
    )
