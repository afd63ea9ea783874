"""Does the TensorFlow model earn its place? Train on one period, judge on a later one.

The honest baseline is gradient-boosted trees (LightGBM) on the same features,
with their size (leaves) and learning rate tuned on the same time split the
network's recipe was chosen on: trained on the earlier part of the training
period, judged on its later part; the best pair is then trained on the whole
training period, early-stopped on its latest 20% as the network is, and grown
again on every row for the rounds that chose (as the network's final epochs
learn from every row). All are judged on a later period, as fraud teams count
it: average precision, ROC-AUC, precision at a review budget (the top N scores
of each day) and the money of the frauds caught and missed there; and, per fraud
scenario of the handbook (``fraud_scenarios``), the frauds and money each model's
reviews caught and those the network missed that a tree caught, and the other way; and
where each model's reviews went to genuine purchases, by what the labels known then said of
the purchase's terminal.

Every label counts for the features only from when it became known (a label
delay after its purchase, or the file's ``labelled_at``), for training and for
the judged period alike: the features of the judged period come from replaying
everything before it, as the stream would have seen it. ``--cold`` also judges
on the judged period replayed alone from empty state, as ``fraud score --data``
on that period's file does.

Two sources:

* a labelled file split by dates, e.g. the Fraud Detection Handbook's months::

    python benchmarks/model_comparison.py --data var/data/handbook.csv \\
        --tune-from 2018-05-02 --judge-from 2018-05-17 --label-delay 7d --cold

* the simulator (the default): a training period and a later one of other seeds::

    python benchmarks/model_comparison.py --train-samples 200000 --eval-samples 97000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
from fraud_scenarios import breakdown, false_alarms, reviewed, scenarios, terminal_stages
from tqdm import tqdm

from fraud.adapters.csv.labelled import read_labelled
from fraud.adapters.simulation.simulator import DEFAULT_START, default_days, simulate
from fraud.adapters.tensorflow.model import as_matrix
from fraud.adapters.tensorflow.trainer import KerasTrainer
from fraud.application.replay import features_in_parts
from fraud.application.training import TrainingPlan, known_labels
from fraud.domain.evaluation import (
    REVIEW_BUDGET_PER_DAY,
    at_review_budget,
    average_precision,
    roc_auc,
)
from fraud.domain.features import FEATURE_INDEX, FEATURE_NAMES, FEATURES, FeatureVector, Scale
from fraud.domain.model import LabelledTransaction
from fraud.domain.ports import TrainingData
from fraud.entrypoints.cli.options import Duration

LEARNING_RATES = (0.02, 0.05, 0.1)
LEAVES = (15, 31, 63)
MOST_ROUNDS = 2_000
PATIENCE = 100
VALIDATION = TrainingPlan().validation_fraction  # the latest part of training, as the network


@dataclass
class Period:
    """Labelled rows of a period, their features and the matrix the models read."""

    examples: list[LabelledTransaction]
    matrix: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([example.is_fraud for example in self.examples], dtype=np.int8)

    def rows(self, keep: np.ndarray) -> Period:
        return Period([e for e, k in zip(self.examples, keep, strict=True) if k], self.matrix[keep])


def replayed(examples: list[LabelledTransaction], label_delay: timedelta) -> Period:
    """The rows in time order, with features from replaying them all from empty state,
    every label known ``label_delay`` after its purchase (or at its ``labelled_at``)."""
    ordered = sorted(examples, key=lambda example: example.transaction.timestamp)
    with tqdm(total=len(ordered), desc="features", unit="txn", unit_scale=True) as bar:
        vectors = features_in_parts(
            [example.transaction for example in ordered],
            known_labels(ordered, label_delay),
            os.cpu_count() or 1,
            bar.update,
        )
    return Period(ordered, as_matrix(vectors))


def before(period: Period, moment: datetime) -> np.ndarray:
    return np.asarray([e.transaction.timestamp < moment for e in period.examples])


def judge(name: str, period: Period, scores: np.ndarray, seconds: float, per_day: int) -> dict:
    truth = period.labels.astype(bool).tolist()
    ranked = scores.tolist()
    budget = at_review_budget(truth, ranked, [e.transaction for e in period.examples], per_day)
    return {
        "model": name,
        "rows": len(truth),
        "frauds": int(sum(truth)),
        "average_precision": average_precision(truth, ranked),
        "roc_auc": roc_auc(truth, ranked),
        **budget,
        "train_seconds": seconds,
    }


def time_split(period: Period) -> tuple[Period, Period]:
    """The earlier rows to fit, the latest to stop on: the network's own split."""
    cut = int(len(period.examples) * (1 - VALIDATION))
    keep = np.arange(len(period.examples)) < cut
    return period.rows(keep), period.rows(~keep)


