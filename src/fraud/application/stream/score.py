"""Score: one model call per batch, the policy's decision and reasons for each, then the
analysts' rules over the whole batch; a challenger, if the registry names one, scores the
same batch in shadow."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

import structlog

from fraud.application.metrics import NO_METRICS
from fraud.application.models import InForce
from fraud.application.rules import LiveRules, LoadedRules
from fraud.application.stream.envelopes import Envelopes, MalformedMessage, Preprocessed
from fraud.application.stream.stage import BatchOutput, tracing
from fraud.domain.assessment import Assessment, Status, TransactionRecord
from fraud.domain.canary import in_canary
from fraud.domain.features import FEATURE_NAMES, FeatureVector
from fraud.domain.policy import ScoringPolicy
from fraud.domain.ports import Clock, FraudModel, Message, PipelineMetrics, Topic
from fraud.domain.ports.tracing import trace_id_of
from fraud.domain.reasons import Reason
from fraud.domain.rules import EvaluationBudget, RuleEvaluation, RuleFaultKind, apply_rules
from fraud.domain.transaction import Transaction

log = structlog.get_logger(__name__)


class ModelsInForce(Protocol):
    def current(self) -> InForce:
        """The champion (and challenger, if any) to score the next batch with."""


class ScoreStage:
    name = "score"
    topics = (Topic.PREPROCESSED,)

    def __init__(
        self,
        models: ModelsInForce,
        clock: Clock,
        envelopes: Envelopes,
        rules: LiveRules,
        metrics: PipelineMetrics = NO_METRICS,
        rule_budget: EvaluationBudget | None = None,
    ) -> None:
        self.models = models
        self.clock = clock
        self.envelopes = envelopes
        self.rules = rules
        self.metrics = metrics
        self.rule_budget = rule_budget or EvaluationBudget()

    def handle(self, batch: Sequence[Message]) -> BatchOutput:
        output = BatchOutput()
        readable = []
        for message in batch:
            try:
                readable.append(self.envelopes.read_preprocessed(message))
            except MalformedMessage as error:
                output.dead_letter(message, self.name, str(error))
        for record in self.score(readable):
            output.add(Topic.RESULTS, self.envelopes.result_message(record))
        return output

    def score(self, items: Sequence[Preprocessed]) -> list[TransactionRecord]:
        """The batch's verdicts: what ``handle`` publishes as ``fraud-results``, and what a
        worker running every stage records without reading it back."""
        if not items:
            return []
        in_force = self.models.current()
        rules = self.rules.current()
        transactions = [item.transaction for item in items]
        features = [item.features for item in items]
        records = assess(
            transactions,
            features,
            in_force.champion.model,
            in_force.champion.policy,
            self.clock,
            rules=rules,
            received=[item.received_at for item in items],
            preprocessed=[item.preprocessed_at for item in items],
            budget=self.rule_budget,
        )
        if in_force.challenger is not None:
            records = self._beside(records, transactions, features, in_force, rules)
        if any(item.trace for item in items):  # each verdict goes on in its transaction's trace
            records = [replace(r, trace=i.trace) for r, i in zip(records, items, strict=True)]
        self._count_rules(records)
        if tracing(__name__):
            for record in records:
                if record.assessment is not None:
                    log.debug(
                        "transaction scored",
                        transaction_id=record.transaction.transaction_id,
                        trace_id=trace_id_of(record.trace),
                        fraud_score=round(record.assessment.fraud_score, 4),
                        decision=record.assessment.decision.value,
                        rules_hit=[hit.name for hit in record.assessment.rule_hits],
                    )
        log.debug("batch scored", count=len(records))
        return records

    def warm_up(self, batch_size: int) -> None:
        """Before the first transaction: the models in force loaded and called once at a
        batch's smallest and largest sizes (a network's first call costs a hundred
        milliseconds and more, a new size a few), and the rule set read and compiled."""
        self.rules.current()
        in_force = self.models.current()
        served = [in_force.champion] + ([in_force.challenger] if in_force.challenger else [])
        for serving in served:
            for rows in sorted({1, batch_size}):
                neutral = [FeatureVector(tuple(0.0 for _ in FEATURE_NAMES))] * rows
                if serving.model.attribute(neutral) is None:
                    serving.model.score(neutral)

    def _count_rules(self, records: Sequence[TransactionRecord]) -> None:
        """The decisions' rule hits and faults on /metrics (a challenger's are not counted)."""
        hits: Counter[tuple[str, str]] = Counter()
        errors: Counter[str] = Counter()
        cut_off: Counter[str] = Counter()
        for record in records:
            if record.assessment is None:
                continue
            hits.update((hit.name, hit.mode.value) for hit in record.assessment.rule_hits)
            for fault in record.assessment.rule_faults:
                (errors if fault.kind is RuleFaultKind.ERROR else cut_off)[fault.name] += 1
        if hits:
            self.metrics.rules_hit(hits)
        if errors or cut_off:
            self.metrics.rules_failed(errors, cut_off)

    def _beside(
        self,
        records: list[TransactionRecord],
        transactions: Sequence[Transaction],
        features: Sequence[FeatureVector],
        in_force: InForce,
        rules: LoadedRules,
    ) -> list[TransactionRecord]:
        """The records with the challenger's scoring of each, in shadow (no attribution: its
        reasons decide nothing), or, for the cards of its canary share, as the decision with
        the champion's kept beside it. A challenger that fails costs its scorings, never the
        champion's decisions (its canary cards are decided by the champion then)."""
        challenger = in_force.challenger
        assert challenger is not None
        try:
            shadows = BatchScorer(
                challenger.model, challenger.policy, self.clock, rules, self.rule_budget
            )(transactions, features, explain=False)
        except Exception as failure:
            log.error(
                "the challenger could not score this batch; the champion's decisions stand",
                model_version=challenger.version,
                error=str(failure),
            )
            return records
        return _shadowed(records, shadows, in_force.canary)


