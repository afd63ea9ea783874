"""Integrated gradients on real Keras networks: scores as served, attributions that add up,
and reasons ranked by what the network weighed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fraud.adapters.simulation.simulator import simulate
from fraud.domain.features import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURES,
    BehaviourProfiles,
    FeatureVector,
)
from fraud.domain.ports import TrainingData
from fraud.domain.reasons import explain, rank
from tests.factories import txn
from tests.lazy import lazily

pytestmark = [pytest.mark.integration, pytest.mark.tensorflow]

tf_attribution = lazily("fraud.adapters.tensorflow.attribution")
tf_model = lazily("fraud.adapters.tensorflow.model")
tf_network = lazily("fraud.adapters.tensorflow.network")
tf_trainer = lazily("fraud.adapters.tensorflow.trainer")
keras = lazily("fraud.adapters.tensorflow.quiet", "keras")

CARD_TESTING = "5 purchases under 5 in the last 24 hours, in a row (card testing pattern)"
NEW_DEVICE = "first purchase from a desktop device for this user"
AWAY = "away from the card holder's location"

PURCHASE = txn(device_type="desktop", amount=2.0)


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    """Features of simulated purchases: users with weeks of history."""
    transactions = [row.transaction for row in simulate(1_200, seed=5)]
    return tf_model.as_matrix(BehaviourProfiles().observe(transactions))


@pytest.fixture(scope="module")
def typical(matrix: np.ndarray) -> np.ndarray:
    """The baseline: each feature's median, which triggers no reason."""
    baseline = np.median(matrix, axis=0)
    assert explain(PURCHASE, vector(baseline)) == []
    return baseline


def edges(matrix: np.ndarray) -> list[list[float]]:
    """The encoder's pieces for these rows, without labels: one a column, its range."""
    return tf_network.encoder_edges(matrix, None)


def vector(row: np.ndarray) -> FeatureVector:
    return FeatureVector(tuple(float(value) for value in row))


def with_values(row: np.ndarray, **values: float) -> np.ndarray:
    changed = row.astype(np.float32)
    for name, value in values.items():
        changed[FEATURE_INDEX[name]] = value
    return changed


def encoded_columns(network: keras.Model, name: str) -> slice:
    """Where a feature lies in the encoder's output: a numeric feature's pieces, or a
    category's one-hot block (side by side either way)."""
    sources = network.get_layer("encoder").sources
    column = FEATURE_INDEX[name]
    at = sources.index(column)
    return slice(at, at + sources.count(column))


def linear_network(
    matrix: np.ndarray, weights: dict[str, float | list[float]], bias: float
) -> keras.Model:
    """A network from build_network whose log-odds is ``bias`` plus each weight times its
    feature's encoded value (a category: its one-hot block): the first unit of each hidden
    layer carries the sum, held above zero by an offset the output takes back, and every
    other unit is off. Integrated gradients of a linear function are exact."""
    network = tf_network.build_network(edges(matrix))
    dense = [layer for layer in network.layers if isinstance(layer, keras.layers.Dense)]
    held_open = 1_000.0
    kernels = [np.zeros(layer.kernel.shape, dtype=np.float32) for layer in dense]
    biases = [np.zeros(layer.bias.shape, dtype=np.float32) for layer in dense]
    for name, weight in weights.items():
        kernels[0][encoded_columns(network, name), 0] = weight
    biases[0][0] = held_open
    for kernel in kernels[1:]:
        kernel[0, 0] = 1.0
    biases[-1][0] = bias - held_open
    for layer, kernel, layer_bias in zip(dense, kernels, biases, strict=True):
        layer.set_weights([kernel, layer_bias])
    return network


