"""Offline replay: a file of transactions through the stream's own features, model and policy.

``fraud score`` and ``fraud evaluate`` use it. It starts from empty state and
walks the transactions in timestamp order, exactly as the preprocess stage
would see them arrive, so a file scored here gets the scores the stream gives.
"""

from __future__ import annotations

import multiprocessing
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fraud.application.stream.score import assess
from fraud.domain.assessment import TransactionRecord
from fraud.domain.evaluation import REVIEW_BUDGET_PER_DAY, at_review_budget, summarize
from fraud.domain.features import FEATURE_NAMES, FeatureVector, replay, replay_part
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
        processes: int = 1,
    ) -> list[TransactionRecord]:
        """``labels`` count from the moment each became known, as in the stream; the
        features are computed in ``processes`` processes, each for a part of the users."""
        features = features_in_parts(transactions, labels, processes)
        records: list[TransactionRecord] = []
        for start in range(0, len(transactions), CHUNK):
            chunk = slice(start, start + CHUNK)
            records.extend(
                assess(transactions[chunk], features[chunk], self.model, self.policy, self.clock)
            )
            if progress is not None:
                progress(len(transactions[chunk]))
        return records


# What forked processes read their part from: inherited, never copied through a pipe.
_SHARED: tuple[Sequence[Transaction], Sequence[LabelEvent], int] | None = None
# How many transactions the parts have walked, together: the parent reports it as progress.
_WALKED: Any = None
PROGRESS_POLL_S = 0.5


def features_in_parts(
    transactions: Sequence[Transaction],
    labels: Sequence[LabelEvent],
    processes: int,
    progress: Progress | None = None,
) -> list[FeatureVector]:
    """:func:`replay`'s features, each part of the users computed in a process of its own
    (forked, so each reads the transactions the parent holds); the same as one process.
    ``progress`` counts the transactions done (each part walks the whole file, so the
    parts' walks are averaged)."""
    processes = min(processes, len(transactions))
    if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return replay(transactions, labels, progress)
    global _SHARED, _WALKED
    context = multiprocessing.get_context("fork")
    _SHARED = (transactions, labels, processes)
    _WALKED = context.Value("q", 0)
    try:
        with context.Pool(processes) as pool:
            pending = pool.map_async(_replay_part, range(processes))
            reported = 0
            while not pending.ready():
                pending.wait(PROGRESS_POLL_S)
                walked = _WALKED.value // processes
                if progress is not None and walked > reported:
                    progress(walked - reported)
                    reported = walked
            parts = pending.get()
    finally:
        _SHARED = _WALKED = None
    features: list[FeatureVector | None] = [None] * len(transactions)
    width = len(FEATURE_NAMES)
    for indices, values in parts:
        for row, index in enumerate(indices):
            features[index] = FeatureVector(tuple(values[row * width : (row + 1) * width]))
    assert all(vector is not None for vector in features), "every user is in one part"
    if progress is not None and len(transactions) > reported:
        progress(len(transactions) - reported)
    return features  # type: ignore[return-value]


def _replay_part(part: int) -> tuple[array[int], array[float]]:
    """The part's places and features, flat: arrays cross the pipe far faster than objects."""
    assert _SHARED is not None, "set by the parent before it forks"
    transactions, labels, parts = _SHARED
    walked = _WALKED

    def advance(count: int) -> None:
        with walked.get_lock():
            walked.value += count

    found = replay_part(transactions, labels, part, parts, advance)
    values = array("d")
    for _, vector in found:
        values.extend(vector.values)
    return array("q", [index for index, _ in found]), values


@dataclass(frozen=True, slots=True)
class Evaluation:
    metrics: dict[str, Any]
    labels: list[bool]
    scores: list[float]
    decisions: dict[str, dict[str, int]]
    model: ModelInfo
    # The money of the frauds each decision took, per currency: declined and reviewed are
    # stopped or looked at, approved is lost.
    fraud_money: dict[str, dict[str, float]]


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
        processes: int = 1,
        review_budget: int = REVIEW_BUDGET_PER_DAY,
    ) -> Evaluation:
        """``known``: labels the features may use, each from when it became known (the
        file's own ``is_fraud`` is only what the scores are judged against);
        ``review_budget``: the reviews a day precision and money at the budget count."""
        transactions = [example.transaction for example in examples]
        records = self.score(transactions, progress, known, processes)
        labels = [example.is_fraud for example in examples]
        scores = [record.assessment.fraud_score for record in records if record.assessment]
        decisions: dict[str, dict[str, int]] = {"fraud": {}, "legitimate": {}}
        fraud_money: dict[str, dict[str, float]] = {}
        for label, record in zip(labels, records, strict=True):
            assert record.assessment is not None
            bucket = decisions["fraud" if label else "legitimate"]
            decision = record.assessment.decision.value
            bucket[decision] = bucket.get(decision, 0) + 1
            if label:
                money = fraud_money.setdefault(decision, {})
                currency = record.transaction.currency
                money[currency] = money.get(currency, 0.0) + record.transaction.amount
        metrics: dict[str, Any] = dict(summarize(labels, scores))
        metrics.update(at_review_budget(labels, scores, transactions, review_budget))
        rounded = {d: {c: round(v, 2) for c, v in m.items()} for d, m in fraud_money.items()}
        return Evaluation(metrics, labels, scores, decisions, self.model.info, rounded)
