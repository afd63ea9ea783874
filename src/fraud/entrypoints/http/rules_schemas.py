"""The JSON of the rules API: rules, their history, a trial and a backtest."""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, fields, validate

from fraud.domain.backtest import BACKTEST_REQUEST
from fraud.domain.rules import MAX_EXPRESSION_LENGTH, MAX_NAME_LENGTH, MAX_REASON_LENGTH
from fraud.entrypoints.http.contracts import request_schema
from fraud.entrypoints.http.schemas import (
    DECISIONS,
    RULE_ACTIONS,
    RULE_MODES,
    RULE_ON_ERROR,
    Instant,
    Rounded,
    Shape,
)

EXAMPLE_EXPRESSION = (
    'tx.merchant_type == "online" && tx.amount > 500.0 && features.new_merchant == 1.0'
)
_EXPRESSION = {
    "description": (
        "a CEL expression, true when the rule hits: over tx (the transaction's fields, e.g. "
        "tx.amount, tx.merchant_type), features (its behaviour features by name, e.g. "
        "features.new_merchant) and score (the model's fraud probability)"
    ),
    "maxLength": MAX_EXPRESSION_LENGTH,
}
_ACTION = {
    "description": "decline or review: at least that decision; approve: an allow-list "
    "(overrides the model, never another rule); reason: only adds its reason"
}
_MODE = {"description": "active decides; shadow records its hits only; disabled: neither"}
_ON_ERROR = {
    "description": "when it cannot be evaluated on a transaction (an error, or the time "
    "budget): skip (the default: it does not hit) or apply (its action is taken: a decline "
    "or review rule that must fail closed)"
}


class RuleSchema(Shape):
    """An analyst's rule as it is now."""

    name = fields.String(required=True, metadata={"maxLength": MAX_NAME_LENGTH})
    expression = fields.String(required=True, metadata=_EXPRESSION)
    action = fields.String(required=True, validate=validate.OneOf(RULE_ACTIONS), metadata=_ACTION)
    reason = fields.String(
        required=True, metadata={"description": "what the verdict says when it hits"}
    )
    mode = fields.String(required=True, validate=validate.OneOf(RULE_MODES), metadata=_MODE)
    version = fields.Integer(required=True, metadata={"description": "1, then one per change"})
    on_error = fields.String(
        required=True, validate=validate.OneOf(RULE_ON_ERROR), metadata=_ON_ERROR
    )


class RuleHealthSchema(Shape):
    """How a rule fared over the last hour."""

    evaluated = fields.Integer(required=True, metadata={"description": "transactions it ran on"})
    errors = fields.Integer(required=True, metadata={"description": "of those, raised an error"})
    cut_off = fields.Integer(
        required=True, metadata={"description": "transactions the time budget cut it off from"}
    )
    error_rate = Rounded(6, required=True)
    warning = fields.String(
        allow_none=True,
        metadata={"description": "why it needs looking at: errors or cut-offs over 1%"},
    )


class RuleWithHealthSchema(RuleSchema):
    health = fields.Nested(RuleHealthSchema, required=True)


class RuleChangeSchema(Shape):
    """A version of a rule: the rule as it became, who changed it and when."""

    rule = fields.Nested(RuleSchema, required=True)
    changed_by = fields.String(required=True, attribute="by")
    changed_at = Instant(required=True, attribute="at")
    rule_set_version = fields.Integer(
        required=True,
        attribute="set_version",
        metadata={"description": "the rule set's version this change made"},
    )


class FieldChangeSchema(Shape):
    field = fields.String(required=True)
    before = fields.String(required=True, metadata={"description": "empty for a new rule"})
    after = fields.String(required=True)


class RuleVersionSchema(RuleChangeSchema):
    changes = fields.List(
        fields.Nested(FieldChangeSchema),
        required=True,
        metadata={"description": "what this version changed from the one before"},
    )


class RuleDetailSchema(Shape):
    rule = fields.Nested(RuleSchema, required=True)
    health = fields.Nested(RuleHealthSchema, required=True)
    history = fields.List(
        fields.Nested(RuleVersionSchema), required=True, metadata={"description": "oldest first"}
    )


