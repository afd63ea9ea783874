"""What explaining scores costs: integrated gradients beside plain scoring, per row.

Simulated transactions get their behaviour features; a network from ``build_network``
(hidden layers of 128 and 64), trained on them for a few epochs, scores them in batches
of 512 as the score stage does: plainly (``KerasScorer``), then with every feature's
attribution (``Attributor``) at 4, 8 and 16 steps along the path from the features'
median. Reported: wall-clock µs per row (the median of a few passes over all batches),
and the completeness error: how far each row's attributions add up from the log-odds
they explain (the path's sampling error), against how far the log-odds move on average.

    python benchmarks/attribution_cost.py --transactions 20000 --epochs 2 [--members 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from fraud.adapters.simulation.simulator import simulate
from fraud.adapters.tensorflow.attribution import Attributor
from fraud.adapters.tensorflow.model import KerasScorer, as_matrix
from fraud.adapters.tensorflow.trainer import KerasTrainer, Recipe
from fraud.domain.features import BehaviourProfiles
from fraud.domain.ports import TrainingData

BATCH = 512
STEPS = (4, 8, 16)


def costs(
    scorers: dict[str, Callable[[np.ndarray], object]], matrix: np.ndarray, passes: int
) -> dict[str, float]:
    """µs of wall time per row for each way of scoring: the median of ``passes`` sweeps over
    every batch, the ways taking turns within a pass so that a busy moment of the machine
    falls on all of them alike (after a sweep each to warm up)."""
    batches = [matrix[at : at + BATCH] for at in range(0, len(matrix), BATCH)]
    seconds: dict[str, list[float]] = {name: [] for name in scorers}
    for sweep in range(passes + 1):
        for name, score in scorers.items():
            started = time.perf_counter()
            for batch in batches:
                score(batch)
            if sweep:
                seconds[name].append(time.perf_counter() - started)
    return {name: 1e6 * statistics.median(each) / len(matrix) for name, each in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=2, help="0: the initial weights")
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument(
        "--members", type=int, default=3, help="networks averaged, as `fraud train` makes (3)"
    )
    args = parser.parse_args()
    rows = simulate(args.transactions, seed=11, fraud_rate=0.02)
    features = BehaviourProfiles().observe(row.transaction for row in rows)
    labels = [row.is_fraud for row in rows]
    split = len(rows) * 4 // 5
    trainer = KerasTrainer(recipe=Recipe(members=args.members), verbose=False)
    network = trainer.fit(
        TrainingData(features[:split], labels[:split]),
        TrainingData(features[split:], labels[split:]),
        epochs=args.epochs,
    ).scorer.network
    matrix = as_matrix(features)
    baseline = np.median(matrix[:split], axis=0)

    scorer = KerasScorer(network)
    attributors = {steps: Attributor(network, baseline, steps) for steps in STEPS}
    cost = costs(
        {
            "plain scoring": scorer.score_matrix,
            **{
                f"scoring + attribution, {steps:>2} steps": attributor.score_and_attribute
                for steps, attributor in attributors.items()
            },
        },
        matrix,
        args.passes,
    )
    plain = cost["plain scoring"]
    print(f"{'plain scoring':>31}: {plain:7.1f} µs per row")
    expected = np.concatenate(
        [scorer.score_matrix(matrix[at : at + BATCH]) for at in range(0, len(matrix), BATCH)]
    )
    for steps, attributor in attributors.items():
        name = f"scoring + attribution, {steps:>2} steps"
        found = [
            attributor.score_and_attribute(matrix[at : at + BATCH])
            for at in range(0, len(matrix), BATCH)
        ]
        scores = np.concatenate([scores for scores, _ in found])
        attributions = np.concatenate([attributions for _, attributions in found])
        moved = attributor.log_odds(matrix) - attributor.baseline_log_odds
        error = np.abs(attributions.sum(axis=1) - moved)
        print(
            f"{name:>31}: {cost[name]:7.1f} µs per row ({cost[name] / plain:4.1f}x); "
            f"completeness error mean {error.mean():.4f}, p99 {np.quantile(error, 0.99):.4f}, "
            f"max {error.max():.4f} in log-odds (which move {np.abs(moved).mean():.2f} "
            f"on average); scores off plain by at most {np.abs(scores - expected).max():.1e}"
        )


if __name__ == "__main__":
    main()
