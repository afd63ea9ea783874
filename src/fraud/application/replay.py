"""Offline replay: a file of transactions through the stream's own features, model and policy.

``fraud score`` and ``fraud evaluate`` use it. It starts from empty state and
walks the transactions in timestamp order, exactly as the preprocess stage
would see them arrive, so a file scored here gets the scores the stream gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fraud.application.score import assess
from fraud.domain.assessment import TransactionRecord
from fraud.domain.evaluation import summarize
from fraud.domain.features import replay
from fraud.domain.label_risk import LabelEvent
from fraud.domain.model import LabelledTransaction, ModelInfo
from fraud.domain.policy import ScoringPolicy
from fraud.domain.ports import Clock, FraudModel, Progress
from fraud.domain.transaction import Transaction

CHUNK = 20_000


class ScoreTransactions:
    """Verdicts for every transaction of a file, in the input's order; one model call per
    chunk."""

    def __init__(self, model: FraudModel, policy: ScoringPolicy, clock: Clock) -> None:
        self.model = model
        self.policy = policy
        self.clock = clock

    def __call__(
        self,
        transactions: Sequence[Transaction],
        progress: Progress | None = None,
        labels: Sequence[LabelEvent] = (),
    ) -> list[TransactionRecord]:
        """``labels`` count from the moment each became known, as in the stream."""
        features = replay(transactions, labels)
        records: list[TransactionRecord] = []
        for start in range(0, len(transactions), CHUNK):
            chunk = slice(start, start + CHUNK)
            records.extend(
                assess(transactions[chunk], features[chunk], self.model, self.policy, self.clock)
            )
            if progress is not None:
                progress(len(transactions[chunk]))
        return records


@dataclass(frozen=True, slots=True)
class Evaluation:
    metrics: dict[str, float]
    labels: list[bool]
    scores: list[float]
    decisions: dict[str, dict[str, int]]
    model: ModelInfo


class EvaluateModel:
    """Ranking metrics over a whole labelled file, and what the policy decided for frauds and
    the rest."""

    def __init__(self, model: FraudModel, policy: ScoringPolicy, clock: Clock) -> None:
        self.model = model
        self.score = ScoreTransactions(model, policy, clock)

    def __call__(
        self,
        examples: Sequence[LabelledTransaction],
        progress: Progress | None = None,
        known: Sequence[LabelEvent] = (),
    ) -> Evaluation:
        """``known``: labels the features may use, each from when it became known (the
        file's own ``is_fraud`` is only what the scores are judged against)."""
        records = self.score([example.transaction for example in examples], progress, known)
        labels = [example.is_fraud for example in examples]
        scores = [record.assessment.fraud_score for record in records if record.assessment]
        decisions: dict[str, dict[str, int]] = {"fraud": {}, "legitimate": {}}
        for label, record in zip(labels, records, strict=True):
            assert record.assessment is not None
            bucket = decisions["fraud" if label else "legitimate"]
            decision = record.assessment.decision.value
            bucket[decision] = bucket.get(decision, 0) + 1
        return Evaluation(summarize(labels, scores), labels, scores, decisions, self.model.info)
