"""A training set's batch size: the recipe's on large sets, enough steps an epoch on small."""

from __future__ import annotations

import pytest

from tests.lazy import lazily

pytestmark = [pytest.mark.integration, pytest.mark.tensorflow]

trainer = lazily("fraud.adapters.tensorflow.trainer")


def test_a_large_training_set_trains_in_the_recipes_batches() -> None:
    assert trainer.batch_size_for(470_000) == trainer.BATCH_SIZE


def test_a_small_one_keeps_its_steps_an_epoch_down_to_the_smallest_batch() -> None:
    assert trainer.batch_size_for(60_000) * trainer.STEPS_PER_EPOCH == 60_000
    assert trainer.batch_size_for(12_000) == trainer.SMALLEST_BATCH
    assert trainer.batch_size_for(100) == trainer.SMALLEST_BATCH


def test_a_chosen_batch_size_is_never_exceeded() -> None:
    assert trainer.batch_size_for(470_000, largest=512) == 512
    assert trainer.batch_size_for(100, largest=64) == 64