def fit_network(train: Period, seed: int, epochs: int) -> tuple[Any, float]:
    """The service's network, trained as ``fraud train`` trains it."""
    fit, stop = time_split(train)
    started = time.perf_counter()
    fitted = KerasTrainer(seed=seed, verbose=False).fit(
        TrainingData(_vectors(fit), fit.labels.astype(bool).tolist()),
        TrainingData(_vectors(stop), stop.labels.astype(bool).tolist()),
        epochs=epochs,
    )
    return fitted.scorer, time.perf_counter() - started


def _vectors(period: Period) -> list[FeatureVector]:
    return [FeatureVector(tuple(map(float, row))) for row in period.matrix]


def _trees(learning_rate: float, leaves: int, seed: int, rounds: int) -> lightgbm.LGBMClassifier:
    return lightgbm.LGBMClassifier(
        n_estimators=rounds,
        learning_rate=learning_rate,
        num_leaves=leaves,
        min_child_samples=100,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=1.0,
        random_state=seed,
        n_jobs=2,
        verbose=-1,
    )


CATEGORICAL = [i for i, f in enumerate(FEATURES) if f.scale is Scale.CATEGORY]


def fit_trees(
    train: Period, learning_rate: float, leaves: int, seed: int
) -> tuple[lightgbm.LGBMClassifier, float]:
    """LightGBM on the same features, early-stopped on the latest rows by AP."""
    fit, stop = time_split(train)
    model = _trees(learning_rate, leaves, seed, MOST_ROUNDS)
    started = time.perf_counter()
    model.fit(
        fit.matrix,
        fit.labels,
        eval_X=stop.matrix,
        eval_y=stop.labels,
        eval_metric="average_precision",
        categorical_feature=CATEGORICAL,
        callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False)],
    )
    return model, time.perf_counter() - started


def refit_trees(
    train: Period, learning_rate: float, leaves: int, seed: int, rounds: int
) -> tuple[lightgbm.LGBMClassifier, float]:
    """The same trees grown again on every training row, the latest included, for the
    rounds the early stop chose: what the network's final epochs do, given to the trees."""
    model = _trees(learning_rate, leaves, seed, rounds)
    started = time.perf_counter()
    model.fit(train.matrix, train.labels, categorical_feature=CATEGORICAL)
    return model, time.perf_counter() - started


def tune_trees(
    train: Period, moment: datetime, seed: int, grid: Sequence[tuple[float, int]], per_day: int
) -> tuple[tuple[float, int], list[dict]]:
    """The learning rate and leaves whose trees, trained before ``moment``, judge the rest of
    the training period best (AP)."""
    earlier = before(train, moment)
    fit, tune = train.rows(earlier), train.rows(~earlier)
    print(f"tuning trees: fit on {len(fit.examples):,} rows, judged on {len(tune.examples):,}")
    tried = []
    for learning_rate, leaves in grid:
        model, seconds = fit_trees(fit, learning_rate, leaves, seed)
        name = f"trees lr {learning_rate} leaves {leaves} ({model.best_iteration_} rounds)"
        row = judge(name, tune, model.predict_proba(tune.matrix)[:, 1], seconds, per_day)
        print(f"  {name}: AP {row['average_precision']:.4f}", flush=True)
        tried.append(row | {"learning_rate": learning_rate, "leaves": leaves})
    best = max(tried, key=lambda row: row["average_precision"])
    return (best["learning_rate"], best["leaves"]), tried


