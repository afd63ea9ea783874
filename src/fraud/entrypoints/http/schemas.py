"""The JSON the REST API reads and writes, declared once with marshmallow.

A response schema is both halves of the contract: the views return domain
objects and the schema dumps them (``Blueprint.response``), and the OpenAPI
document is generated from the same schema, so the two cannot drift. Request
bodies are parsed by the domain (every broken field reported at once, in the
domain's words); their schemas document that parsing, with every limit and list
of values taken from the domain's own constants. Where the domain is more
lenient than a schema can say (case, surrounding spaces, printable characters),
the schema is the looser of the two and its description says the rest.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from marshmallow import INCLUDE, Schema, fields, post_dump, pre_dump, validate

from fraud.domain.assessment import Decision, Status, TransactionRecord
from fraud.domain.currencies import ISO_4217_CODES
from fraud.domain.labels import ANALYST_MAX_LENGTH
from fraud.domain.ports.tracing import trace_id_of
from fraud.domain.rules import RuleAction, RuleFaultKind, RuleMode, RuleOnError
from fraud.domain.transaction import (
    DEFAULT_CURRENCY,
    KNOWN_DEVICE_TYPES,
    KNOWN_MERCHANT_TYPES,
    MAX_AMOUNT,
    MAX_CATEGORY_LENGTH,
    MAX_ID_LENGTH,
    MAX_MERCHANT_LENGTH,
    OTHER,
    Transaction,
    format_instant,
)

_NOT_BLANK = r"\S"
_TRIMMED = r"^\S(.*\S)?$"

EXAMPLE_TRANSACTION = {
    "user_id": "user123",
    "amount": 1500.00,
    "merchant": "ElectronicsStore",
    "timestamp": "2023-10-05T14:30:00Z",
    "merchant_type": "online",
    "device_type": "mobile",
    "location_match": 0,
}


# --- fields -----------------------------------------------------------------------------


class Instant(fields.DateTime):
    """An instant as ISO 8601 in UTC with ``Z``, as the domain formats it everywhere."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else format_instant(value)


