"""Counting a recorded batch into the drift reference's bins with numpy.

The record stage counts every batch it stores, so the count has to cost little next to
storing it. A batch becomes one matrix (a row per transaction, a column per feature) and
each column is binned by one ``np.searchsorted`` and one ``np.bincount``: a few
microseconds per transaction for the 37 features, most of it spent reading the rows'
dictionaries into the matrix, against several times that for a ``bisect`` per value.

A batch of a few rows, what a worker takes at a few hundred transactions a second, is
counted with a ``bisect`` per value instead: numpy's calls cost the same for one row as for
a thousand: for one row, 38 columns of them took 0.22 ms against 0.04 for bisecting, and
the two break even near 48 rows.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from fraud.domain.drift import SCORE, Bins, DriftReference

# Up to this many rows a batch is counted value by value (see the module's doc).
FEW_ROWS = 32


class NumpyBinCounter:
    """A :class:`~fraud.domain.ports.drift.BinCounter` over numpy arrays.

    Edges are turned into arrays once per reference and kept until another reference
    comes: a model, and so its reference, changes rarely, and a batch is counted often.
    """

    def __init__(self) -> None:
        self._prepared: (
            tuple[DriftReference, list[npt.NDArray[np.float64]], list[list[float]]] | None
        ) = None

    def count(
        self,
        reference: DriftReference,
        rows: Sequence[Mapping[str, float]],
        scores: Sequence[float],
    ) -> dict[str, list[int]]:
        """Bin counts per feature and for the score; a missing or NaN value is not counted
        (a missing name reads as None, which numpy makes NaN)."""
        names = list(reference.features)
        edges, listed = self._edges(reference)
        if len(rows) <= FEW_ROWS:
            return _count_few(names, listed, rows, scores)
        matrix = np.array([list(map(row.get, names)) for row in rows], dtype=np.float64)
        matrix = matrix.reshape(len(rows), len(names))  # an empty batch still has columns
        counts = {
            name: _count(column_edges, matrix[:, place])
            for place, (name, column_edges) in enumerate(zip(names, edges[:-1], strict=True))
        }
        counts[SCORE] = _count(edges[-1], np.asarray(scores, dtype=np.float64))
        return counts

    def _edges(
        self, reference: DriftReference
    ) -> tuple[list[npt.NDArray[np.float64]], list[list[float]]]:
        """The edges of every feature, then the score's, as arrays and as lists of floats."""
        prepared = self._prepared
        if prepared is None or prepared[0] is not reference:
            arrays = [_array(bins) for _, bins in reference.all_bins()]
            prepared = (reference, arrays, [array.tolist() for array in arrays])
            self._prepared = prepared  # one assignment: safe for threads sharing the counter
        return prepared[1], prepared[2]


def _array(bins: Bins) -> npt.NDArray[np.float64]:
    return np.asarray(bins.edges, dtype=np.float64)


def _count(edges: npt.NDArray[np.float64], values: npt.NDArray[np.float64]) -> list[int]:
    """Bin ``i`` holds the values ``v`` with ``edges[i - 1] <= v < edges[i]``: the domain's
    ``bisect_right`` rule, which ``side="right"`` follows."""
    present = values[~np.isnan(values)]
    places = np.searchsorted(edges, present, side="right")
    counted: list[int] = np.bincount(places, minlength=len(edges) + 1).tolist()
    return counted


def _count_few(
    names: Sequence[str],
    edges: Sequence[Sequence[float]],
    rows: Sequence[Mapping[str, float]],
    scores: Sequence[float],
) -> dict[str, list[int]]:
    """What :meth:`NumpyBinCounter.count` gives, a ``bisect_right`` per value."""
    columns = [[row.get(name) for row in rows] for name in names]
    counts = {}
    for name, column_edges, values in zip([*names, SCORE], edges, [*columns, scores], strict=True):
        counted = [0] * (len(column_edges) + 1)
        for value in values:
            if value is not None and value == value:  # NaN is not counted
                counted[bisect_right(column_edges, value)] += 1
        counts[name] = counted
    return counts