class RuleRequestSchema(Schema):
    """A new rule (``mode`` active unless given)."""

    class Meta:
        unknown = INCLUDE
        examples = (
            {
                "name": "new-online-merchant-over-500",
                "expression": EXAMPLE_EXPRESSION,
                "action": "review",
                "reason": "over 500 online at a merchant new to the card",
                "mode": "shadow",
            },
        )

    name = fields.String(
        required=True,
        metadata={
            "description": "lower-case letters, digits, - and _",
            "maxLength": MAX_NAME_LENGTH,
        },
    )
    expression = fields.String(required=True, metadata=_EXPRESSION)
    action = fields.String(required=True, validate=validate.OneOf(RULE_ACTIONS), metadata=_ACTION)
    reason = fields.String(required=True, metadata={"maxLength": MAX_REASON_LENGTH})
    mode = fields.String(validate=validate.OneOf(RULE_MODES), metadata=_MODE)
    on_error = fields.String(validate=validate.OneOf(RULE_ON_ERROR), metadata=_ON_ERROR)


class RuleUpdateSchema(Schema):
    """The fields to change; the rest stay. Each change is the rule's next version."""

    class Meta:
        unknown = INCLUDE
        examples = ({"mode": "active"}, {"expression": "tx.amount > 900.0"})

    expression = fields.String(metadata=_EXPRESSION)
    action = fields.String(validate=validate.OneOf(RULE_ACTIONS), metadata=_ACTION)
    reason = fields.String(metadata={"maxLength": MAX_REASON_LENGTH})
    mode = fields.String(validate=validate.OneOf(RULE_MODES), metadata=_MODE)
    on_error = fields.String(validate=validate.OneOf(RULE_ON_ERROR), metadata=_ON_ERROR)


class ExpressionSchema(Schema):
    """An expression to check."""

    class Meta:
        unknown = INCLUDE
        examples = ({"expression": EXAMPLE_EXPRESSION},)

    expression = fields.String(required=True, metadata=_EXPRESSION)


class CheckedSchema(Shape):
    valid = fields.Boolean(required=True)


class TrialRequestSchema(Schema):
    """A draft rule (``reason`` optional) and the stored transaction to try it on."""

    class Meta:
        unknown = INCLUDE
        examples = (
            {"expression": EXAMPLE_EXPRESSION, "action": "review", "transaction_id": "tx-1"},
        )

    expression = fields.String(required=True, metadata=_EXPRESSION)
    action = fields.String(required=True, validate=validate.OneOf(RULE_ACTIONS), metadata=_ACTION)
    reason = fields.String()
    transaction_id = fields.String(required=True)


class TrialSchema(Shape):
    """A rule tried on one stored transaction, as if active."""

    transaction_id = fields.String(required=True)
    hit = fields.Boolean(required=True)
    decided = fields.String(
        required=True,
        validate=validate.OneOf(DECISIONS),
        metadata={"description": "the decision it was given"},
    )
    would = fields.String(
        required=True,
        validate=validate.OneOf(DECISIONS),
        metadata={"description": "the decision it would have with the rule active"},
    )
    reasons = fields.List(fields.String(), required=True)


BacktestRequestSchema = request_schema(
    "BacktestRequestSchema",
    BACKTEST_REQUEST,
    "What to backtest: a stored rule by ``name``, a draft (``expression`` and ``action``), "
    "or ``all`` the rules evaluated now; over the last ``days`` days.",
    examples=(
        {"name": "new-online-merchant-over-500", "days": 30},
        {"expression": EXAMPLE_EXPRESSION, "action": "review", "days": 7},
        {"all": True, "days": 30},
    ),
)


class BacktestDaySchema(Shape):
    day = fields.Date(required=True)
    transactions = fields.Integer(required=True)
    hits = fields.Integer(required=True)
    changed = fields.Integer(required=True, metadata={"description": "decisions it would change"})
    reviews_added = fields.Integer(
        required=True, metadata={"description": "verdicts it would send to review that were not"}
    )
    declines_added = fields.Integer(required=True)


class BacktestSchema(Shape):
    """What the rules, counted as active, would have done to the verdicts of the period;
    precision and recall on the transactions whose label is known (null: none known)."""

    rules = fields.List(fields.String(), required=True)
    since = Instant(required=True)
    until = Instant(required=True)
    transactions = fields.Integer(required=True)
    hits = fields.Integer(required=True)
    changed = fields.Integer(required=True)
    reviews_added = fields.Integer(required=True)
    declines_added = fields.Integer(required=True)
    labelled_hits = fields.Integer(required=True)
    fraud_hits = fields.Integer(required=True)
    labelled_fraud = fields.Integer(required=True)
    precision = Rounded(4, required=True, allow_none=True)
    recall = Rounded(4, required=True, allow_none=True)
    unevaluable = fields.Integer(
        required=True, metadata={"description": "verdicts without features: not evaluated"}
    )
    days = fields.List(fields.Nested(BacktestDaySchema), required=True)
