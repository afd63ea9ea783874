"""Offline replay: a file of transactions through the stream's own features, model and policy.

``fraud score`` and ``fraud evaluate`` use it. It starts from empty state and
walks the transactions in timestamp order, exactly as the preprocess stage
would see them arrive, so a file scored here gets the scores the stream gives.
"""

from __future__ import annotations

import multiprocessing
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from fraud.application.stream.score import BatchScorer
from fraud.domain.assessment import Assessment, Decision
from fraud.domain.evaluation import REVIEW_BUDGET_PER_DAY, at_review_budget, summarize
from fraud.domain.features import FEATURE_NAMES, FeatureVector, replay, replay_part
from fraud.domain.label_risk import LabelEvent
from fraud.domain.model import LabelledTransaction, ModelInfo
from fraud.domain.policy import ScoringPolicy
from fraud.domain.ports import Clock, FraudModel, Progress
from fraud.domain.reasons import Reason
from fraud.domain.transaction import Transaction

CHUNK = 20_000
DECISIONS = list(Decision)  # a decision crosses between processes as its place here


class ScoreTransactions:
    """Verdicts for every transaction of a file, in the input's order; one model call per
    chunk (``chunk`` transactions). Without ``explain``, the verdicts give no reasons from the
    model's attributions (what :class:`EvaluateModel` reads, the scores and decisions, are
    the same to the last bit, for half the work)."""

    chunk = CHUNK

    def __init__(
        self, model: FraudModel, policy: ScoringPolicy, clock: Clock, *, explain: bool = True
    ) -> None:
        self.model = model
        self.scorer = BatchScorer(model, policy, clock)
        self.explain = explain

    def __call__(
        self,
        transactions: Sequence[Transaction],
        progress: Progress | None = None,
        labels: Sequence[LabelEvent] = (),
        processes: int = 1,
    ) -> list[Assessment]:
        """``labels`` count from the moment each became known, as in the stream. In
        ``processes`` processes, each computes, scores and explains a part of the users:
        the scores and decisions are those of one process to the last bit, and so are the
        reasons, bar a tie that the last bit of an attribution (which may move with the rows
        scored beside it) decides. ``progress`` counts the transactions done."""
        processes = min(processes, len(transactions))
        if processes > 1 and "fork" in multiprocessing.get_all_start_methods():
            shared = _Shared(transactions, labels, processes, self.decide, self.chunk)
            parts, told = _forked(_verdicts_of_part, shared, progress)
            decided = _in_input_order(transactions, parts, self.model.info.version)
            if progress is not None:
                progress(len(transactions) - told)
            return decided
        features = replay(transactions, labels)
        decided = []
        for start in range(0, len(transactions), self.chunk):
            chunk = slice(start, start + self.chunk)
            decided.extend(self.decide(transactions[chunk], features[chunk]))
            if progress is not None:
                progress(len(transactions[chunk]))
        return decided

    def decide(
        self, transactions: Sequence[Transaction], features: Sequence[FeatureVector]
    ) -> list[Assessment]:
        """One chunk's verdicts: one model call."""
        return self.scorer(transactions, features, explain=self.explain)


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
    parts, told = _forked(_features_of_part, _Shared(transactions, labels, processes), progress)
    features: list[FeatureVector | None] = [None] * len(transactions)
    width = len(FEATURE_NAMES)
    for indices, values in parts:
        for row, index in enumerate(indices):
            features[index] = FeatureVector(tuple(values[row * width : (row + 1) * width]))
    assert all(vector is not None for vector in features), "every user is in one part"
    if progress is not None:
        progress(len(transactions) - told)
    return features  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class _Shared:
    """What forked processes read their part from: inherited, never copied through a pipe.
    ``decide``: what makes a chunk's verdicts (None: the parts compute features only)."""

    transactions: Sequence[Transaction]
    labels: Sequence[LabelEvent]
    parts: int
    decide: Callable[[Sequence[Transaction], Sequence[FeatureVector]], list[Assessment]] | None = (
        None
    )
    chunk: int = CHUNK


_SHARED: _Shared | None = None
# The parts' progress, together. Each part walks the whole file for its features and adds
# one for every transaction walked; a part that decides adds ``parts`` more for each
# transaction it decides (a part decides only its own), so a transaction walked and decided
# counts half and half, and the total comes to ``2 * parts`` a transaction; with features
# only, to ``parts``.
_DONE: Any = None
PROGRESS_POLL_S = 0.5
_T = TypeVar("_T")