def moved(network: keras.Model, row: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """How far each encoded column moves from the baseline to the row."""
    encoder = network.get_layer("encoder")
    rows = np.stack([row, baseline]).astype(np.float32)
    encoded = np.asarray(encoder(rows))
    return encoded[0] - encoded[1]


@pytest.mark.parametrize("members", [1, 2])
def test_scores_are_the_scorers_and_attributions_add_up_to_the_log_odds(
    matrix: np.ndarray, typical: np.ndarray, members: int
) -> None:
    keras.utils.set_random_seed(11)
    networks = [tf_network.build_network(edges(matrix), name=f"mlp_{i}") for i in range(members)]
    network = tf_trainer.ensemble(networks)
    attributor = tf_attribution.Attributor(network, typical, steps=64)
    scores, attributions = attributor.score_and_attribute(matrix)
    assert attributions.shape == (len(matrix), len(FEATURE_NAMES))
    np.testing.assert_allclose(
        scores, tf_model.KerasScorer(network).score_matrix(matrix), atol=1e-6
    )
    added = attributor.log_odds(matrix) - attributor.baseline_log_odds
    error = np.abs(attributions.sum(axis=1) - added)
    assert error.max() < 0.1
    assert error.mean() < 0.01 * max(1.0, float(np.abs(added).mean()))


def test_a_saved_ensemble_attributes_as_it_did_before_saving(
    matrix: np.ndarray, typical: np.ndarray, tmp_path: Path
) -> None:
    """What the score stage serves is a loaded model: its layers are rebuilt from the file."""
    keras.utils.set_random_seed(13)
    network = tf_trainer.ensemble(
        [tf_network.build_network(edges(matrix), name=f"mlp_{i}") for i in range(2)]
    )
    network.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(
        tmp_path / "model.keras",
        custom_objects={"FeatureEncoder": tf_network.FeatureEncoder},
    )
    before = tf_attribution.Attributor(network, typical).score_and_attribute(matrix[:64])
    after = tf_attribution.Attributor(loaded, typical).score_and_attribute(matrix[:64])
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_allclose(after[1], before[1], atol=1e-6)


def test_a_rows_attributions_do_not_depend_on_the_batch_it_came_in(
    matrix: np.ndarray, typical: np.ndarray
) -> None:
    keras.utils.set_random_seed(12)
    attributor = tf_attribution.Attributor(tf_network.build_network(edges(matrix)), typical)
    scores, attributions = attributor.score_and_attribute(matrix[:100])
    for row in (0, 37, 99):
        alone_score, alone = attributor.score_and_attribute(matrix[row : row + 1])
        assert alone_score[0] == scores[row]
        np.testing.assert_allclose(alone[0], attributions[row], atol=1e-5)


def test_a_saturated_score_still_attributes_its_log_odds(
    matrix: np.ndarray, typical: np.ndarray
) -> None:
    """At a probability that rounds to one, the probability's gradients vanish and
    log(p / (1 - p)) is infinite; the log-odds and their gradients are still there."""
    # Each piece moves 1 at most (a value beyond the training data's fills it): weights
    # large enough to saturate.
    network = linear_network(matrix, {"location_mismatch": 40.0, "amount": 20.0}, bias=-3.0)
    row = with_values(typical, location_mismatch=1, amount=20_000)
    move = moved(network, row, typical)
    expected = np.zeros(len(FEATURE_NAMES))
    for name, weight in (("location_mismatch", 40.0), ("amount", 20.0)):
        expected[FEATURE_INDEX[name]] = weight * move[encoded_columns(network, name)].sum()
    attributor = tf_attribution.Attributor(network, typical)
    scores, attributions = attributor.score_and_attribute(row[None])
    assert scores[0] == 1.0
    assert attributor.log_odds(row[None])[0] > 30
    np.testing.assert_allclose(attributions[0], expected, rtol=1e-4, atol=1e-4)


def test_a_category_is_attributed_through_its_one_hot_block(
    matrix: np.ndarray, typical: np.ndarray
) -> None:
    """An integer code has no useful gradient; its one-hot columns, moved continuously, do."""
    codes = len(FEATURES[FEATURE_INDEX["device_type"]].vocabulary)
    usual = int(typical[FEATURE_INDEX["device_type"]])
    other = (usual + 1) % codes
    block = [0.0] * codes
    block[usual], block[other] = -0.5, 1.5
    network = linear_network(matrix, {"device_type": block}, bias=0.0)
    row = with_values(typical, device_type=other)
    _, attributions = tf_attribution.Attributor(network, typical).score_and_attribute(row[None])
    expected = np.zeros(len(FEATURE_NAMES))
    expected[FEATURE_INDEX["device_type"]] = 2.0
    np.testing.assert_allclose(attributions[0], expected, atol=1e-4)


def test_the_feature_that_alone_drives_a_trained_network_gives_the_first_reason(
    matrix: np.ndarray, typical: np.ndarray
) -> None:
    """Fraud here is being away from the card holder, and nothing else: the rules would
    lead with card testing, the network's attribution leads with the location."""
    rng = np.random.default_rng(3)
    rows = matrix.copy()
    rows[:, FEATURE_INDEX["location_mismatch"]] = rng.random(len(rows)) < 0.2
    labels = rows[:, FEATURE_INDEX["location_mismatch"]] > 0
    vectors = [vector(row) for row in rows]
    split = len(rows) * 4 // 5
    trainer = tf_trainer.KerasTrainer(
        recipe=tf_trainer.Recipe(members=1, batch_size=128), verbose=False
    )
    scorer = trainer.fit(
        TrainingData(vectors[:split], labels[:split].tolist()),
        TrainingData(vectors[split:], labels[split:].tolist()),
        epochs=4,
    ).scorer
    baseline = np.median(rows, axis=0)
    suspect = with_values(baseline, location_mismatch=1, new_device=1, small_count_24h=5)
    assert explain(PURCHASE, vector(suspect)) == [CARD_TESTING, NEW_DEVICE, AWAY]

    attributor = tf_attribution.Attributor(scorer.network, baseline)
    scores, attributions = attributor.score_and_attribute(np.stack([suspect, baseline]))
    assert scores[0] > scores[1]
    assert FEATURE_NAMES[int(np.argmax(attributions[0]))] == "location_mismatch"
    ranked = rank(PURCHASE, vector(suspect), attributions[0].tolist())
    assert ranked[0].text == AWAY
    assert ranked[0].share > 0.5
    assert sum(reason.share for reason in ranked) <= 1.0


def test_a_row_whose_features_lower_the_risk_has_no_reason(
    matrix: np.ndarray, typical: np.ndarray
) -> None:
    """The rules find a new device and card testing; this network learnt both are benign."""
    network = linear_network(
        matrix, {"new_device": -2.0, "small_count_24h": -1.0, "location_mismatch": 3.0}, bias=-4
    )
    benign = with_values(typical, new_device=1, small_count_24h=5)
    assert explain(PURCHASE, vector(benign)) == [CARD_TESTING, NEW_DEVICE]
    attributor = tf_attribution.Attributor(network, typical)
    scores, attributions = attributor.score_and_attribute(benign[None])
    baseline_score, _ = attributor.score_and_attribute(typical[None])
    assert scores[0] < baseline_score[0]
    assert rank(PURCHASE, vector(benign), attributions[0].tolist()) == []


def test_an_empty_batch_gives_nothing(matrix: np.ndarray, typical: np.ndarray) -> None:
    scores, attributions = tf_attribution.Attributor(
        tf_network.build_network(edges(matrix)), typical
    ).score_and_attribute(matrix[:0])
    assert scores.shape == (0,)
    assert attributions.shape == (0, len(FEATURE_NAMES))


def test_a_network_it_cannot_read_is_refused(typical: np.ndarray) -> None:
    inputs = keras.Input(shape=(len(FEATURE_NAMES),))
    plain = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    with pytest.raises(TypeError, match="neither a network"):
        tf_attribution.Attributor(plain, typical)
