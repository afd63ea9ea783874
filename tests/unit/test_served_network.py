"""The network as served, with numpy: scores and attributions of a batch, and the saved file
read without TensorFlow. Networks here are made by hand (no training, no Keras); their
parity with Keras is checked on a trained model in tests/integration/test_served_network.py.
"""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from fraud.adapters.numpy import network as served
from fraud.adapters.numpy.network import (
    LARGEST_PASS,
    ROW_BLOCK,
    Dense,
    Encoder,
    Mlp,
    Network,
    served_row_block,
)
from fraud.adapters.tensorflow.keras_file import read_network
from fraud.domain.errors import ModelNotFound
from fraud.domain.features import FEATURE_NAMES, FEATURES, Scale

NUMERIC = [i for i, f in enumerate(FEATURES) if f.scale is not Scale.CATEGORY]
LOGGED = [i for i, f in enumerate(FEATURES) if f.scale is Scale.LOG]
CATEGORIES = [(i, len(f.vocabulary)) for i, f in enumerate(FEATURES) if f.scale is Scale.CATEGORY]


def rows(count: int, seed: int = 1) -> np.ndarray:
    """Feature vectors: numeric columns spread over their pieces, valid category codes."""
    rng = np.random.default_rng(seed)
    matrix = rng.gamma(1.5, 2.0, (count, len(FEATURE_NAMES))).astype(np.float32)
    for column, size in CATEGORIES:
        matrix[:, column] = rng.integers(0, size, count)
    return matrix


def encoder() -> Encoder:
    edges = [[0.0, 0.5, 1.0, 2.0, 4.0] if i % 2 else [0.0, 3.0] for i in range(len(NUMERIC))]
    return Encoder(edges, NUMERIC, LOGGED, CATEGORIES)


def mlp(
    seed: int, hidden: tuple[int, ...] = (16, 8), scale: float = 1.0, coder: Encoder | None = None
) -> Mlp:
    coder = coder or encoder()
    rng = np.random.default_rng(seed)
    widths = [coder.width, *hidden, 1]
    layers = tuple(
        Dense(scale * rng.normal(0, 0.5, (n_in, n_out)), rng.normal(0, 0.2, n_out))
        for n_in, n_out in itertools.pairwise(widths)
    )
    return Mlp(coder, layers)


ENSEMBLE = Network([mlp(1), mlp(2)])
SINGLE = Network([mlp(3)])
BASELINE = np.median(rows(500), axis=0)


@pytest.mark.parametrize("network", [ENSEMBLE, SINGLE], ids=["ensemble", "single"])
def test_a_rows_score_and_attributions_do_not_depend_on_the_rows_beside_it(
    network: Network,
) -> None:
    matrix = rows(300)
    scores, attributions = network.score_and_attribute(matrix, BASELINE)
    for size in (1, 2, 7, 63, 64, 65, 129):
        for start in range(0, len(matrix) - size + 1, 53):
            part = slice(start, start + size)
            alone_scores, alone_attributions = network.score_and_attribute(matrix[part], BASELINE)
            np.testing.assert_allclose(
                network.score(matrix[part]), scores[part], rtol=0, atol=1e-12
            )
            np.testing.assert_allclose(alone_scores, scores[part], rtol=0, atol=1e-12)
            np.testing.assert_allclose(alone_attributions, attributions[part], rtol=0, atol=1e-12)


def test_a_rows_score_is_the_same_to_the_bit_in_any_batch_and_with_either_row_block() -> None:
    """The ledger keeps a score that differs as another scoring: a redelivered row, scored
    in another batch, must score the same to the last bit, with this host's row block as
    with the 64 rows that are safe on any BLAS."""
    matrix = rows(300)
    safe = Network(ENSEMBLE.members, row_block=ROW_BLOCK)
    scores = safe.score(matrix)
    assert np.array_equal(ENSEMBLE.score(matrix), scores)
    for size in (1, 2, 3, 7, 8, 9, 16, 63, 64, 65, 129):
        for start in range(0, len(matrix) - size + 1, 61):
            part = slice(start, start + size)
            assert np.array_equal(ENSEMBLE.score(matrix[part]), scores[part]), (size, start)
            alone, _ = ENSEMBLE.score_and_attribute(matrix[part], BASELINE)
            assert np.array_equal(alone, scores[part]), (size, start)


@pytest.mark.parametrize(
    ("cores", "block"),
    [
        ({"Haswell"}, 8),
        ({"Zen"}, 8),
        ({"SkylakeX"}, ROW_BLOCK),
        ({"Haswell", "SkylakeX"}, ROW_BLOCK),
        (set(), ROW_BLOCK),  # another BLAS than OpenBLAS
    ],
)
def test_rows_are_padded_to_8_only_on_the_cores_known_to_sum_them_alike(
    monkeypatch: pytest.MonkeyPatch, cores: set[str], block: int
) -> None:
    libraries = [{"internal_api": "openblas", "architecture": core} for core in cores]
    libraries.append({"internal_api": "openmp", "architecture": None})
    monkeypatch.setattr(served, "threadpool_info", lambda: libraries)

    assert served_row_block() == block


