"""The Keras network, with its preprocessing inside so a saved model takes raw feature vectors.

The input is the domain's feature vector as float32 columns. ``FeatureEncoder``
log-scales heavy-tailed columns, standardises every numeric column with
statistics learnt from the training data, and one-hot encodes the categorical
columns; the whole thing is saved with the model, so serving cannot drift from
training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
    def __init__(
        self,
        mean: list[float],
        std: list[float],
        numeric_columns: list[int],
        log_columns: list[int],
        category_columns: list[tuple[int, int]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mean_values = [float(v) for v in mean]
        self.std_values = [float(v) for v in std]
        self.numeric_columns = [int(c) for c in numeric_columns]
        self.log_columns = [int(c) for c in log_columns]
        self.category_columns = [(int(c), int(n)) for c, n in category_columns]
        self._log_mask = np.isin(self.numeric_columns, self.log_columns).astype("float32")

    def call(self, inputs: Any) -> Any:
        numeric = ops.take(inputs, self.numeric_columns, axis=1)
        logged = ops.log1p(ops.maximum(numeric, 0.0))
        numeric = self._log_mask * logged + (1.0 - self._log_mask) * numeric
        numeric = (numeric - np.asarray(self.mean_values, "float32")) / np.asarray(
            self.std_values, "float32"
        )
        parts = [numeric]
        for column, size in self.category_columns:
            codes = ops.cast(ops.clip(inputs[:, column], 0, size - 1), "int32")
            parts.append(ops.one_hot(codes, size))
        return ops.concatenate(parts, axis=1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "mean": self.mean_values,
            "std": self.std_values,
            "numeric_columns": self.numeric_columns,
            "log_columns": self.log_columns,
            "category_columns": self.category_columns,
        }


def build_network(
    train_matrix: np.ndarray,
    *,
    hidden: tuple[int, ...] = (128, 64),
    fraud_rate: float | None = None,
    dropout: float = 0.1,
    name: str = "fraud_mlp",
) -> keras.Model:
    """A small MLP whose encoder is fitted to ``train_matrix``'s statistics.

    With ``fraud_rate`` the output starts at that rate instead of 0.5, so the
    first epochs are not spent unlearning a 50% fraud prior (the usual remedy for
    class imbalance that keeps the scores calibrated, unlike class weights).
    """
    scaled = log_scaled(train_matrix)
    mean = scaled.mean(axis=0)
    std = scaled.std(axis=0)
    std[std < 1e-6] = 1.0
    inputs = keras.Input(shape=(len(FEATURES),), dtype="float32", name="features")
    x = FeatureEncoder(
        mean.tolist(), std.tolist(), NUMERIC_COLUMNS, LOG_COLUMNS, CATEGORY_COLUMNS, name="encoder"
    )(inputs)
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