def compare(
    train: Period,
    judged: dict[str, Period],
    tune_moment: datetime,
    kinds: dict[str, str | None],
    args: argparse.Namespace,
) -> dict[str, Any]:
    grid = [(lr, leaves) for lr in LEARNING_RATES for leaves in LEAVES]
    (learning_rate, leaves), tried = tune_trees(
        train, tune_moment, args.seed, grid, args.review_budget
    )
    print(f"trees chosen: learning rate {learning_rate}, {leaves} leaves")
    trees, tree_seconds = fit_trees(train, learning_rate, leaves, args.seed)
    rounds = trees.best_iteration_
    refit, refit_seconds = refit_trees(train, learning_rate, leaves, args.seed, rounds)
    print(f"training the network on {len(train.examples):,} rows")
    network, network_seconds = fit_network(train, args.seed, args.epochs)
    results = []
    by_scenario = {}
    by_stage = {}
    for what, period in judged.items():
        scores = {
            f"tensorflow, {what}": (network.score_matrix(period.matrix), network_seconds),
            f"lightgbm (lr {learning_rate}, {leaves} leaves), {what}": (
                trees.predict_proba(period.matrix)[:, 1],
                tree_seconds,
            ),
            f"lightgbm, {rounds} rounds on every row, {what}": (
                refit.predict_proba(period.matrix)[:, 1],
                tree_seconds + refit_seconds,
            ),
        }
        for name, (scored, seconds) in scores.items():
            results.append(judge(name, period, scored, seconds, args.review_budget))
        by_scenario[what] = scenario_rows(period, kinds, scores, args.review_budget)
        by_stage[what] = false_alarm_rows(period, scores, args.review_budget)
    return {
        "tuning": tried,
        "results": results,
        "scenarios": by_scenario,
        "false_alarms": by_stage,
    }


def scenario_rows(
    period: Period,
    kinds: dict[str, str | None],
    scores: dict[str, tuple[np.ndarray, float]],
    per_day: int,
) -> list[dict[str, object]]:
    """Each fraud scenario's frauds and money the reviews of each model find (the first
    model, the network, is the one the others' extra and missing catches are counted
    against)."""
    transactions = [example.transaction for example in period.examples]
    return breakdown(
        [kinds[t.transaction_id] for t in transactions],
        transactions,
        {name: reviewed(transactions, scored, per_day) for name, (scored, _) in scores.items()},
    )


def false_alarm_rows(
    period: Period, scores: dict[str, tuple[np.ndarray, float]], per_day: int
) -> list[dict[str, object]]:
    """Each model's reviews and false alarms by the stage of the purchase's terminal."""
    transactions = [example.transaction for example in period.examples]
    stages = terminal_stages(
        period.matrix[:, FEATURE_INDEX["seconds_since_merchant_first_fraud"]],
        period.matrix[:, FEATURE_INDEX["seconds_since_merchant_fraud"]],
    )
    return false_alarms(
        stages,
        period.labels,
        {name: reviewed(transactions, scored, per_day) for name, (scored, _) in scores.items()},
    )


def from_file(args: argparse.Namespace) -> dict[str, Any]:
    """Train before ``--judge-from``, judge from it to ``--judge-until``; tune the trees on
    the same training rows split at ``--tune-from``."""
    examples = read_labelled(args.data)
    judge_from, judge_until = _day(args.judge_from), _day(args.judge_until)
    everything = replayed(
        [e for e in examples if e.transaction.timestamp < judge_until], args.label_delay
    )
    earlier = before(everything, judge_from)
    train, judged = everything.rows(earlier), everything.rows(~earlier)
    periods = {f"from {args.judge_from} after the months before": judged}
    if args.cold:
        periods[f"from {args.judge_from} replayed alone"] = replayed(
            judged.examples, args.label_delay
        )
    print(
        f"training: {len(train.examples):,} rows, {int(train.labels.sum()):,} frauds; "
        f"judged: {len(judged.examples):,} rows, {int(judged.labels.sum()):,} frauds"
    )
    return compare(train, periods, _day(args.tune_from), scenarios(examples), args)


def simulated(args: argparse.Namespace) -> dict[str, Any]:
    """A simulated training period, tuned at its latest quarter, and a later one to judge."""
    print(f"simulating {args.train_samples:,} training transactions (seed {args.train_seed})")
    train = simulate(args.train_samples, seed=args.train_seed, fraud_rate=args.fraud_rate)
    later = DEFAULT_START + timedelta(days=default_days(args.train_samples) + 7)
    print(f"simulating {args.eval_samples:,} later transactions (seed {args.eval_seed})")
    evaluation = simulate(
        args.eval_samples, seed=args.eval_seed, start=later, fraud_rate=args.fraud_rate
    )
    period = replayed(train, args.label_delay)
    stamps = [e.transaction.timestamp for e in period.examples]
    tune_moment = stamps[int(len(stamps) * 0.75)]
    judged = {"a later simulated period": replayed(evaluation, args.label_delay)}
    return compare(period, judged, tune_moment, scenarios(evaluation), args)