def test_a_row_block_that_does_not_fit_the_passes_is_refused() -> None:
    with pytest.raises(ValueError, match="row block of 12"):
        Network(ENSEMBLE.members, row_block=12)


def test_a_batch_larger_than_one_pass_gives_what_its_parts_give() -> None:
    matrix = rows(LARGEST_PASS + 100)
    scores, attributions = ENSEMBLE.score_and_attribute(matrix, BASELINE)
    assert scores.shape == (len(matrix),)
    assert attributions.shape == (len(matrix), len(FEATURE_NAMES))
    assert np.array_equal(ENSEMBLE.score(matrix), scores)
    for part in (slice(0, 70), slice(LARGEST_PASS - 30, LARGEST_PASS + 100)):
        alone_scores, alone_attributions = ENSEMBLE.score_and_attribute(matrix[part], BASELINE)
        np.testing.assert_allclose(alone_scores, scores[part], rtol=0, atol=1e-12)
        np.testing.assert_allclose(alone_attributions, attributions[part], rtol=0, atol=1e-12)


@pytest.mark.parametrize("network", [ENSEMBLE, SINGLE], ids=["ensemble", "single"])
def test_attributions_add_up_to_the_log_odds_less_the_baselines(network: Network) -> None:
    """Completeness: exact as the path's points grow, whatever the ReLUs switch on the way,
    which the hand-written backward pass only gives if it is the log-odds' true gradient."""
    matrix = rows(50)
    moved = network.log_odds(matrix) - network.log_odds(BASELINE[None])[0]
    _, attributions = network.score_and_attribute(matrix, BASELINE, steps=2_048)
    np.testing.assert_allclose(
        attributions.sum(axis=1), moved, rtol=0, atol=2e-3 * np.abs(moved).max()
    )


def test_the_scores_attributed_are_the_scores_given() -> None:
    matrix = rows(100)
    scores, _ = ENSEMBLE.score_and_attribute(matrix, BASELINE)
    assert np.array_equal(scores, ENSEMBLE.score(matrix))
    assert np.all((scores > 0) & (scores < 1))


def test_members_that_encode_alike_share_one_encoding_of_a_batch(monkeypatch) -> None:
    """A trained model's members are fitted to the same pieces: a batch is encoded once for
    them, and scores the same to the bit as by each member alone. Another member's pieces
    keep their own encoding."""
    assert ENSEMBLE.members[0].encoder is ENSEMBLE.members[1].encoder
    other = Encoder([[0.0, 1.0, 8.0] for _ in NUMERIC], NUMERIC, LOGGED, CATEGORIES)
    assert encoder().encodes_as(encoder()) and not encoder().encodes_as(other)
    mixed = Network([mlp(1), mlp(8, hidden=(4,), coder=other)])
    assert mixed.members[0].encoder is not mixed.members[1].encoder
    encoded = []
    original = Encoder.encode_padded

    def counted(self, matrix, rows_):
        encoded.append(self)
        return original(self, matrix, rows_)

    monkeypatch.setattr(Encoder, "encode_padded", counted)
    matrix = rows(20)
    ENSEMBLE.score_and_attribute(matrix, BASELINE)
    ENSEMBLE.score(matrix)
    assert len(encoded) == 2  # once a call, for both members
    encoded.clear()
    mixed.score(matrix)
    assert len(encoded) == 2  # once for each encoder
    each = [Network([member]).score(matrix) for member in ENSEMBLE.members]
    assert np.array_equal(ENSEMBLE.score(matrix), np.mean(each, axis=0))


def test_an_ensemble_scores_its_members_average() -> None:
    matrix = rows(20)
    each = [Network([member]).score(matrix) for member in ENSEMBLE.members]
    np.testing.assert_allclose(ENSEMBLE.score(matrix), np.mean(each, axis=0), rtol=1e-15)


def test_a_linear_networks_attributions_are_its_weights_times_the_move() -> None:
    """No hidden layer: the log-odds are linear in the encoded columns, so one step is exact
    and each feature's part is its columns' weights times how far they moved."""
    network = Network([mlp(4, hidden=())])
    (member,) = network.members
    matrix = rows(10)
    _, attributions = network.score_and_attribute(matrix, BASELINE, steps=1)
    moved = member.encoder.encode(matrix.astype(np.float64)) - member.encoder.encode(
        BASELINE[None].astype(np.float64)
    )
    expected = (moved * member.layers[0].kernel[:, 0]) @ member.encoder.to_features
    np.testing.assert_allclose(attributions, expected, rtol=1e-12, atol=1e-12)


