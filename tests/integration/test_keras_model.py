"""A real (small) Keras model: trained through the use case, saved, loaded, scoring batches."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from fraud.adapters.system.clock import SystemClock
from fraud.application.training import TrainingPlan, TrainModel
from fraud.domain.errors import ModelNotFound
from fraud.domain.features import replay
from fraud.domain.model import LabelledTransaction
from fraud.domain.transaction import Transaction
from tests.lazy import lazily

pytestmark = [pytest.mark.integration, pytest.mark.tensorflow]

store = lazily("fraud.adapters.tensorflow.store")
trainer = lazily("fraud.adapters.tensorflow.trainer")


def labelled(count: int = 2_000, seed: int = 3) -> list[LabelledTransaction]:
    """Users with steady habits; fraud is a large purchase away from home on a new device."""
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(count):
        fraud = rng.random() < 0.08
        rows.append(
            LabelledTransaction(
                Transaction.parse(
                    {
                        "transaction_id": f"k{i}",
                        "user_id": f"u{rng.randrange(60)}",
                        "amount": round(
                            rng.uniform(400, 3_000) if fraud else rng.uniform(5, 120), 2
                        ),
                        "merchant": "Gadget Hub" if fraud else f"Shop {rng.randrange(5)}",
                        "timestamp": (start + timedelta(minutes=7 * i)).isoformat(),
                        "merchant_type": "online" if fraud else "grocery",
                        "device_type": "desktop" if fraud else "mobile",
                        "location_match": 0 if fraud and rng.random() < 0.8 else 1,
                    }
                ),
                fraud,
            )
        )
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("model") / "model"
    model_store = store.KerasModelStore(directory)
    examples = labelled()
    train_model = TrainModel(trainer.KerasTrainer(verbose=False), model_store, SystemClock())
    info = train_model(examples, TrainingPlan(epochs=4))
    return model_store, info, examples


def test_training_writes_a_complete_model_directory(trained) -> None:
    store, info, _ = trained
    files = {path.name for path in store.directory.iterdir()}
    assert {"model.keras", "model.json", "metrics.json", "features.json"} <= files
    card = json.loads((store.directory / "model.json").read_text())
    assert card["version"] == info.version
    assert 0.0 <= card["thresholds"]["review"] <= card["thresholds"]["decline"] <= 1.0
    assert len(card["data_fingerprint"]) == 64


def test_the_model_learns_the_separable_pattern(trained) -> None:
    _, info, _ = trained
    assert info.metrics["average_precision"] > 0.8
    assert info.metrics["roc_auc"] > 0.9


def test_a_loaded_model_scores_a_batch_in_one_call_like_the_trained_one(trained) -> None:
    store, info, examples = trained
    model = store.load()
    assert model.info == info
    features = replay([example.transaction for example in examples[:500]])
    scores = model.score(features)
    assert len(scores) == 500
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_a_score_does_not_depend_on_the_batch_it_came_in(trained) -> None:
    """A redelivered transaction lands in another batch: it must get the very same score,
    to the last bit, or the record stage would keep a float's rounding as a second verdict."""
    store, _, examples = trained
    model = store.load()
    features = replay([example.transaction for example in examples[:1_000]])
    alone = [model.score([vector])[0] for vector in features]
    for size in (2, 7, 31, 64, 100, 257, 500, 1_000):
        for start in range(0, len(features) - size + 1, 97):
            assert model.score(features[start : start + size]) == alone[start : start + size]


def test_an_empty_batch_scores_nothing(trained) -> None:
    assert trained[0].load().score([]) == []


def test_a_missing_model_says_how_to_make_one(tmp_path) -> None:
    with pytest.raises(ModelNotFound, match="fraud train"):
        store.KerasModelStore(tmp_path / "none").load()
