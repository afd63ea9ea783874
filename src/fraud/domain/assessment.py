"""What the service concludes about a transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from fraud.domain.transaction import Transaction

if TYPE_CHECKING:
    from fraud.domain.reasons import Reason
    from fraud.domain.rules import RuleFault, RuleHit


class Decision(StrEnum):
    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


class Status(StrEnum):
    PENDING = "pending"
    SCORED = "scored"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one transaction: a score, a decision and why; which analysts' rules hit
    it (active and shadow) and the version of the rule set it was decided under (None: no
    rules were consulted, a replay through the model alone)."""

    transaction_id: str
    fraud_score: float
    decision: Decision
    reasons: tuple[str, ...]
    model_version: str
    scored_at: datetime
    rule_hits: tuple[RuleHit, ...] = ()
    rules_version: int | None = None
    # The model's reasons with the share of the risk each carries, by the model's own
    # attribution (empty: a model that cannot say, or nothing raised the risk).
    explanation: tuple[Reason, ...] = ()
    # The rules that could not say whether they hold for it: an error, or cut off by the
    # evaluation budget (a fault whose rule applied its action anyway is also a hit).
    rule_faults: tuple[RuleFault, ...] = ()


# How far apart two scores of one transaction by one model may be and still be one scoring.
# A float32 network gives a score to about 1e-7, and its last bits can depend on the rows
# scored beside it (CPU kernels sum a row in another order at another place in a batch), so
# a redelivered transaction scored in another batch may come back a bit or two away.
SCORE_TOLERANCE = 1e-6

Scoring = tuple[str, Decision, float]


def scoring(assessment: Assessment) -> Scoring:
    """What makes two assessments of one transaction the same scoring: the model, the
    decision and the score it gave."""
    return assessment.model_version, assessment.decision, assessment.fraud_score


def same_scoring(a: Scoring, b: Scoring) -> bool:
    """The same again (a redelivery, a replay through the same model and features) is not a
    new version, whenever it was made, even if its score differs in the last bits."""
    return a[:2] == b[:2] and abs(a[2] - b[2]) <= SCORE_TOLERANCE


def is_new_scoring(candidate: Scoring, known: Iterable[Scoring]) -> bool:
    """Whether a scoring differs from every one already kept for its transaction."""
    return not any(same_scoring(candidate, kept) for kept in known)


@dataclass(frozen=True, slots=True)
class AnalystLabel:
    """An analyst's verdict on a transaction: fraud or not, who said so and when."""

    is_fraud: bool
    analyst: str
    labelled_at: datetime


@dataclass(frozen=True, slots=True)
class LabelChange:
    """One entry of a transaction's label history, which only ever grows: who labelled it,
    when, what they said, and what the label was before (None: it had none)."""

    label: AnalystLabel
    previous: bool | None


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """A transaction as stored: pending until its assessment arrives.

    The first assessment recorded is the decision and never changes; a later scoring of
    the same transaction (a replay, another model) is kept in ``versions``, oldest first.
    ``versions`` and ``label_history`` are read only for a single transaction.
    """

    transaction: Transaction
    received_at: datetime
    status: Status = Status.PENDING
    assessment: Assessment | None = None
    features: dict[str, float] | None = None
    error: str | None = None
    label: AnalystLabel | None = None
    # When it went through the stages before and after scoring (the timeline analysts see).
    preprocessed_at: datetime | None = None
    recorded_at: datetime | None = None
    versions: tuple[Assessment, ...] = ()
    label_history: tuple[LabelChange, ...] = ()
    # Who submitted it over the API (a principal's subject); None when it came on the topic.
    submitted_by: str | None = None
    # Its trace's W3C traceparent: the request that submitted it, or what the producer sent
    # (None: it came untraced, or tracing is off).
    trace: str | None = None

    @property
    def latency_ms(self) -> float | None:
        """Time from receipt to verdict, the end-to-end latency of the pipeline."""
        if self.assessment is None:
            return None
        return (self.assessment.scored_at - self.received_at).total_seconds() * 1000.0


def with_shadows(records: Sequence[TransactionRecord]) -> list[TransactionRecord]:
    """Each scored record, followed by the scorings it carries in ``versions`` (a challenger's,
    in shadow) as records of their own. The ledger keeps those as versions and never as the
    decision: the champion's scoring of a transaction always comes first."""
    expanded: list[TransactionRecord] = []
    for record in records:
        if not record.versions:
            expanded.append(record)
            continue
        expanded.append(replace(record, versions=()))
        expanded.extend(replace(record, assessment=v, versions=()) for v in record.versions)
    return expanded
