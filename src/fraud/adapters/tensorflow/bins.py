"""Where a feature's value changes the odds of fraud: bin edges for the network's encoder.

An MLP fed a standardised number draws smooth curves through it; fraud often
turns on a line (every purchase above an amount, a terminal whose first confirmed
fraud is less than four weeks old), and a curve through it spends its steepness
on the legitimate purchases just below. Cutting each feature into pieces and
giving the network each piece's position (a piecewise-linear encoding, Gorishniy
et al., "On Embeddings for Numerical Features in Tabular Deep Learning", 2022)
lets it learn a step where the data has one. The pieces are chosen as a
one-feature decision tree chooses its splits: where a cut most reduces the
log-loss of the labels, best first, up to :data:`MOST_CUTS`. On the handbook's
months and on the simulator this beat evenly spread (quantile) cuts, alone or
added, and fewer, surer cuts (see the issue-29 note).

Outside the training data's range every piece is full or empty: a value beyond
anything seen reads as the largest seen, as in a tree, instead of extrapolating
a line into values a model never learnt from.
"""

from __future__ import annotations

import heapq

import numpy as np

MOST_CUTS = 15  # per feature: at most 16 pieces
# A cut must save this much log-loss (nats), so that a feature that says nothing of fraud
# stays one piece: a plain scaled number.
LEAST_GAIN = 1.0
# And leave on each side enough rows to mean something, however clean the cut (0.02%: the
# 1,098 purchases above the handbook's 220 sit past a cut that 0.2% would not allow).
SMALLEST_SHARE = 0.0002
SMALLEST_ROWS = 20


def bin_edges(values: np.ndarray, labels: np.ndarray, *, most_cuts: int = MOST_CUTS) -> np.ndarray:
    """Sorted edges from the column's smallest value to its largest (at least two): one
    piece, a plain scaled number, where no cut explains the labels."""
    distinct, where = np.unique(values, return_inverse=True)
    if len(distinct) < 2:
        low = float(distinct[0]) if len(distinct) else 0.0
        return np.asarray([low, low + 1.0])
    rows = np.bincount(where).astype(np.float64)
    frauds = np.bincount(where, weights=labels.astype(np.float64))
    smallest = max(SMALLEST_ROWS, int(SMALLEST_SHARE * len(values)))
    cuts = _best_cuts(rows, frauds, most_cuts, smallest)
    chosen = [(distinct[k - 1] + distinct[k]) / 2 for k in cuts]
    return np.unique(np.concatenate([[distinct[0], distinct[-1]], chosen]))


def _best_cuts(rows: np.ndarray, frauds: np.ndarray, most: int, smallest: int) -> list[int]:
    """Cuts between distinct values (a cut ``k`` puts values ``k`` and above on its right),
    best first: the piece whose best cut saves the most log-loss is cut next."""
    pieces: list[tuple[float, int, int, int]] = []

    def consider(low: int, high: int) -> None:
        found = _best_cut(rows[low:high], frauds[low:high], smallest)
        if found is not None and found[0] > LEAST_GAIN:
            gain, offset = found
            heapq.heappush(pieces, (-gain, low, high, low + offset))

    cuts: list[int] = []
    consider(0, len(rows))
    while pieces and len(cuts) < most:
        _, low, high, cut = heapq.heappop(pieces)
        cuts.append(cut)
        consider(low, cut)
        consider(cut, high)
    return cuts


def _best_cut(rows: np.ndarray, frauds: np.ndarray, smallest: int) -> tuple[float, int] | None:
    """The log-loss a cut saves at its best place in one piece, and that place."""
    left_rows, left_frauds = np.cumsum(rows)[:-1], np.cumsum(frauds)[:-1]
    total_rows, total_frauds = rows.sum(), frauds.sum()
    if total_frauds == 0 or total_frauds == total_rows:
        return None
    right_rows, right_frauds = total_rows - left_rows, total_frauds - left_frauds
    allowed = (left_rows >= smallest) & (right_rows >= smallest)
    if not allowed.any():
        return None
    gain = (
        _log_loss(np.asarray([total_frauds]), np.asarray([total_rows]))[0]
        - _log_loss(left_frauds, left_rows)
        - _log_loss(right_frauds, right_rows)
    )
    gain = np.where(allowed, gain, -np.inf)
    best = int(np.argmax(gain))
    return float(gain[best]), best + 1


def _log_loss(frauds: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The labels' log-loss when each group is scored at its own fraud rate."""
    rate = np.clip(frauds / np.maximum(rows, 1.0), 1e-12, 1 - 1e-12)
    return -(frauds * np.log(rate) + (rows - frauds) * np.log1p(-rate))
