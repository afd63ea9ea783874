"""The recipe's dropout is what every member drops while it learns, first and regrown: the
rate chosen on the time splits is the rate trained with."""

from __future__ import annotations

import pytest

from fraud.domain.features import replay
from fraud.domain.ports import TrainingData
from tests.factories import txn
from tests.lazy import lazily

pytestmark = [pytest.mark.integration, pytest.mark.tensorflow]

trainer = lazily("fraud.adapters.tensorflow.trainer")
keras = lazily("fraud.adapters.tensorflow.quiet", "keras")


def small_period(rows: int) -> TrainingData:
    """Purchases of a few cards, every tenth a large one confirmed fraud."""
    purchases = [
        txn(i, user_id=f"u{i % 20}", amount=2_500.0 if i % 10 == 0 else 40.0, minutes=7 * i)
        for i in range(rows)
    ]
    return TrainingData(replay(purchases), [i % 10 == 0 for i in range(rows)])


def test_every_member_drops_the_recipes_share_of_its_units() -> None:
    recipe = trainer.Recipe(members=2, dropout=0.35, batch_size=64, final_epochs=1)
    fitted = trainer.KerasTrainer(seed=3, recipe=recipe, verbose=False).fit(
        small_period(400), small_period(100), epochs=2
    )
    members = [layer for layer in fitted.scorer.network.layers if isinstance(layer, keras.Model)]
    assert len(members) == 2
    for member in members:
        rates = [layer.rate for layer in member.layers if isinstance(layer, keras.layers.Dropout)]
        assert rates == [0.35] * len(recipe.hidden)
