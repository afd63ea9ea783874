"""A model directory: the saved Keras model, its card (version, thresholds, metrics), features."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from fraud.adapters.tensorflow.card import INFO_FILE, read_card
from fraud.adapters.tensorflow.model import KerasFraudModel, KerasScorer
from fraud.adapters.tensorflow.network import FeatureEncoder, keras
from fraud.domain.errors import ModelNotFound
from fraud.domain.features import FEATURES
from fraud.domain.model import ModelInfo
from fraud.domain.ports import Scorer

MODEL_FILE = "model.keras"
FEATURES_FILE = "features.json"
METRICS_FILE = "metrics.json"


class KerasModelStore:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def exists(self) -> bool:
        return (self.directory / MODEL_FILE).is_file() and (self.directory / INFO_FILE).is_file()

    def save(self, scorer: Scorer, info: ModelInfo) -> None:
        """Write a complete directory beside the old one, then swap, so readers never see half."""
        if not isinstance(scorer, KerasScorer):
            raise TypeError(f"KerasModelStore saves Keras models, not {type(scorer).__name__}")
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".model-", dir=self.directory.parent))
        scorer.network.save(staging / MODEL_FILE)
        _write_json(staging / INFO_FILE, info.to_dict())
        _write_json(staging / METRICS_FILE, info.metrics)
        _write_json(
            staging / FEATURES_FILE,
            [
                {
                    "name": f.name,
                    "scale": f.scale.value,
                    "description": f.description,
                    "vocabulary": list(f.vocabulary),
                }
                for f in FEATURES
            ],
        )
        retired = self.directory.with_name(self.directory.name + ".old")
        if self.directory.exists():
            shutil.rmtree(retired, ignore_errors=True)
            self.directory.rename(retired)
        staging.rename(self.directory)
        shutil.rmtree(retired, ignore_errors=True)

    def load(self) -> KerasFraudModel:
        if not self.exists():
            raise ModelNotFound(
                f"no model in {self.directory}: train one with `fraud train --model-dir "
                f"{self.directory}`"
            )
        info = read_card(self.directory)
        assert info is not None  # exists() saw the card
        expected = tuple(f.name for f in FEATURES)
        if info.feature_names != expected:
            raise ModelNotFound(
                f"the model in {self.directory} was trained on other features; retrain it"
            )
        network = keras.models.load_model(
            self.directory / MODEL_FILE, custom_objects={"FeatureEncoder": FeatureEncoder}
        )
        return KerasFraudModel(network, info)


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
