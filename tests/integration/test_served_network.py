"""A trained model served without TensorFlow gives what Keras gives: the same scores within the
ledger's tolerance, the same attributions, read from the file as Keras lays it out; and a
process that scores never imports TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fraud.adapters.csv.labelled import write_labelled
from fraud.adapters.simulation.simulator import simulate
from fraud.domain.assessment import SCORE_TOLERANCE
from fraud.domain.errors import ModelNotFound
from fraud.domain.features import FEATURE_NAMES, BehaviourProfiles
from tests.lazy import lazily
from tests.processes import fraud_env

pytestmark = [pytest.mark.integration, pytest.mark.tensorflow]

keras = lazily("fraud.adapters.tensorflow.quiet", "keras")
tf_attribution = lazily("fraud.adapters.tensorflow.attribution")
tf_model = lazily("fraud.adapters.tensorflow.model")
tf_network = lazily("fraud.adapters.tensorflow.network")
store = lazily("fraud.adapters.tensorflow.store")
keras_file = lazily("fraud.adapters.tensorflow.keras_file")


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    """Features of simulated purchases: users with weeks of history."""
    transactions = [row.transaction for row in simulate(2_000, seed=17)]
    return tf_model.as_matrix(BehaviourProfiles().observe(transactions))


def keras_network(path: Path):
    """The saved network as Keras loads it."""
    if path.is_dir():
        path = path / store.MODEL_FILE
    return keras.models.load_model(
        path, custom_objects={"FeatureEncoder": tf_network.FeatureEncoder}
    )


def test_the_served_scores_are_keras_scores_within_the_ledgers_tolerance(
    small_model: Path, matrix: np.ndarray
) -> None:
    served = store.KerasModelStore(small_model).load()
    expected = tf_model.KerasScorer(keras_network(small_model)).score_matrix(matrix)
    np.testing.assert_allclose(served.score_matrix(matrix), expected, rtol=0, atol=SCORE_TOLERANCE)


def test_the_served_attributions_are_the_keras_attributors(
    small_model: Path, matrix: np.ndarray
) -> None:
    """Within float32's rounding: Keras computes in float32, and a ReLU unit that sits within
    a rounding of 0 at one of the path's points switches on in one and off in the other."""
    served = store.KerasModelStore(small_model).load()
    attributor = tf_attribution.Attributor(keras_network(small_model), served.info.baseline)
    scores, attributions = served.score_and_attribute(matrix)
    expected_scores, expected = attributor.score_and_attribute(matrix)
    np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=SCORE_TOLERANCE)
    np.testing.assert_allclose(attributions, expected, rtol=0, atol=1e-2)
    np.testing.assert_allclose(served.log_odds(matrix), attributor.log_odds(matrix), atol=1e-4)
    assert np.mean(np.argmax(attributions, 1) == np.argmax(expected, 1)) > 0.99


def test_a_served_rows_score_does_not_depend_on_the_rows_beside_it(
    small_model: Path, matrix: np.ndarray
) -> None:
    served = store.KerasModelStore(small_model).load()
    scores, attributions = served.score_and_attribute(matrix[:600])
    for size in (1, 5, 64, 100, 513):
        for start in range(0, 600 - size + 1, 131):
            part = slice(start, start + size)
            alone, alone_attributions = served.score_and_attribute(matrix[part])
            np.testing.assert_allclose(alone, scores[part], rtol=0, atol=1e-12)
            np.testing.assert_allclose(served.score_matrix(matrix[part]), alone, rtol=0, atol=1e-12)
            np.testing.assert_allclose(alone_attributions, attributions[part], rtol=0, atol=1e-12)


def test_the_file_is_read_as_keras_reads_it(small_model: Path, tmp_path: Path) -> None:
    """Guards the layout the reader knows (layer names in model.weights.h5, the config's
    nesting) against a Keras upgrade: every weight as Keras loads it, for an ensemble and
    for a single network."""
    network = keras_network(small_model)
    single = tf_network.build_network([[0.0, 1.0, 2.0]] * len(tf_network.NUMERIC_COLUMNS))
    single.save(tmp_path / "single.keras")
    loaded = keras_network(tmp_path / "single.keras")
    for saved, path in (
        (network, small_model / store.MODEL_FILE),
        (loaded, tmp_path / "single.keras"),
    ):
        read = keras_file.read_network(path)
        members = [layer for layer in saved.layers if isinstance(layer, keras.Model)] or [saved]
        assert len(read.members) == len(members)
        for member, mlp in zip(members, read.members, strict=True):
            dense = [layer for layer in member.layers if isinstance(layer, keras.layers.Dense)]
            assert len(mlp.layers) == len(dense)
            for layer, weights in zip(dense, mlp.layers, strict=True):
                kernel, bias = layer.get_weights()
                assert np.array_equal(weights.kernel, kernel)
                assert np.array_equal(weights.bias, bias)
            assert mlp.encoder.sources == member.get_layer("encoder").sources


def test_a_single_networks_scores_and_attributions_are_keras_too(
    tmp_path: Path, matrix: np.ndarray
) -> None:
    network = tf_network.build_network(tf_network.encoder_edges(matrix, None), hidden=(32, 16))
    network.save(tmp_path / "model.keras")
    baseline = np.median(matrix, axis=0)
    read = keras_file.read_network(tmp_path / "model.keras")
    expected_scores, expected = tf_attribution.Attributor(network, baseline).score_and_attribute(
        matrix
    )
    scores, attributions = read.score_and_attribute(matrix, baseline)
    np.testing.assert_allclose(scores, expected_scores, rtol=0, atol=SCORE_TOLERANCE)
    np.testing.assert_allclose(attributions, expected, rtol=0, atol=1e-2)


def test_a_saved_network_of_another_shape_is_refused(tmp_path: Path) -> None:
    inputs = keras.Input(shape=(len(FEATURE_NAMES),))
    plain = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    plain.save(tmp_path / "plain.keras")
    with pytest.raises(
        ModelNotFound, match=r"cannot serve: expected a network .* found InputLayer -> Dense"
    ):
        keras_file.read_network(tmp_path / "plain.keras")


def test_scoring_a_file_imports_no_tensorflow(small_model: Path, tmp_path: Path) -> None:
    """`fraud score` loads the model, scores and attributes every row, and TensorFlow is
    never imported (seconds of CPU and hundreds of MB a process)."""
    data = tmp_path / "transactions.csv"
    write_labelled(data, simulate(300, seed=4))
    arguments = ["score", "--data", str(data), "--out", str(tmp_path / "scored.csv")]
    program = (
        "import sys\n"
        "from fraud.entrypoints.cli.main import cli\n"
        "try:\n"
        f"    cli.main({[*arguments, '--model-dir', str(small_model)]!r}, standalone_mode=False)\n"
        "finally:\n"
        "    print('tensorflow imported:', 'tensorflow' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        env=fraud_env(FRAUD_DATABASE_URL=f"sqlite:///{tmp_path / 'fraud.db'}"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tensorflow imported: False" in result.stdout
    assert len((tmp_path / "scored.csv").read_text().splitlines()) == 301
