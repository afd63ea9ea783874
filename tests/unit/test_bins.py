"""The network's pieces are cut where the labels change, and nowhere else."""

from __future__ import annotations

import numpy as np

from fraud.adapters.tensorflow.bins import MOST_CUTS, bin_edges


def amounts_and_frauds(rows: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Amounts up to 300; every one above 220 is fraud, and one in a hundred below it."""
    rng = np.random.default_rng(4)
    amounts = rng.uniform(0.0, 300.0, rows)
    frauds = (amounts > 220.0) | (rng.random(rows) < 0.01)
    return amounts, frauds.astype(np.float64)


def test_a_line_the_labels_turn_on_is_cut_first_and_exactly() -> None:
    amounts, frauds = amounts_and_frauds()
    edges = bin_edges(amounts, frauds, most_cuts=1)
    assert len(edges) == 3
    assert edges[0] == amounts.min() and edges[-1] == amounts.max()
    assert abs(edges[1] - 220.0) < 0.1


def test_a_feature_that_says_nothing_of_fraud_stays_one_piece() -> None:
    # Ten values, each a quarter fraud: no cut explains anything of the labels.
    rows = np.arange(20_000)
    unrelated = (rows % 10).astype(np.float64)
    frauds = ((rows // 10) % 4 == 0).astype(np.float64)
    assert bin_edges(unrelated, frauds).tolist() == [0.0, 9.0]


def test_cuts_stop_at_the_most_allowed() -> None:
    amounts, frauds = amounts_and_frauds()
    noisy = amounts + np.random.default_rng(6).normal(scale=40.0, size=len(amounts))
    # Blurred, the line at 220 is worth cutting at many places: more than are allowed.
    assert len(bin_edges(noisy, frauds, most_cuts=100)) > MOST_CUTS + 2
    assert len(bin_edges(noisy, frauds)) == MOST_CUTS + 2  # the two ends, and the cuts


def test_without_labels_or_with_one_value_there_is_still_a_piece() -> None:
    amounts, _ = amounts_and_frauds()
    assert len(bin_edges(amounts, np.zeros(len(amounts)))) == 2
    assert bin_edges(np.full(10, 3.0), np.zeros(10)).tolist() == [3.0, 4.0]


def test_no_piece_is_left_with_fewer_rows_than_the_floor() -> None:
    amounts, frauds = amounts_and_frauds()
    edges = bin_edges(amounts, frauds)
    inside = np.histogram(amounts, bins=edges)[0]
    assert inside.min() >= 20
