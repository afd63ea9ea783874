"""A trained network behind the FraudModel port, served with numpy: one pass scores a batch,
another scores and attributes it (see :mod:`fraud.adapters.numpy.network`).

Each call keeps OpenBLAS to one thread. Its second thread waits for a time slice whenever
the host's cores are busy (the worker's own Kafka threads, other workers, a database): on
a loaded 2-core host a 512 x 369 product then took 8 ms where one thread took 1 ms, and on
an idle one two threads saved a quarter of a millisecond.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import numpy as np
from threadpoolctl import ThreadpoolController

from fraud.adapters.numpy.network import STEPS, Network
from fraud.domain.features import FEATURE_NAMES, FeatureVector
from fraud.domain.model import ModelInfo
from fraud.domain.ports import Attributed


def as_matrix(features: Sequence[FeatureVector]) -> np.ndarray:
    """The vectors as float32 rows: the precision the network was trained on."""
    if not features:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    return np.asarray([vector.values for vector in features], dtype=np.float32)


class NumpyFraudModel:
    """A loaded model with its card: what the score stage serves. With a baseline on its card
    it also says which features moved each score."""

    def __init__(self, network: Network, info: ModelInfo, steps: int = STEPS) -> None:
        if steps < 1:
            raise ValueError(f"integrated gradients need at least one step, got {steps}")
        self.network = network
        self.steps = steps
        self._info = info
        self._baseline = None if info.baseline is None else _baseline(info.baseline)
        self._threads = ThreadpoolController()

    @property
    def info(self) -> ModelInfo:
        return self._info

    def score(self, features: Sequence[FeatureVector]) -> list[float]:
        return self.score_matrix(as_matrix(features)).tolist()

    def score_matrix(self, matrix: np.ndarray) -> np.ndarray:
        if len(matrix) == 0:
            return np.zeros(0)
        with self._one_thread():
            return self.network.score(matrix)

    def attribute(self, features: Sequence[FeatureVector]) -> Attributed | None:
        if self._baseline is None:
            return None
        scores, attributions = self.score_and_attribute(as_matrix(features))
        return Attributed(scores.tolist(), attributions.tolist())

    def score_and_attribute(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's score (what :meth:`score_matrix` gives) and, per feature in
        :data:`FEATURE_NAMES` order, how much it moved the row's log-odds from the baseline's.
        """
        if self._baseline is None:
            raise ValueError(f"model {self._info.version} has no baseline to attribute from")
        if len(matrix) == 0:
            return np.zeros(0), np.zeros((0, len(FEATURE_NAMES)))
        with self._one_thread():
            return self.network.score_and_attribute(matrix, self._baseline, self.steps)

    def log_odds(self, matrix: np.ndarray) -> np.ndarray:
        """The log-odds the attributions explain: a row's attributions add up to its log-odds
        less the baseline's, within the path's sampling error."""
        if len(matrix) == 0:
            return np.zeros(0)
        with self._one_thread():
            return self.network.log_odds(matrix)

    def _one_thread(self) -> AbstractContextManager[object]:
        return self._threads.limit(limits=1, user_api="blas")


def _baseline(values: Sequence[float]) -> np.ndarray:
    if len(values) != len(FEATURE_NAMES):
        raise ValueError(
            f"the baseline needs one value per feature, {len(FEATURE_NAMES)}, got {len(values)}"
        )
    return np.asarray(values, dtype=np.float32)