def _duration(text: str) -> timedelta:
    """A label delay as the CLI reads it: 7d, 36h, 90m."""
    return Duration().convert(text, None, None)


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a labelled CSV file, split by dates")
    parser.add_argument("--tune-from", default="2018-05-02", help="the trees' tuning split")
    parser.add_argument("--judge-from", default="2018-05-17")
    parser.add_argument("--judge-until", default="2018-06-01", help="exclusive")
    parser.add_argument("--cold", action="store_true", help="also judge from empty state")
    parser.add_argument("--train-samples", type=int, default=200_000)
    parser.add_argument("--eval-samples", type=int, default=97_000)
    parser.add_argument("--fraud-rate", type=float, default=0.005)
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--eval-seed", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7, help="the models' own")
    parser.add_argument("--epochs", type=int, default=TrainingPlan().epochs)
    parser.add_argument("--label-delay", type=_duration, default=timedelta(days=7))
    parser.add_argument("--review-budget", type=int, default=REVIEW_BUDGET_PER_DAY)
    parser.add_argument("--out", type=Path, default=Path("var/bench/model_comparison.json"))
    args = parser.parse_args(argv)

    found = from_file(args) if args.data else simulated(args)
    print(f"\n{'model':<62} {'AP':>7} {'ROC-AUC':>8} {'P@budget':>9} {'caught':>14} {'missed':>14}")
    for row in found["results"]:
        print(
            f"{row['model']:<62} {row['average_precision']:7.4f} {row['roc_auc']:8.4f} "
            f"{row['precision_at_budget']:9.4f} {_money(row['fraud_money_caught']):>14} "
            f"{_money(row['fraud_money_missed']):>14}"
        )
    for what, rows in found["scenarios"].items():
        print_scenarios(what, rows)
    for what, rows in found["false_alarms"].items():
        print_false_alarms(what, rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    arguments = {k: str(v) if isinstance(v, Path | timedelta) else v for k, v in vars(args).items()}
    args.out.write_text(json.dumps({"arguments": arguments, **found}, indent=2))
    print(f"\nwrote {args.out} ({len(FEATURE_NAMES)} features)")
    return 0


def print_scenarios(what: str, rows: list[dict[str, Any]]) -> None:
    """Per scenario and model: frauds caught in the reviews (recall), the money of those,
    and the frauds this model caught that the network missed (+) and the other way (-)."""
    print(f"\nby the handbook's fraud scenarios (read back from the labels), {what}:")
    for row in rows:
        print(f"  {row['scenario']}: {row['frauds']:,} frauds, money {row['money']:,.0f}")
        for name, figures in row.items():
            if isinstance(figures, dict):
                print(
                    f"    {name.removesuffix(f', {what}'):<46} caught {figures['caught']:>5,} "
                    f"({figures['recall']:6.1%}), money {figures['money_caught']:>10,.0f}; "
                    f"+{figures['caught_first_missed']} -{figures['missed_first_caught']}"
                )


def print_false_alarms(what: str, rows: list[dict[str, Any]]) -> None:
    """Per stage of the purchase's terminal and model: the reviews spent there and how many
    of them on genuine purchases."""
    print(f"\nreviews and false alarms by the terminal's confirmed frauds, {what}:")
    for row in rows:
        print(f"  {row['stage']}: {row['genuine']:,} genuine purchases")
        for name, figures in row.items():
            if isinstance(figures, dict):
                print(
                    f"    {name.removesuffix(f', {what}'):<46} reviewed {figures['reviewed']:>5,}, "
                    f"false alarms {figures['false_alarms']:>5,}"
                )


def _money(amounts: dict[str, float]) -> str:
    return " + ".join(f"{c} {v:,.0f}" for c, v in amounts.items()) or "0"


if __name__ == "__main__":
    sys.exit(main())
