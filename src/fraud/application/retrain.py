"""Retrain from what the service has seen: the stored transactions of a span and the labels
known (the analysts' and the imported ones, each from when it became known), a candidate
trained on all but the most recent labelled period, and a backtest of the candidate
against the champion on that period, which neither learnt from.

A transaction nobody labelled counts as legitimate once the label delay has passed (a
chargeback would have come by then); the newer ones, whose outcome is not known yet, are
left out. The candidate is registered; it is promoted only by a person, or by
``promote_if_better`` when its average precision on the backtest beats the champion's by
the stated margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog

from fraud.application.archives import SignedArchives
from fraud.application.models import ManageModels, RegisterModel, Registration
from fraud.application.training import TrainingPlan, TrainModel, known_labels
from fraud.domain.evaluation import summarize
from fraud.domain.features import replay
from fraud.domain.identity import Actor
from fraud.domain.model import LabelledTransaction
from fraud.domain.ports import (
    Clock,
    FraudModel,
    ModelQueries,
    ModelStore,
    VerdictQueries,
)

log = structlog.get_logger(__name__)

DEFAULT_HOLDOUT = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class RetrainPlan:
    since: timedelta = timedelta(days=60)
    until: datetime | None = None  # None: now
    holdout: timedelta = DEFAULT_HOLDOUT
    training: TrainingPlan = field(default_factory=TrainingPlan)
    promote_if_better: float | None = None  # the margin of average precision, or never


@dataclass(frozen=True, slots=True)
class Backtest:
    """Champion and candidate on the backtest period: each one's figures (average
    precision, ROC-AUC, recall at 1% FPR) on the same transactions and labels."""

    period_from: datetime
    period_until: datetime
    rows: int
    frauds: int
    candidate: dict[str, float]
    champion: dict[str, float] | None  # None: there was no champion to compare with
    champion_version: str | None

    def beats(self, margin: float) -> bool:
        """Whether the candidate's average precision beats the champion's by ``margin``."""
        if self.champion is None:
            return True
        if not self.frauds:
            return False
        return self.candidate["average_precision"] >= self.champion["average_precision"] + margin


@dataclass(frozen=True, slots=True)
class Retrained:
    registration: Registration
    backtest: Backtest
    promoted: bool


class NotEnoughHistory(ValueError):
    """The span holds too little to train on or to backtest with."""


class RetrainModel:
    def __init__(
        self,
        verdicts: VerdictQueries,
        train: TrainModel,
        store: ModelStore,
        register: RegisterModel,
        manage: ManageModels,
        models: ModelQueries,
        archives: SignedArchives,
        clock: Clock,
    ) -> None:
        self.clock = clock
        self.verdicts = verdicts
        self.train = train
        self.store = store
        self.register = register
        self.manage = manage
        self.models = models
        self.archives = archives

    def champion(self) -> FraudModel | None:
        """The champion now, loaded from the registry (its archive's signature checked);
        None when there is none."""
        version = self.models.roles().champion
        return None if version is None else self.archives.load(version)

    def __call__(self, plan: RetrainPlan, by: Actor) -> Retrained:
        until = plan.until or self.clock.now()
        since = until - plan.since
        matured = until - plan.training.label_delay
        cut = matured - plan.holdout
        examples = self.examples(since, until, matured)
        learnt = [e for e in examples if e.transaction.timestamp < cut]
        held = sum(e.transaction.timestamp >= cut for e in examples)
        if len(learnt) < 10 or not held:
            raise NotEnoughHistory(
                f"{len(learnt)} transactions to learn from before {cut:%Y-%m-%d %H:%M} and "
                f"{held} to backtest on until {matured:%Y-%m-%d %H:%M}: widen --since, or "
                "shorten --holdout or --label-delay"
            )
        log.info(
            "retraining",
            since=since.isoformat(),
            until=until.isoformat(),
            learn_rows=len(learnt),
            backtest_rows=held,
            labelled_frauds=sum(e.is_fraud for e in examples),
        )
        champion = self.champion()  # before the candidate may become the first one
        info = self.train(learnt, plan.training)
        candidate = self.store.load()
        registration = self.register(info, self.store.archive(), by)
        backtest = self._backtest(examples, cut, matured, candidate, champion, plan)
        promoted = False
        if (
            plan.promote_if_better is not None
            and not registration.champion
            and backtest.beats(plan.promote_if_better)
        ):
            self.manage.promote(info.version, by)
            promoted = True
        log.info(
            "retrained",
            model_version=info.version,
            candidate_ap=round(backtest.candidate["average_precision"], 4),
            champion_ap=None
            if backtest.champion is None
            else round(backtest.champion["average_precision"], 4),
            promoted=promoted,
        )
        return Retrained(registration, backtest, promoted)

    def examples(
        self, since: datetime, until: datetime, matured: datetime
    ) -> list[LabelledTransaction]:
        """The stored transactions dated from ``since`` to ``matured``, each with its label as
        known at ``until`` (the latest given by then, and when), or legitimate when none."""
        latest: dict[str, tuple[bool, datetime]] = {}
        for event in self.verdicts.label_events(since):
            given = datetime.fromtimestamp(event.labelled_at, UTC)
            if given <= until:
                latest[event.transaction_id] = (event.is_fraud, given)
        examples = []
        for transaction in self.verdicts.accepted_since(since):
            if transaction.timestamp >= matured:
                break  # oldest first: the rest is newer still
            label = latest.get(transaction.transaction_id)
            examples.append(
                LabelledTransaction(transaction, False, None)
                if label is None
                else LabelledTransaction(transaction, label[0], label[1])
            )
        return examples

    def _backtest(
        self,
        examples: Sequence[LabelledTransaction],
        cut: datetime,
        matured: datetime,
        candidate: FraudModel,
        champion: FraudModel | None,
        plan: RetrainPlan,
    ) -> Backtest:
        """Both models on the period from ``cut``, with features replayed over the whole span
        (a transaction's history reaches back before the period, as it did when served)."""
        ordered = sorted(examples, key=lambda e: e.transaction.timestamp)
        features = replay(
            [e.transaction for e in ordered], known_labels(ordered, plan.training.label_delay)
        )
        period = [i for i, e in enumerate(ordered) if e.transaction.timestamp >= cut]
        vectors = [features[i] for i in period]
        labels = [ordered[i].is_fraud for i in period]
        return Backtest(
            period_from=cut,
            period_until=matured,
            rows=len(period),
            frauds=sum(labels),
            candidate=summarize(labels, candidate.score(vectors)),
            champion=None if champion is None else summarize(labels, champion.score(vectors)),
            champion_version=None if champion is None else champion.info.version,
        )
