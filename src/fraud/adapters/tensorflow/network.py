"""The Keras network, with its preprocessing inside so a saved model takes raw feature vectors.

The input is the domain's feature vector as float32 columns. ``FeatureEncoder``
log-scales heavy-tailed columns, cuts every numeric column into pieces learnt
from the training data and gives each piece's position in it (a piecewise-linear
encoding: see ``bins``), and one-hot encodes the categorical columns; the whole
thing is saved with the model, so serving cannot drift from training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fraud.adapters.tensorflow.bins import bin_edges
from fraud.adapters.tensorflow.quiet import keras
from fraud.domain.features import FEATURES, Scale

layers, ops = keras.layers, keras.ops

NUMERIC_COLUMNS = [i for i, f in enumerate(FEATURES) if f.scale is not Scale.CATEGORY]
LOG_COLUMNS = [i for i, f in enumerate(FEATURES) if f.scale is Scale.LOG]
CATEGORY_COLUMNS = [
    (i, len(f.vocabulary)) for i, f in enumerate(FEATURES) if f.scale is Scale.CATEGORY
]


def log_scaled(matrix: np.ndarray) -> np.ndarray:
    """The numeric columns as the network sees them before standardising."""
    numeric = matrix[:, NUMERIC_COLUMNS].astype(np.float64)
    log_mask = np.isin(NUMERIC_COLUMNS, LOG_COLUMNS)
    numeric[:, log_mask] = np.log1p(np.maximum(numeric[:, log_mask], 0.0))
    return numeric


@keras.saving.register_keras_serializable(package="fraud")
class FeatureEncoder(layers.Layer):
    """Raw feature vectors to what the dense layers read: each numeric column's pieces (how
    far into each piece its log-scaled value is, 0 to 1) and each category one-hot."""

    def __init__(
        self,
        edges: list[list[float]],
        numeric_columns: list[int],
        log_columns: list[int],
        category_columns: list[tuple[int, int]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.edges = [[float(v) for v in column] for column in edges]
        self.numeric_columns = [int(c) for c in numeric_columns]
        self.log_columns = [int(c) for c in log_columns]
        self.category_columns = [(int(c), int(n)) for c, n in category_columns]
        self._log_mask = np.isin(self.numeric_columns, self.log_columns).astype("float32")
        # Every piece of every column side by side: which column, where it starts, how wide.
        self._piece_column = np.concatenate(
            [[i] * (len(column) - 1) for i, column in enumerate(self.edges)]
        ).astype("int32")
        self._piece_start = np.concatenate([column[:-1] for column in self.edges]).astype("float32")
        self._piece_width = np.maximum(
            np.concatenate([np.diff(column) for column in self.edges]), 1e-6
        ).astype("float32")

    @property
    def sources(self) -> list[int]:
        """The feature each output column comes from: a numeric column's pieces, in column
        order, then each category's one-hot block."""
        sources = [self.numeric_columns[i] for i in self._piece_column]
        for column, size in self.category_columns:
            sources += [column] * size
        return sources

    def call(self, inputs: Any) -> Any:
        numeric = ops.take(inputs, self.numeric_columns, axis=1)
        logged = ops.log1p(ops.maximum(numeric, 0.0))
        numeric = self._log_mask * logged + (1.0 - self._log_mask) * numeric
        pieces = ops.take(numeric, self._piece_column, axis=1)
        parts = [ops.clip((pieces - self._piece_start) / self._piece_width, 0.0, 1.0)]
        for column, size in self.category_columns:
            codes = ops.cast(ops.clip(inputs[:, column], 0, size - 1), "int32")
            parts.append(ops.one_hot(codes, size))
        return ops.concatenate(parts, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "edges": self.edges,
            "numeric_columns": self.numeric_columns,
            "log_columns": self.log_columns,
            "category_columns": self.category_columns,
        }


def encoder_edges(train_matrix: np.ndarray, labels: np.ndarray | None) -> list[list[float]]:
    """Each numeric column's piece edges, learnt from the training rows and their labels
    (without labels, or a column that says nothing of them: one piece, the column's range)."""
    scaled = log_scaled(train_matrix)
    known = np.zeros(len(scaled)) if labels is None else np.asarray(labels, dtype=np.float64)
    return [bin_edges(scaled[:, i], known).tolist() for i in range(scaled.shape[1])]


def build_network(
    edges: list[list[float]],
    *,
    hidden: tuple[int, ...] = (128, 64),
    fraud_rate: float | None = None,
    dropout: float = 0.1,
    name: str = "fraud_mlp",
) -> keras.Model:
    """A small MLP whose encoder cuts each numeric column at ``edges`` (learnt from the
    training data by :func:`encoder_edges`).

    With ``fraud_rate`` the output starts at that rate instead of 0.5, so the
    first epochs are not spent unlearning a 50% fraud prior (the usual remedy for
    class imbalance that keeps the scores calibrated, unlike class weights).
    """
    inputs = keras.Input(shape=(len(FEATURES),), dtype="float32", name="features")
    x = FeatureEncoder(edges, NUMERIC_COLUMNS, LOG_COLUMNS, CATEGORY_COLUMNS, name="encoder")(
        inputs
    )
    for width in hidden:
        x = layers.Dense(width, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
    bias = (
        keras.initializers.Constant(float(np.log(fraud_rate / (1 - fraud_rate))))
        if fraud_rate is not None and 0 < fraud_rate < 1
        else "zeros"
    )
    outputs = layers.Dense(
        1, activation="sigmoid", name="fraud_probability", bias_initializer=bias
    )(x)
    return keras.Model(inputs, outputs, name=name)
