"""Why a score is what it is: integrated gradients of the network, in the call that scores.

This is the attribution of a Keras network in memory, by TensorFlow's automatic
differentiation: what benchmarks and tests of a network just trained use, and the reference
the served model's hand-written backward pass
(:meth:`fraud.adapters.numpy.network.Network.score_and_attribute`) is checked against.

The attribution of a feature is how much it moved the score's log-odds away from a
baseline of typical behaviour (the training features' per-feature median): the
gradient of the log-odds averaged along the straight path from the baseline to the
row, times how far the feature moved. The attributions of a row add up to its
log-odds less the baseline's (completeness), so they say how much of the risk each
feature brought, in the units the domain's :func:`~fraud.domain.reasons.rank` weighs.

Three choices make the numbers mean something:

* The log-odds (the final sigmoid's input) is attributed, not the probability: a
  saturated score of 0.999999 has gradients that vanish in probability but not in
  log-odds. It is rebuilt from the last Dense layer's input, never as log(p/(1-p)),
  which a saturated p turns into a rounding error.
* The path runs in the encoder's output, where merchant and device types are one-hot
  columns that can move continuously; a category's integer code has no gradient. The
  encoded columns are then summed back to the feature they came from.
* Scores, and every point of every row's path, go through one ``tf.function``: a batch
  costs one call whatever its size, like :class:`~fraud.adapters.tensorflow.model.KerasScorer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fraud.adapters.numpy.network import STEPS
from fraud.adapters.tensorflow.model import padded
from fraud.adapters.tensorflow.network import FeatureEncoder
from fraud.adapters.tensorflow.quiet import keras, tf
from fraud.domain.features import FEATURE_NAMES

__all__ = ["STEPS", "Attributor"]


@dataclass(frozen=True)
class _Mlp:
    """One network as attribution sees it: the encoder, the layers from its output to the
    last Dense layer's input, and that layer, whose output before the sigmoid is the log-odds.
    """

    encoder: FeatureEncoder
    hidden: keras.Model
    output: keras.layers.Dense
    # (encoded columns, features): 1 where an encoded column comes from a feature.
    to_features: np.ndarray

    @classmethod
    def of(cls, network: keras.Model) -> _Mlp:
        encoders = [layer for layer in network.layers if isinstance(layer, FeatureEncoder)]
        output = network.layers[-1]
        if (
            len(encoders) != 1
            or not isinstance(output, keras.layers.Dense)
            or output.units != 1
            or keras.activations.serialize(output.activation) != "sigmoid"
        ):
            raise TypeError(
                f"{network.name} is not a network build_network makes (a FeatureEncoder, "
                f"then layers ending in a one-unit sigmoid Dense layer): cannot attribute it"
            )
        (encoder,) = encoders
        return cls(
            encoder, keras.Model(encoder.output, output.input), output, _feature_map(encoder)
        )

    def log_odds(self, encoded: Any) -> Any:
        hidden = self.hidden(encoded, training=False)
        return tf.matmul(hidden, self.output.kernel)[:, 0] + self.output.bias[0]


def _feature_map(encoder: FeatureEncoder) -> np.ndarray:
    """Which feature each encoded column comes from, in the encoder's own layout (each
    numeric column's pieces, then a one-hot block per category), as saved with the model."""
    sources = encoder.sources
    to_features = np.zeros((len(sources), len(FEATURE_NAMES)), dtype=np.float32)
    to_features[np.arange(len(sources)), sources] = 1.0
    return to_features


def _mlps(network: keras.Model) -> list[_Mlp]:
    """The networks whose probability the model gives: itself, or the members an ensemble
    (:func:`~fraud.adapters.tensorflow.trainer.ensemble`) averages."""
    layers = network.layers
    if any(isinstance(layer, FeatureEncoder) for layer in layers):
        return [_Mlp.of(network)]
    members = [layer for layer in layers if isinstance(layer, keras.Model)]
    if not members or not isinstance(layers[-1], keras.layers.Average):
        raise TypeError(f"{network.name} is neither a network nor an ensemble of networks")
    return [_Mlp.of(member) for member in members]


def _averaged_log_odds(log_odds: list[Any]) -> Any:
    """The log-odds of the members' average probability, from their log-odds: log of the
    mean probability less log of the mean complement, each a log-sum-exp of log-sigmoids,
    so that it stays exact where the probabilities round to 0 or 1."""
    if len(log_odds) == 1:
        return log_odds[0]
    stacked = tf.stack(log_odds, axis=1)
    return tf.reduce_logsumexp(tf.math.log_sigmoid(stacked), axis=1) - tf.reduce_logsumexp(
        tf.math.log_sigmoid(-stacked), axis=1
    )


