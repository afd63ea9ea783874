"""A trained Keras network behind the FraudModel port: one compiled call scores a whole batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from fraud.adapters.tensorflow.network import keras
from fraud.adapters.tensorflow.quiet import tf
from fraud.domain.features import FEATURE_NAMES, FeatureVector
from fraud.domain.model import ModelInfo
from fraud.domain.ports import Attributed

# Every call scores a multiple of this many rows (padding with zeros), see ``KerasScorer``.
ROW_BLOCK = 64


def padded(matrix: np.ndarray) -> np.ndarray:
    """The rows, then zero rows up to a multiple of :data:`ROW_BLOCK`: see ``KerasScorer``."""
    rows = len(matrix)
    block = np.zeros((-(-rows // ROW_BLOCK) * ROW_BLOCK, matrix.shape[1]), dtype=np.float32)
    block[:rows] = matrix
    return block


def as_matrix(features: Sequence[FeatureVector]) -> np.ndarray:
    if not features:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    return np.asarray([vector.values for vector in features], dtype=np.float32)


class KerasScorer:
    """Scores batches with a ``tf.function`` traced once for any batch size.

    ``model.predict`` costs tens of milliseconds per call whatever the batch;
    the compiled function costs well under a millisecond for hundreds of rows.

    A row's score should not depend on the rows beside it: a redelivered transaction
    comes back in another batch. The CPU kernels handle a batch whose row count is not a
    multiple of their block, or a very small one, along another path that rounds
    differently, so every call is padded to a multiple of :data:`ROW_BLOCK` (padding 500
    rows to 512 costs nothing measurable). Some kernels still sum a row in another order at
    another place in the block, a float32 bit or two; the ledger takes scores that close for
    the same scoring (``SCORE_TOLERANCE``), so such a repeat is never a second verdict.
    """

    def __init__(self, network: keras.Model) -> None:
        self.network = network
        self._predict = tf.function(
            lambda x: self.network(x, training=False),
            input_signature=[tf.TensorSpec(shape=[None, len(FEATURE_NAMES)], dtype=tf.float32)],
            reduce_retracing=True,
        )
        self._predict.get_concrete_function()  # trace now, not on the first transaction

    def score(self, features: Sequence[FeatureVector]) -> list[float]:
        return self.score_matrix(as_matrix(features)).tolist()

    def score_matrix(self, matrix: np.ndarray) -> np.ndarray:
        rows = len(matrix)
        if rows == 0:
            return np.zeros(0, dtype=np.float64)
        output = self._predict(tf.convert_to_tensor(padded(matrix)))
        return np.asarray(output, dtype=np.float64).reshape(-1)[:rows]


class KerasFraudModel(KerasScorer):
    """A loaded model with its card: what the score stage serves. With an ``attributor``
    (its card has a baseline) it also says which features moved each score."""

    def __init__(
        self, network: keras.Model, info: ModelInfo, attributor: Attributing | None = None
    ) -> None:
        super().__init__(network)
        self._info = info
        self._attributor = attributor

    @property
    def info(self) -> ModelInfo:
        return self._info

    def attribute(self, features: Sequence[FeatureVector]) -> Attributed | None:
        if self._attributor is None:
            return None
        scores, attributions = self._attributor.score_and_attribute(as_matrix(features))
        return Attributed(scores.tolist(), attributions.tolist())


class Attributing(Protocol):
    def score_and_attribute(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