def _forked(
    work: Callable[[int], _T], shared: _Shared, progress: Progress | None
) -> tuple[list[_T], int]:
    """``work`` for each part, each in a process forked from this one (so each reads what
    ``shared`` holds where the parent does), and how many transactions ``progress`` was told
    of as they went: never all, the rest is the caller's to tell once it has put the parts
    together."""
    global _SHARED, _DONE
    context = multiprocessing.get_context("fork")
    _SHARED, _DONE = shared, context.Value("q", 0)
    per_transaction = shared.parts * (2 if shared.decide is not None else 1)
    try:
        with context.Pool(shared.parts) as pool:
            pending = pool.map_async(work, range(shared.parts))
            told = 0
            while not pending.ready():
                pending.wait(PROGRESS_POLL_S)
                done = min(_DONE.value // per_transaction, len(shared.transactions) - 1)
                if progress is not None and done > told:
                    progress(done - told)
                    told = done
            return pending.get(), told
    finally:
        _SHARED = _DONE = None


def _advance(count: int) -> None:
    with _DONE.get_lock():
        _DONE.value += count


def _features_of_part(part: int) -> tuple[array[int], array[float]]:
    """The part's places and features, flat: arrays cross the pipe far faster than objects."""
    assert _SHARED is not None, "set by the parent before it forks"
    found = replay_part(_SHARED.transactions, _SHARED.labels, part, _SHARED.parts, _advance)
    values = array("d")
    for _, vector in found:
        values.extend(vector.values)
    return array("q", [index for index, _ in found]), values


@dataclass(slots=True)
class _VerdictColumns:
    """A part's verdicts as columns: arrays and one list of texts cross the pipe about a
    hundred times faster than the Assessment objects they make (20,000 verdicts pickled and
    read back: 6 ms against 0.4 to 0.6 s)."""

    places: array[int] = field(default_factory=lambda: array("q"))
    scores: array[float] = field(default_factory=lambda: array("d"))
    decisions: bytearray = field(default_factory=bytearray)
    # Which of ``times`` each was scored at (one a model call).
    scored: array[int] = field(default_factory=lambda: array("l"))
    times: list[datetime] = field(default_factory=list)
    # Each verdict's reasons, then its explanation's reasons (texts, with their shares).
    reason_counts: array[int] = field(default_factory=lambda: array("l"))
    explained_counts: array[int] = field(default_factory=lambda: array("l"))
    texts: list[str] = field(default_factory=list)
    shares: array[float] = field(default_factory=lambda: array("d"))

    def extend(self, places: Sequence[int], assessments: Sequence[Assessment]) -> None:
        self.places.extend(places)
        for assessment in assessments:
            assert not assessment.rule_hits and not assessment.rule_faults, "a replay has no rules"
            if not self.times or self.times[-1] is not assessment.scored_at:
                self.times.append(assessment.scored_at)
            self.scored.append(len(self.times) - 1)
            self.scores.append(assessment.fraud_score)
            self.decisions.append(DECISIONS.index(assessment.decision))
            self.reason_counts.append(len(assessment.reasons))
            self.texts.extend(assessment.reasons)
            self.explained_counts.append(len(assessment.explanation))
            for reason in assessment.explanation:
                self.texts.append(reason.text)
                self.shares.append(reason.share)


def _verdicts_of_part(part: int) -> _VerdictColumns:
    """The part's features, then its verdicts a chunk (one model call) at a time."""
    assert _SHARED is not None, "set by the parent before it forks"
    shared, decide = _SHARED, _SHARED.decide
    assert decide is not None, "a part that decides is given what decides"
    found = replay_part(shared.transactions, shared.labels, part, shared.parts, _advance)
    columns = _VerdictColumns()
    for start in range(0, len(found), shared.chunk):
        chunk = found[start : start + shared.chunk]
        places = [index for index, _ in chunk]
        columns.extend(
            places, decide([shared.transactions[i] for i in places], [v for _, v in chunk])
        )
        _advance(len(chunk) * shared.parts)
    return columns


def _in_input_order(
    transactions: Sequence[Transaction], parts: Sequence[_VerdictColumns], version: str
) -> list[Assessment]:
    """The parts' verdicts as assessments, each at its transaction's place."""
    decided: list[Assessment | None] = [None] * len(transactions)
    for columns in parts:
        text = share = 0
        for row, place in enumerate(columns.places):
            reasons, explained = columns.reason_counts[row], columns.explained_counts[row]
            texts = columns.texts[text : text + reasons + explained]
            decided[place] = Assessment(
                transaction_id=transactions[place].transaction_id,
                fraud_score=columns.scores[row],
                decision=DECISIONS[columns.decisions[row]],
                reasons=tuple(texts[:reasons]),
                model_version=version,
                scored_at=columns.times[columns.scored[row]],
                explanation=tuple(
                    Reason(t, s)
                    for t, s in zip(
                        texts[reasons:], columns.shares[share : share + explained], strict=True
                    )
                ),
            )
            text += reasons + explained
            share += explained
    assert all(assessment is not None for assessment in decided), "every user is in one part"
    return decided  # type: ignore[return-value]


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
    the rest: scores and decisions, so the model's attributions, which only choose the
    reasons, are not computed."""

    def __init__(self, model: FraudModel, policy: ScoringPolicy, clock: Clock) -> None:
        self.model = model
        self.score = ScoreTransactions(model, policy, clock, explain=False)

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
        assessments = self.score(transactions, progress, known, processes)
        labels = [example.is_fraud for example in examples]
        scores = [assessment.fraud_score for assessment in assessments]
        decisions: dict[str, dict[str, int]] = {"fraud": {}, "legitimate": {}}
        fraud_money: dict[str, dict[str, float]] = {}
        for label, assessment, transaction in zip(labels, assessments, transactions, strict=True):
            bucket = decisions["fraud" if label else "legitimate"]
            decision = assessment.decision.value
            bucket[decision] = bucket.get(decision, 0) + 1
            if label:
                money = fraud_money.setdefault(decision, {})
                currency = transaction.currency
                money[currency] = money.get(currency, 0.0) + transaction.amount
        metrics: dict[str, Any] = dict(summarize(labels, scores))
        metrics.update(at_review_budget(labels, scores, transactions, review_budget))
        rounded = {d: {c: round(v, 2) for c, v in m.items()} for d, m in fraud_money.items()}
        return Evaluation(metrics, labels, scores, decisions, self.model.info, rounded)
