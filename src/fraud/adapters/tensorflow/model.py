"""A Keras network being trained, as a Scorer: one compiled call scores a whole batch.

Training scores with it (its validation rows, the trainer's members); a saved model is
served without TensorFlow (:class:`~fraud.adapters.numpy.model.NumpyFraudModel`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fraud.adapters.numpy.model import as_matrix
from fraud.adapters.numpy.network import ROW_BLOCK  # the served network pads alike
from fraud.adapters.tensorflow.network import keras
from fraud.adapters.tensorflow.quiet import tf
from fraud.domain.features import FEATURE_NAMES, FeatureVector

__all__ = ["ROW_BLOCK", "KerasScorer", "as_matrix", "padded"]


def padded(matrix: np.ndarray) -> np.ndarray:
    """The rows, then zero rows up to a multiple of :data:`ROW_BLOCK`: see ``KerasScorer``."""
    rows = len(matrix)
    block = np.zeros((-(-rows // ROW_BLOCK) * ROW_BLOCK, matrix.shape[1]), dtype=np.float32)
    block[:rows] = matrix
    return block


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