class Rounded(fields.Float):
    """A float rounded for people: scores to 6 places, milliseconds to 3."""

    def __init__(self, places: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.places = places

    def _serialize(self, value: float | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else round(float(value), self.places)


class Count(fields.Integer):
    """How many items a collection attribute holds."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else len(value)


class QueryInteger(fields.Integer):
    """An integer in a query string: ASCII digits only (``int()`` would take ``²``-like
    digits and scripts of other numerals, or crash on some)."""

    _DIGITS = re.compile(r"[0-9]{1,9}")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not self._DIGITS.fullmatch(value):
            raise self.make_error("invalid")
        return int(value)


def identifier(description: str, **kwargs: Any) -> fields.String:
    return fields.String(
        validate=[validate.Length(1, MAX_ID_LENGTH), validate.Regexp(_TRIMMED)],
        metadata={"description": description},
        **kwargs,
    )


def amount_field() -> fields.Float:
    return fields.Float(
        required=True,
        validate=validate.Range(min=0, max=MAX_AMOUNT),
        metadata={
            "description": "0 (an account verification), or a whole number of the currency's "
            "minor unit: at most 2 decimals for most, 0 for JPY, 3 for KWD"
        },
    )


def _category(known: tuple[str, ...], what: str) -> fields.String:
    return fields.String(
        required=True,
        validate=[validate.Length(1, MAX_CATEGORY_LENGTH), validate.Regexp(_NOT_BLANK)],
        metadata={
            "examples": list(known),
            "description": (
                f"the {what}, lower-cased on receipt; known: {', '.join(known)}. "
                f"Anything else is kept and scored as {OTHER!r}"
            ),
        },
    )


def _one_of(values: list[Any]) -> validate.OneOf:
    return validate.OneOf(values)


DECISIONS = [decision.value for decision in Decision]
STATUSES = [status.value for status in Status]
RULE_ACTIONS = [action.value for action in RuleAction]
RULE_MODES = [mode.value for mode in RuleMode]
RULE_ON_ERROR = [choice.value for choice in RuleOnError]
RULE_FAULTS = [kind.value for kind in RuleFaultKind]


class Shape(Schema):
    """A response body. Whatever does not apply to an object (``None``) is left out, unless
    the field says it may be null."""

    @post_dump
    def _leave_out_what_does_not_apply(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {
            key: value
            for key, value in data.items()
            if value is not None or self.fields[key].allow_none
        }


# --- errors -----------------------------------------------------------------------------


class FieldErrorSchema(Shape):
    field = fields.String(required=True)
    rule = fields.String(required=True)


class PositionSchema(Shape):
    line = fields.Integer(required=True, metadata={"description": "from 1"})
    column = fields.Integer(required=True, metadata={"description": "from 1"})


class ErrorSchema(Shape):
    """What every refusal and failure answers: never HTML, never a traceback."""

    error = fields.String(required=True, metadata={"description": "what went wrong, for a person"})
    status = fields.Integer(required=True, validate=validate.Range(400, 599))
    details = fields.List(
        fields.Nested(FieldErrorSchema),
        metadata={"description": "one entry per offending field of the body or query"},
    )
    position = fields.Nested(
        PositionSchema,
        metadata={"description": "where in a rule's expression the error is, when it is at one"},
    )


# --- requests (parsed by the domain; documented here) -----------------------------------


class TransactionSchema(Schema):
    """A card payment to score."""

    class Meta:
        unknown = INCLUDE  # fields beyond the contract are ignored, not refused
        examples = (EXAMPLE_TRANSACTION,)

    transaction_id = identifier(
        "the client's idempotency key, generated when absent: resubmitting the same "
        "transaction with it never creates a second record",
        allow_none=True,
    )
    user_id = identifier("the card holder", required=True)
    amount = amount_field()
    currency = fields.String(
        allow_none=True,
        validate=_one_of(sorted(ISO_4217_CODES)),
        load_default=DEFAULT_CURRENCY,
        metadata={"description": "ISO 4217 (case and surrounding spaces do not matter)"},
    )
    merchant = fields.String(
        required=True,
        validate=[validate.Length(1, MAX_MERCHANT_LENGTH), validate.Regexp(_NOT_BLANK)],
        metadata={"description": "surrounding spaces are trimmed"},
    )
    timestamp = fields.DateTime(
        required=True,
        metadata={"description": "ISO 8601 with a time zone (Z or an offset); stored in UTC"},
    )
    merchant_type = _category(KNOWN_MERCHANT_TYPES, "merchant's type")
    device_type = _category(KNOWN_DEVICE_TYPES, "device paid with")
    location_match = fields.Raw(
        required=True,
        metadata={
            # Not a OneOf validator: 0 == False to Python, so it would keep only 0 and 1.
            "enum": [0, 1, False, True],
            "description": "1 (or true) when the payment happens where the card holder is",
        },
    )


class LabelRequestSchema(Schema):
    """An analyst's verdict: fraud or not. Who gives it is whoever the request is
    authenticated as; a body naming an ``analyst`` is refused."""

    class Meta:
        unknown = INCLUDE
        examples = ({"is_fraud": True},)

    is_fraud = fields.Boolean(required=True)


class LimitQuerySchema(Schema):
    """How many rows each list of the dashboard holds."""

    DEFAULT = 20
    MAXIMUM = 100
    RULE = f"must be an integer from 1 to {MAXIMUM}"

    limit = QueryInteger(
        load_default=DEFAULT,
        validate=validate.Range(1, MAXIMUM, error=RULE),
        error_messages={"invalid": RULE},
        metadata={"description": "rows in each list"},
    )


# --- responses --------------------------------------------------------------------------


class RecordedTransactionSchema(Shape):
    """A transaction as stored: every field present and normalised (the domain's own JSON,
    the same as on the pipeline's topics)."""

    transaction_id = identifier("the id it was accepted under", required=True)
    user_id = identifier("the card holder", required=True)
    amount = amount_field()
    currency = fields.String(required=True, validate=_one_of(sorted(ISO_4217_CODES)))
    merchant = fields.String(required=True, validate=validate.Length(min=1))
    timestamp = fields.String(
        required=True, metadata={"format": "date-time", "description": "ISO 8601 in UTC (Z)"}
    )
    merchant_type = fields.String(required=True, validate=validate.Length(min=1))
    device_type = fields.String(required=True, validate=validate.Length(min=1))
    location_match = fields.Integer(required=True, validate=_one_of([0, 1]))

    @pre_dump
    def _as_the_domain_writes_it(self, transaction: Transaction, **_: Any) -> dict[str, Any]:
        return transaction.to_dict()


class AcceptedSchema(Shape):
    transaction_id = identifier("where to read the verdict: /transaction/<id>", required=True)
    status = fields.String(required=True, validate=_one_of(STATUSES))
    duplicate = fields.Boolean(
        required=True,
        metadata={"description": "true when this id was already stored: nothing new was published"},
    )


MAX_BATCH = 1_000
OUTCOMES = ["accepted", "duplicate", "conflict", "invalid"]


class BatchSchema(Schema):
    """Up to 1,000 transactions submitted at once; each is accepted or refused on its own."""

    class Meta:
        unknown = INCLUDE  # fields beyond ``transactions`` are ignored, not refused

    # Each item is judged on its own, so any value is a well-formed item: one that breaks
    # the contract of TransactionSubmission is answered `invalid` at its place, with details.
    transactions = fields.List(
        fields.Raw(
            metadata={
                "description": "a transaction in the fields of TransactionSubmission; an item "
                "that breaks them is refused on its own"
            }
        ),
        required=True,
        validate=validate.Length(1, MAX_BATCH),
    )


class BatchItemSchema(Shape):
    """What became of one transaction of a batch, at its place in the batch."""

    index = fields.Integer(required=True, metadata={"description": "its place, from 0"})
    transaction_id = identifier("its id (absent when the item has none and was refused)")
    outcome = fields.String(
        required=True,
        validate=_one_of(OUTCOMES),
        metadata={
            "description": "accepted (now pending); duplicate (already stored with these "
            "fields: nothing new published); conflict (the id was used for another "
            "transaction); invalid (breaks the contract: see details)"
        },
    )
    status = fields.String(validate=_one_of(STATUSES), metadata={"description": "if stored"})
    error = fields.String(metadata={"description": "why it was refused"})
    details = fields.List(
        fields.Nested(FieldErrorSchema), metadata={"description": "one per offending field"}
    )


class BatchAnsweredSchema(Shape):
    accepted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    refused = fields.Integer(required=True, metadata={"description": "conflicts and invalid"})
    results = fields.List(fields.Nested(BatchItemSchema), required=True)


class LabelSchema(Shape):
    is_fraud = fields.Boolean(required=True)
    analyst = fields.String(
        required=True,
        validate=validate.Length(1, ANALYST_MAX_LENGTH),
        metadata={"description": "who signed in, or ``key:`` and the key's name"},
    )
    labelled_at = Instant(required=True)


class LabelChangeSchema(Shape):
    """One label an analyst gave, and the one it replaced (null: there was none)."""

    is_fraud = fields.Boolean(required=True, attribute="label.is_fraud")
    analyst = fields.String(required=True, attribute="label.analyst")
    labelled_at = Instant(required=True, attribute="label.labelled_at")
    previous = fields.Boolean(required=True, allow_none=True)


class RuleHitSchema(Shape):
    """An analyst's rule that hit the transaction, at the version that hit it."""

    name = fields.String(required=True)
    version = fields.Integer(required=True)
    action = fields.String(required=True, validate=_one_of(RULE_ACTIONS))
    mode = fields.String(
        required=True,
        validate=_one_of(RULE_MODES),
        metadata={"description": "shadow: recorded only, the decision is the one without it"},
    )
    reason = fields.String(required=True)


class RuleFaultSchema(Shape):
    """An analyst's rule that could not say whether it holds for the transaction."""

    rule = fields.String(required=True, attribute="name")
    version = fields.Integer(required=True)
    fault = fields.String(
        required=True,
        attribute="kind",
        validate=_one_of(RULE_FAULTS),
        metadata={
            "description": "error: the expression raised on this transaction; budget: not "
            "evaluated, the batch's rule time budget ran out first"
        },
    )
    applied = fields.Boolean(
        required=True,
        metadata={"description": "its action was taken anyway (the rule's on_error: apply)"},
    )
    says = fields.Function(lambda fault: fault.describe(), metadata={"description": "in words"})


class ExplainedReasonSchema(Shape):
    reason = fields.String(required=True, attribute="text")
    share = Rounded(
        4,
        required=True,
        validate=validate.Range(0, 1),
        metadata={"description": "of the risk the model added above a typical transaction"},
    )


_EXPLANATION = {
    "description": "the model's reasons, chosen and ordered by its own attribution, each "
    "with the share of the risk it carries; absent when nothing raised the risk or the model "
    "cannot say"
}


class ScoringSchema(Shape):
    """Another scoring of a decided transaction (the challenger's in shadow, a replay,
    another model): kept, never the decision."""

    fraud_score = Rounded(6, required=True, validate=validate.Range(0, 1))
    decision = fields.String(required=True, validate=_one_of(DECISIONS))
    reasons = fields.List(fields.String(), required=True)
    explanation = fields.List(fields.Nested(ExplainedReasonSchema), metadata=_EXPLANATION)
    model_version = fields.String(required=True)
    scored_at = Instant(required=True)


class VerdictSchema(Shape):
    """The transaction, its status and, once scored, the verdict; the error when a stage
    could not handle it; the analyst's label once there is one."""

    transaction_id = identifier("its id", required=True, attribute="transaction.transaction_id")
    status = fields.String(required=True, validate=_one_of(STATUSES))
    transaction = fields.Nested(RecordedTransactionSchema, required=True)
    received_at = Instant(required=True, metadata={"description": "when the API accepted it"})
    fraud_score = Rounded(6, attribute="assessment.fraud_score", validate=validate.Range(0, 1))
    decision = fields.String(attribute="assessment.decision", validate=_one_of(DECISIONS))
    reasons = fields.List(
        fields.String(),
        attribute="assessment.reasons",
        metadata={"description": "what drove the score, for a person"},
    )
    explanation = fields.List(
        fields.Nested(ExplainedReasonSchema),
        attribute="assessment.explanation",
        metadata=_EXPLANATION,
    )
    model_version = fields.String(attribute="assessment.model_version")
    scored_at = Instant(attribute="assessment.scored_at")
    rule_hits = fields.List(
        fields.Nested(RuleHitSchema),
        attribute="assessment.rule_hits",
        metadata={"description": "the analysts' rules that hit it, active and shadow"},
    )
    rules_version = fields.Integer(
        attribute="assessment.rules_version",
        metadata={"description": "the rule set's version it was decided under"},
    )
    rule_faults = fields.List(
        fields.Nested(RuleFaultSchema),
        attribute="assessment.rule_faults",
        metadata={
            "description": "the analysts' rules that could not be evaluated on it (an error, "
            "or the time budget); the decision stands without them unless they apply"
        },
    )
    preprocessed_at = Instant(metadata={"description": "when its features were computed"})
    recorded_at = Instant(metadata={"description": "when its verdict was stored"})
    latency_ms = Rounded(3, metadata={"description": "from receipt to verdict"})
    features = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "the behaviour features the model saw"},
    )
    error = fields.String(metadata={"description": "why the transaction failed"})
    label = fields.Nested(LabelSchema, metadata={"description": "the latest label"})
    label_history = fields.List(
        fields.Nested(LabelChangeSchema),
        metadata={"description": "every label given, oldest first (one transaction's page)"},
    )
    versions = fields.List(
        fields.Nested(ScoringSchema),
        metadata={
            "description": "other scorings (the challenger's in shadow, a replay, another "
            "model), oldest first; the decision above never changes"
        },
    )
    trace_id = fields.Method(
        "_trace_id",
        metadata={
            "description": "the W3C trace id of its trace, from the request that submitted it "
            "to its stored verdict (the request's own, or its traceparent's); absent when "
            "it was not traced"
        },
    )

    def _trace_id(self, record: TransactionRecord) -> str | None:
        return trace_id_of(record.trace)

    @post_dump
    def _leave_out_empty_histories(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        for name in ("label_history", "versions", "rule_hits", "explanation", "rule_faults"):
            if not data.get(name):
                data.pop(name, None)
        return data


_HEALTH = {
    "description": "degraded: the broker is unreachable; unhealthy (503): the database or "
    "this process's stages are down"
}


class HealthSchema(Shape):
    """The status alone: what anybody may know."""

    status = fields.String(
        required=True, validate=_one_of(["ok", "degraded", "unhealthy"]), metadata=_HEALTH
    )


class HealthChecksSchema(HealthSchema):
    """The status and each check behind it."""

    database = fields.String(required=True, metadata={"description": "ok, or the error's type"})
    broker = fields.String(
        required=True,
        validate=_one_of(["ok", "unreachable"]),
        metadata={
            "description": "unreachable: transactions are still accepted and published "
            "once it is back"
        },
    )
    pipeline = fields.String(
        validate=_one_of(["ok", "stopped"]),
        metadata={"description": "only when the stages run in this process"},
    )


# --- headers ----------------------------------------------------------------------------

LOCATION = {
    "description": "where to read the verdict",
    "required": True,
    "schema": {"type": "string"},
}
RETRY_AFTER = {
    "description": "seconds to wait before retrying",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
