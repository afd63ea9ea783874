"""Does the TensorFlow model earn its place? Train on one period, judge on a later one.

The training data and the evaluation data come from separate simulations (other
seeds, other users, a later period), so the figures say how the model does on
behaviour it has never seen, not on a held-out slice of the same population.
Models are compared on the same split, by average precision (PR-AUC):

* the project's TensorFlow model on the behaviour features (what the service runs),
* scikit-learn's HistGradientBoostingClassifier on the same features,
* the same gradient-boosted model on the raw columns only (no per-user history),

and the first two again for each label delay: the features then know each label from
that long after its purchase on (the merchant's confirmed fraud, a card confirmed
stolen), in training and in evaluation alike, as the stream would.

    python benchmarks/model_comparison.py --train-samples 200000 --eval-samples 100000 \
        --label-delays none,1d,7d
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from tqdm import tqdm

from fraud.adapters.simulation.simulator import DEFAULT_START, default_days, simulate
from fraud.adapters.tensorflow.model import as_matrix
from fraud.adapters.tensorflow.trainer import KerasTrainer
from fraud.application.training import known_labels
from fraud.domain.evaluation import average_precision, recall_at_fpr, roc_auc
from fraud.domain.features import FEATURE_NAMES, FEATURES, Scale, replay
from fraud.domain.model import LabelledTransaction
from fraud.domain.ports import TrainingData
from fraud.entrypoints.cli.options import Duration

RAW_COLUMNS = (
    "amount",
    "hour_sin",
    "hour_cos",
    "location_mismatch",
    "merchant_type",
    "device_type",
)


def features_and_labels(
    examples: list[LabelledTransaction], label_delay: timedelta | None = None
) -> tuple[np.ndarray, np.ndarray, list]:
    """Features with every label known ``label_delay`` after its purchase (None: none)."""
    known = [] if label_delay is None else known_labels(examples, label_delay)
    vectors = replay([example.transaction for example in examples], known)
    labels = np.asarray([example.is_fraud for example in examples], dtype=np.int8)
    return as_matrix(vectors), labels, vectors


def judge(name: str, labels: np.ndarray, scores: np.ndarray, seconds: float) -> dict[str, float]:
    truth = labels.astype(bool).tolist()
    ranked = scores.tolist()
    return {
        "model": name,
        "average_precision": average_precision(truth, ranked),
        "roc_auc": roc_auc(truth, ranked),
        "recall_at_1pct_fpr": recall_at_fpr(truth, ranked, 0.01),
        "train_seconds": seconds,
    }


def gradient_boosting(
    x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, columns: list[int], seed: int
) -> tuple[np.ndarray, float]:
    categorical = [FEATURES[c].scale is Scale.CATEGORY for c in columns]
    model = HistGradientBoostingClassifier(
        max_iter=400,
        learning_rate=0.05,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=30,
        scoring="average_precision",
        categorical_features=categorical,
        random_state=seed,
    )
    started = time.perf_counter()
    model.fit(x_train[:, columns], y_train)
    seconds = time.perf_counter() - started
    return model.predict_proba(x_eval[:, columns])[:, 1], seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-samples", type=int, default=200_000)
    parser.add_argument("--eval-samples", type=int, default=100_000)
    parser.add_argument("--train-seed", type=int, default=1)
    parser.add_argument("--eval-seed", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--label-delays",
        default="none,1d,7d",
        help="Comma-separated: none (no label known), or a delay such as 1d or 7d.",
    )
    parser.add_argument("--out", type=Path, default=Path("var/bench/model_comparison.json"))
    args = parser.parse_args(argv)

    print(f"simulating {args.train_samples} training transactions (seed {args.train_seed})")
    with tqdm(total=args.train_samples, desc="simulating", unit="txn") as bar:
        train = simulate(args.train_samples, seed=args.train_seed, progress=bar.update)
    later = DEFAULT_START + timedelta(days=default_days(args.train_samples) + 7)
    print(
        f"simulating {args.eval_samples} evaluation transactions "
        f"(seed {args.eval_seed}, from {later:%Y-%m-%d})"
    )
    with tqdm(total=args.eval_samples, desc="simulating", unit="txn") as bar:
        evaluation = simulate(
            args.eval_samples, seed=args.eval_seed, start=later, progress=bar.update
        )

    results = []
    for delay_text in args.label_delays.split(","):
        delay = None if delay_text == "none" else Duration().convert(delay_text, None, None)
        labels = "no labels" if delay is None else f"labels {delay_text} late"
        x_train, y_train, train_vectors = features_and_labels(train, delay)
        x_eval, y_eval, _ = features_and_labels(evaluation, delay)
        print(
            f"{labels}: training frauds {int(y_train.sum())}/{len(y_train)}, "
            f"evaluation frauds {int(y_eval.sum())}/{len(y_eval)}"
        )
        cut = int(len(train) * 0.8)  # the trainer's own time-based validation split
        trainer = KerasTrainer(seed=args.train_seed, verbose=False)
        started = time.perf_counter()
        scorer = trainer.fit(
            TrainingData(train_vectors[:cut], y_train[:cut].astype(bool).tolist()),
            TrainingData(train_vectors[cut:], y_train[cut:].astype(bool).tolist()),
            epochs=args.epochs,
        )
        seconds = time.perf_counter() - started
        results.append(judge(f"tensorflow, {labels}", y_eval, scorer.score_matrix(x_eval), seconds))
        every = list(range(len(FEATURE_NAMES)))
        scores, seconds = gradient_boosting(x_train, y_train, x_eval, every, args.train_seed)
        results.append(judge(f"gradient boosting, {labels}", y_eval, scores, seconds))
        if delay is None:
            raw = [FEATURE_NAMES.index(name) for name in RAW_COLUMNS]
            scores, seconds = gradient_boosting(x_train, y_train, x_eval, raw, args.train_seed)
            results.append(judge("gradient boosting, raw columns", y_eval, scores, seconds))

    print(f"\n{'model':<40} {'AP':>7} {'ROC-AUC':>8} {'R@1%FPR':>8} {'train s':>8}")
    for row in results:
        print(
            f"{row['model']:<40} {row['average_precision']:7.4f} {row['roc_auc']:8.4f} "
            f"{row['recall_at_1pct_fpr']:8.4f} {row['train_seconds']:8.1f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"arguments": vars(args) | {"out": str(args.out)}, "results": results}, indent=2)
    )
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