class Attributor:
    """Scores a batch and attributes each row's log-odds to its features, in one call.

    ``steps`` points per row sample the path from the baseline (the midpoint rule). The
    log-odds of a ReLU network bend wherever a unit switches on or off along the path, so
    the sampling error halves each time the steps double, and the cost about doubles: at 8,
    the attributions of a trained network add up to its log-odds within 0.04 on average
    (0.2 for the worst rows in a hundred) for about four times the cost of scoring alone.
    ``benchmarks/attribution_cost.py`` measures both.

    An ensemble (:func:`~fraud.adapters.tensorflow.trainer.ensemble`) is attributed as one
    model: the log-odds of its average probability.

    Every call is padded to a multiple of :data:`ROW_BLOCK`, as scoring is, so a row's
    score, and its attributions, do not depend on the rows beside it.
    """

    def __init__(self, network: keras.Model, baseline: Sequence[float], steps: int = STEPS) -> None:
        if steps < 1:
            raise ValueError(f"integrated gradients need at least one step, got {steps}")
        if len(baseline) != len(FEATURE_NAMES):
            raise ValueError(
                f"the baseline needs one value per feature, {len(FEATURE_NAMES)}, "
                f"got {len(baseline)}"
            )
        self.network = network
        self.steps = steps
        self._mlps = _mlps(network)
        self._baseline = np.array(baseline, dtype=np.float32).reshape(1, -1)
        self._points = tf.constant((np.arange(steps) + 0.5) / steps, dtype=tf.float32)
        signature = [tf.TensorSpec(shape=[None, len(FEATURE_NAMES)], dtype=tf.float32)]
        self._attribute = tf.function(
            self._score_and_attribute, input_signature=signature, reduce_retracing=True
        )
        self._attribute.get_concrete_function()  # trace now, not on the first transaction
        self._log_odds = tf.function(self._log_odds_of, input_signature=signature)

    def score_and_attribute(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's score (what :class:`~fraud.adapters.tensorflow.model.KerasScorer`
        gives) and, per feature in :data:`FEATURE_NAMES` order, how much the feature moved
        the row's log-odds away from the baseline's."""
        rows = len(matrix)
        if rows == 0:
            return np.zeros(0), np.zeros((0, len(FEATURE_NAMES)))
        scores, attributions = self._attribute(tf.convert_to_tensor(padded(matrix)))
        return (
            np.asarray(scores, dtype=np.float64)[:rows],
            np.asarray(attributions, dtype=np.float64)[:rows],
        )

    def log_odds(self, matrix: np.ndarray) -> np.ndarray:
        """The log-odds the attributions explain, row by row: a row's attributions add up to
        its log-odds less the baseline's, within the path's sampling error."""
        if len(matrix) == 0:
            return np.zeros(0)
        found = self._log_odds(tf.convert_to_tensor(padded(matrix)))
        return np.asarray(found, dtype=np.float64)[: len(matrix)]

    @property
    def baseline_log_odds(self) -> float:
        """The log-odds of typical behaviour: where every row's attributions start from."""
        return float(self.log_odds(self._baseline)[0])

    def _score_and_attribute(self, matrix: Any) -> tuple[Any, Any]:
        scores = self.network(matrix, training=False)[:, 0]
        rows = tf.shape(matrix)[0]
        # Each member's path runs straight in its own encoder's output, from the baseline's
        # encoding to the row's; what each member's columns carry adds up to what the
        # features carry, since every column comes from one feature.
        moves, paths = [], []
        for mlp in self._mlps:
            start = mlp.encoder(self._baseline)
            move = mlp.encoder(matrix) - start
            # steps x rows points, step-major: each row's path is its own rows of the batch.
            path = start[None] + self._points[:, None, None] * move[None]
            moves.append(move)
            paths.append(tf.reshape(path, [-1, move.shape[1]]))
        with tf.GradientTape() as tape:
            tape.watch(paths)
            log_odds = _averaged_log_odds(
                [mlp.log_odds(path) for mlp, path in zip(self._mlps, paths, strict=True)]
            )
        # A point's log-odds depends on that point alone: the gradient of their sum is each
        # point's own gradient.
        gradients = tape.gradient(log_odds, paths)
        attributions = tf.zeros([rows, len(FEATURE_NAMES)])
        for mlp, move, gradient in zip(self._mlps, moves, gradients, strict=True):
            mean = tf.reduce_mean(tf.reshape(gradient, [self.steps, rows, -1]), axis=0)
            attributions += tf.matmul(move * mean, mlp.to_features)
        return scores, attributions

    def _log_odds_of(self, matrix: Any) -> Any:
        return _averaged_log_odds([mlp.log_odds(mlp.encoder(matrix)) for mlp in self._mlps])