def test_saturated_scores_keep_exact_log_odds_and_attributions() -> None:
    """Probabilities that round to 1 (or 0) still have their log-odds: averaged with a
    log-sum-exp, never as log(p / (1 - p))."""
    network = Network([mlp(5, hidden=(), scale=60.0), mlp(6, hidden=(), scale=60.0)])
    matrix = rows(40)
    log_odds = network.log_odds(matrix)
    assert np.abs(log_odds).max() > 40  # some scores are 0.0 or 1.0 in float64
    assert np.all(np.isfinite(log_odds))
    _, attributions = network.score_and_attribute(matrix, BASELINE, steps=2_048)
    assert np.all(np.isfinite(attributions))
    moved = log_odds - network.log_odds(BASELINE[None])[0]
    np.testing.assert_allclose(attributions.sum(axis=1), moved, rtol=2e-3, atol=1e-2)


def test_a_batch_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match=f"one column per feature \\({len(FEATURE_NAMES)}\\)"):
        ENSEMBLE.score(np.zeros((3, 5)))


def test_weights_that_do_not_fit_the_layers_are_refused() -> None:
    wrong = Dense(np.zeros((3, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=f"reads {encoder().width} columns"):
        Mlp(encoder(), (wrong, Dense(np.zeros((4, 1)), np.zeros(1))))


# A saved model.keras, written here as Keras writes one (config.json, model.weights.h5).


def layer(class_name: str, name: str, source: str | None, **config: Any) -> dict[str, Any]:
    inbound = [] if source is None else [{"args": [tensor(source)], "kwargs": {}}]
    return {
        "class_name": class_name,
        "name": name,
        "config": {"name": name, **config},
        "inbound_nodes": inbound,
    }


def tensor(source: str) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [source, 0, 0]}}


def network_config(member: Mlp, name: str, activations: tuple[str, ...]) -> dict[str, Any]:
    coder = member.encoder
    edges = [[0.0, 0.5, 1.0, 2.0, 4.0] if i % 2 else [0.0, 3.0] for i in range(len(NUMERIC))]
    layers = [
        layer("InputLayer", "features", None),
        layer(
            "FeatureEncoder",
            "encoder",
            "features",
            edges=edges,
            numeric_columns=NUMERIC,
            log_columns=LOGGED,
            category_columns=[list(pair) for pair in coder.category_columns],
        ),
    ]
    before = "encoder"
    for i, (dense, activation) in enumerate(zip(member.layers, activations, strict=True)):
        layers.append(
            layer(
                "Dense",
                f"dense_{i}",
                before,
                units=dense.units,
                activation=activation,
                use_bias=True,
            )
        )
        before = f"dense_{i}"
    return {"class_name": "Functional", "config": {"name": name, "layers": layers}}


def saved(
    path: Path, members: list[Mlp], activations: tuple[str, ...] = ("relu", "relu", "sigmoid")
) -> Path:
    weights = io.BytesIO()
    with h5py.File(weights, "w") as variables:
        for m, member in enumerate(members):
            prefix = "" if len(members) == 1 else f"layers/functional{'_' + str(m) if m else ''}/"
            for i, dense in enumerate(member.layers):
                group = f"{prefix}layers/dense{'_' + str(i) if i else ''}/vars"
                variables[f"{group}/0"] = dense.kernel.astype(np.float32)
                variables[f"{group}/1"] = dense.bias.astype(np.float32)
    configs = [network_config(member, f"net_{m}", activations) for m, member in enumerate(members)]
    if len(configs) == 1:
        config = configs[0]
    else:
        for member_config in configs:
            member_config["name"] = member_config["config"]["name"]
            member_config["inbound_nodes"] = [{"args": [tensor("features")], "kwargs": {}}]
        average = layer("Average", "fraud_probability", None)
        average["inbound_nodes"] = [{"args": [[tensor(c["name"]) for c in configs]], "kwargs": {}}]
        config = {
            "class_name": "Functional",
            "config": {"layers": [layer("InputLayer", "features", None), *configs, average]},
        }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights.getvalue())
    return path


def test_a_saved_ensemble_is_read_as_it_was_written(tmp_path: Path) -> None:
    members = [mlp(7), mlp(8)]
    network = read_network(saved(tmp_path / "model.keras", members))
    matrix = rows(30)
    as_float32 = Network(
        [
            Mlp(m.encoder, tuple(Dense(_f32(d.kernel), _f32(d.bias)) for d in m.layers))
            for m in members
        ]
    )
    np.testing.assert_array_equal(network.score(matrix), as_float32.score(matrix))


def test_a_network_of_another_shape_is_refused_saying_what_was_found(tmp_path: Path) -> None:
    path = saved(tmp_path / "model.keras", [mlp(9)], activations=("relu", "tanh", "sigmoid"))
    with pytest.raises(
        ModelNotFound, match=r"expected a relu Dense layer.*found dense_1: activation 'tanh'"
    ):
        read_network(path)


def test_a_file_that_is_no_keras_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    path.write_bytes(b"not a zip")
    with pytest.raises(ModelNotFound, match="not a readable Keras model file"):
        read_network(path)


def _f32(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32).astype(np.float64)
