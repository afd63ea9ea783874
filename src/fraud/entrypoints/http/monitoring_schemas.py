"""The JSON the dashboard polls, declared once with marshmallow (see ``schemas``)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, pre_dump, validate

from fraud.domain.assessment import Decision
from fraud.domain.drift import MIN_OBSERVED
from fraud.domain.model import ModelInfo
from fraud.entrypoints.http.schemas import Count, Instant, Rounded, Shape, VerdictSchema

SHARE = {"allow_none": True, "validate": validate.Range(0, 1)}


def _count(**kwargs: Any) -> fields.Integer:
    return fields.Integer(required=True, validate=validate.Range(min=0), **kwargs)


class DecisionCountsSchema(Shape):
    approve = _count()
    review = _count()
    decline = _count()


class RecordCountsSchema(DecisionCountsSchema):
    """Records by decision or status."""

    pending = _count()
    failed = _count()


class LabelCountsSchema(Shape):
    confirmed = _count()
    cleared = _count()
    unlabelled = _count()


class DashboardSchema(Shape):
    total = _count()
    counts = fields.Nested(RecordCountsSchema, required=True)
    recent = fields.List(
        fields.Nested(VerdictSchema), required=True, metadata={"description": "newest first"}
    )
    flagged = fields.List(
        fields.Nested(VerdictSchema),
        required=True,
        metadata={"description": "reviews and declines, newest first"},
    )
    label_precision = fields.Dict(
        keys=fields.String(
            validate=validate.OneOf([Decision.REVIEW.value, Decision.DECLINE.value])
        ),
        values=fields.Nested(LabelCountsSchema),
        required=True,
        metadata={"description": "per flagged decision of the last 7 days: the analysts' labels"},
    )


class PercentilesSchema(Shape):
    """Receipt to verdict, in milliseconds; null without verdicts."""

    p50 = Rounded(3, required=True, allow_none=True, validate=validate.Range(min=0))
    p95 = Rounded(3, required=True, allow_none=True, validate=validate.Range(min=0))
    p99 = Rounded(3, required=True, allow_none=True, validate=validate.Range(min=0))


class ActivityPointSchema(Shape):
    start = Instant(required=True)
    decisions = fields.Nested(DecisionCountsSchema, required=True)
    throughput = Rounded(
        3,
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "verdicts per second"},
    )
    flagged_rate = fields.Float(
        required=True, metadata={"description": "share reviewed or declined; null if none"}, **SHARE
    )
    decline_rate = fields.Float(required=True, **SHARE)
    latency_ms = fields.Nested(PercentilesSchema, required=True)


class ScoreDistributionSchema(Shape):
    """The score distribution over the span, in log-spaced bins."""

    upper_bounds = fields.List(fields.Float(), required=True)
    counts = fields.List(fields.Integer(validate=validate.Range(min=0)), required=True)


class ActivitySchema(Shape):
    bucket_seconds = fields.Integer(required=True, validate=validate.Range(min=1))
    span_seconds = fields.Integer(required=True, validate=validate.Range(min=1))
    points = fields.List(
        fields.Nested(ActivityPointSchema),
        required=True,
        metadata={"description": "one per complete bucket of the span, oldest first"},
    )
    totals = fields.Nested(
        ActivityPointSchema,
        required=True,
        metadata={"description": "the whole span; throughput over its last 10 seconds"},
    )
    scores = fields.Nested(ScoreDistributionSchema, required=True)


class ThresholdsSchema(Shape):
    review = fields.Float(required=True)
    decline = fields.Float(required=True)


class ModelSchema(Shape):
    version = fields.String(required=True)
    thresholds = fields.Nested(ThresholdsSchema, required=True)
    trained_at = fields.String(required=True)
    metrics = fields.Dict(
        required=True,
        metadata={
            "description": "figures on the data it was judged on (judged_on): "
            "average_precision, roc_auc, recall_at_1pct_fpr, and the rows and frauds they rest "
            "on; precision_at_budget, recall_at_budget and fraud_money_caught and "
            "fraud_money_missed (per currency) for the top review_budget_per_day scores a day"
        },
    )
    judged_on = fields.String(
        allow_none=True,
        metadata={"description": "what the metrics were measured on; null for an older card"},
    )
    data_fingerprint = fields.String()
    training_rows = fields.Integer(validate=validate.Range(min=0))
    trained_from = fields.String(allow_none=True)
    trained_until = fields.String(allow_none=True)
    features = Count(attribute="feature_names", metadata={"minimum": 0})


class ModelCardSchema(Shape):
    model = fields.Nested(
        ModelSchema,
        required=True,
        allow_none=True,
        metadata={"description": "the model this process scores with; null before one is trained"},
    )

    @pre_dump
    def _card(self, card: ModelInfo | None, **_: Any) -> dict[str, Any]:
        return {"model": card}


class StageHealthSchema(Shape):
    stage = fields.String(required=True)
    group = fields.String(required=True, metadata={"description": "its consumer group"})
    lag = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(allow_none=True, validate=validate.Range(min=0)),
        required=True,
        metadata={"description": "messages not yet committed, by topic; null if unknown"},
    )


class PipelineHealthSchema(Shape):
    running = fields.Boolean(
        required=True,
        allow_none=True,
        metadata={"description": "whether this process's stages run; null when they run elsewhere"},
    )
    stages = fields.List(fields.Nested(StageHealthSchema), required=True)
    dead_letters = fields.Integer(
        required=True,
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={"description": "messages on fraud-dlq; null when the bus cannot say"},
    )


class LabelsOnDaySchema(Shape):
    day = fields.Date(required=True)
    fraud = _count(metadata={"description": "labels confirming fraud given that day"})
    legitimate = _count(metadata={"description": "labels clearing a transaction"})


class RiskyMerchantSchema(Shape):
    merchant = fields.String(required=True)
    transactions = _count(metadata={"description": "its purchases of the last 7 days"})
    frauds = _count(metadata={"description": "of them, confirmed fraud now"})
    share = fields.Float(required=True, validate=validate.Range(0, 1))


class LabelLoopSchema(Shape):
    days = fields.List(
        fields.Nested(LabelsOnDaySchema),
        required=True,
        metadata={"description": "labels given per day over the last 30 days, oldest first"},
    )
    delay_bounds_hours = fields.List(fields.Integer(), required=True)
    delays = fields.List(
        fields.Integer(validate=validate.Range(min=0)),
        required=True,
        metadata={
            "description": "those labels by hours from purchase to label: below each bound, "
            "then the rest"
        },
    )
    merchants = fields.List(
        fields.Nested(RiskyMerchantSchema),
        required=True,
        metadata={"description": "the highest confirmed fraud share of the last 7 days"},
    )


class DriftSchema(Shape):
    name = fields.String(required=True, metadata={"description": "a feature, or score"})
    psi = Rounded(4, required=True, validate=validate.Range(min=0))
    observed = fields.Integer(
        required=True, validate=validate.Range(min=0), metadata={"description": "values counted"}
    )
    drifted = fields.Boolean(
        required=True, metadata={"description": "PSI above the threshold, on enough values"}
    )


class DriftReportSchema(Shape):
    model_version = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "the champion; null when it has no drift reference"},
    )
    since = Instant(required=True, metadata={"description": "the start of the span compared"})
    threshold = fields.Float(required=True)
    minimum_observed = fields.Constant(
        MIN_OBSERVED,
        required=True,
        metadata={
            "description": "the fewest values a PSI is judged on: below it, never drifted",
            "type": "integer",
        },
    )
    drifts = fields.List(
        fields.Nested(DriftSchema),
        required=True,
        metadata={"description": "per feature and for the score, most drifted first"},
    )
