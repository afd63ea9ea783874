"""A network compiled for training has its optimizer's variables before its first step, so
TensorFlow traces the training step once, not twice, and learns exactly the same weights."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tests.lazy import lazily

pytestmark = [pytest.mark.integration, pytest.mark.tensorflow]

trainer = lazily("fraud.adapters.tensorflow.trainer")
quiet = lazily("fraud.adapters.tensorflow.quiet")


def network(seed: int = 3):
    keras = quiet.keras
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


def rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(512, 4)).astype(np.float32)
    return x, (x[:, 0] > 0.5).astype(np.float32)


def traces_of_the_step(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each function is traced from here on, by name."""
    from tensorflow.python.eager.polymorphic_function import tracing_compilation

    traced: Counter[str] = Counter()
    trace = tracing_compilation.trace_function

    def counted(args=None, kwargs=None, tracing_options=None):  # type: ignore[no-untyped-def]
        traced[getattr(tracing_options, "name", "?")] += 1
        return trace(args, kwargs, tracing_options)

    monkeypatch.setattr(tracing_compilation, "trace_function", counted)
    return traced


def test_the_optimizer_is_built_at_compile_and_the_step_traced_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keras = quiet.keras
    x, y = rows()
    built = network()
    trainer.compile_built(built, keras.optimizers.Adam(0.01))
    assert built.optimizer.built and built.optimizer.variables
    traced = traces_of_the_step(monkeypatch)

    built.fit(x, y, epochs=2, batch_size=64, shuffle=False, verbose=0)

    assert traced["one_step_on_data"] == 1


def test_the_weights_learnt_are_those_of_a_plain_compile() -> None:
    keras = quiet.keras
    x, y = rows()
    plain, built = network(), network()
    plain.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.BinaryCrossentropy(),
        steps_per_execution=trainer.STEPS_PER_EXECUTION,
    )
    trainer.compile_built(built, keras.optimizers.Adam(0.01))

    for model in (plain, built):
        model.fit(x, y, epochs=3, batch_size=64, shuffle=False, verbose=0)

    for learnt, expected in zip(built.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(learnt, expected)