def _shadowed(
    records: list[TransactionRecord], shadows: list[Assessment], canary: float
) -> list[TransactionRecord]:
    """Each record with the challenger's scoring in shadow; on a card of the canary's share
    the challenger's decides, and the champion's is the one kept in shadow."""
    shadowed = []
    for record, shadow in zip(records, shadows, strict=True):
        if record.assessment is None:
            shadowed.append(record)
        elif canary and in_canary(record.transaction.user_id, canary):
            shadowed.append(replace(record, assessment=shadow, versions=(record.assessment,)))
        else:
            shadowed.append(replace(record, versions=(shadow,)))
    return shadowed


def assess(
    transactions: Sequence[Transaction],
    features: Sequence[FeatureVector],
    model: FraudModel,
    policy: ScoringPolicy,
    clock: Clock,
    *,
    rules: LoadedRules | None = None,
    received: Sequence[datetime] | None = None,
    preprocessed: Sequence[datetime | None] | None = None,
    budget: EvaluationBudget | None = None,
) -> list[TransactionRecord]:
    """A :class:`BatchScorer`'s verdicts as the records the stream stores, each with its
    features.

    ``received`` and ``preprocessed`` say when each transaction reached the API and the
    preprocess stage; without them the record counts as received when scored.
    """
    found = BatchScorer(model, policy, clock, rules, budget)(transactions, features)
    return [
        TransactionRecord(
            transaction=transaction,
            received_at=received[i] if received is not None else assessment.scored_at,
            status=Status.SCORED,
            assessment=assessment,
            features=vector.as_dict(),
            preprocessed_at=preprocessed[i] if preprocessed is not None else None,
        )
        for i, (transaction, vector, assessment) in enumerate(
            zip(transactions, features, found, strict=True)
        )
    ]


@dataclass(frozen=True, slots=True)
class BatchScorer:
    """What decides a batch: the model, its policy, and the analysts' rules with their budget
    (without rules, a replay of the model, none apply)."""

    model: FraudModel
    policy: ScoringPolicy
    clock: Clock
    rules: LoadedRules | None = None
    budget: EvaluationBudget | None = None

    def __call__(
        self,
        transactions: Sequence[Transaction],
        features: Sequence[FeatureVector],
        *,
        explain: bool = True,
    ) -> list[Assessment]:
        """Score a batch in one model call (with each feature's part in each score, where the
        model can say, unless not to ``explain``), apply the policy to each transaction, then
        the rules (over the whole batch at once)."""
        model, policy, rules = self.model, self.policy, self.rules
        attributed = model.attribute(features) if explain else None
        scores = model.score(features) if attributed is None else attributed.scores
        found = (
            rules.compiled.evaluate(transactions, features, scores, self.budget)
            if rules
            else RuleEvaluation.nothing(len(transactions))
        )
        scored_at = self.clock.now()
        version = model.info.version
        rules_version = None if rules is None else rules.version
        assessments = []
        for i, (transaction, vector, score) in enumerate(
            zip(transactions, features, scores, strict=True)
        ):
            explanation: tuple[Reason, ...] = ()
            if attributed is None:
                decision, reasons = policy.assess(score, transaction, vector)
            else:
                decision, reasons, explanation = policy.explain(
                    score, transaction, vector, attributed.attributions[i]
                )
            hits = found.hits[i]
            if hits:
                decision, reasons = apply_rules(decision, reasons, hits)
            assessments.append(
                Assessment(
                    transaction_id=transaction.transaction_id,
                    fraud_score=score,
                    decision=decision,
                    reasons=reasons,
                    model_version=version,
                    scored_at=scored_at,
                    rule_hits=tuple(hits),
                    rules_version=rules_version,
                    explanation=explanation,
                    rule_faults=tuple(found.faults[i]),
                )
            )
        return assessments
