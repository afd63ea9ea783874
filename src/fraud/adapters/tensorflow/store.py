"""A model directory: the saved Keras model, its card (version, thresholds, metrics), features.

Loading one imports no TensorFlow: the saved network is read by :mod:`keras_file` and served
with numpy (:class:`~fraud.adapters.numpy.model.NumpyFraudModel`). Only saving, which
training does with TensorFlow loaded already, needs Keras.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from fraud.adapters.numpy.model import NumpyFraudModel
from fraud.adapters.tensorflow.archive import pack, unpack
from fraud.adapters.tensorflow.card import INFO_FILE, read_card
from fraud.adapters.tensorflow.keras_file import read_network
from fraud.domain.errors import ModelNotFound, ModelTampered
from fraud.domain.features import FEATURES
from fraud.domain.model import ModelInfo
from fraud.domain.ports import Scorer

MODEL_FILE = "model.keras"
FEATURES_FILE = "features.json"
METRICS_FILE = "metrics.json"
# SHA-256 of every other file, written last at training and checked before loading.
MANIFEST_FILE = "manifest.json"
SIGNED_FILES = (MODEL_FILE, INFO_FILE, METRICS_FILE, FEATURES_FILE)
ARCHIVED_FILES = (*SIGNED_FILES, MANIFEST_FILE)  # what the registry keeps of a directory


class KerasModelStore:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def exists(self) -> bool:
        return (self.directory / MODEL_FILE).is_file() and (self.directory / INFO_FILE).is_file()

    def save(self, scorer: Scorer, info: ModelInfo) -> None:
        """Write a complete directory beside the old one, then swap, so readers never see half."""
        from fraud.adapters.tensorflow.model import KerasScorer  # training has it loaded

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
        _write_json(
            staging / MANIFEST_FILE,
            {"sha256": {name: _sha256(staging / name) for name in SIGNED_FILES}},
        )
        retired = self.directory.with_name(self.directory.name + ".old")
        if self.directory.exists():
            shutil.rmtree(retired, ignore_errors=True)
            self.directory.rename(retired)
        staging.rename(self.directory)
        shutil.rmtree(retired, ignore_errors=True)

    def load(self) -> NumpyFraudModel:
        if not self.exists():
            raise ModelNotFound(
                f"no model in {self.directory}: train one with `fraud train --model-dir "
                f"{self.directory}`"
            )
        self.verify()
        info = read_card(self.directory)
        assert info is not None  # exists() saw the card
        expected = tuple(f.name for f in FEATURES)
        if info.feature_names != expected:
            raise ModelNotFound(
                f"the model in {self.directory} was trained on other features; retrain it"
            )
        return NumpyFraudModel(read_network(self.directory / MODEL_FILE), info)

    def card(self) -> ModelInfo | None:
        return read_card(self.directory) if self.exists() else None

    def archive(self) -> bytes:
        """The manifest's files and the manifest as one zip, for the registry: checked first,
        so a tampered directory is never registered."""
        if not self.exists():
            raise ModelNotFound(f"no model in {self.directory} to register")
        self.verify()
        return pack(self.directory, ARCHIVED_FILES)

    def verify(self) -> None:
        """Refuse a directory whose files are not the ones training wrote."""
        try:
            manifest = json.loads((self.directory / MANIFEST_FILE).read_text())
            expected = dict(manifest["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            raise ModelTampered(
                f"{self.directory / MANIFEST_FILE} is missing or unreadable, so the model "
                f"cannot be checked: retrain it with `fraud train --model-dir {self.directory}`"
            ) from None
        for name in SIGNED_FILES:
            path = self.directory / name
            if name not in expected or not path.is_file() or _sha256(path) != expected[name]:
                raise ModelTampered(
                    f"{path} is not the file its training wrote (its SHA-256 differs from "
                    f"{MANIFEST_FILE}): refusing to score with it"
                )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


class KerasModelArchives:
    """Loads a registered model from its archive (its signature checked already): unpacked
    within limits into a scratch directory, checked against its manifest and loaded as from
    any model directory, then the files go (the loaded network lives in memory)."""

    def unpack(self, archive: bytes) -> NumpyFraudModel:
        with tempfile.TemporaryDirectory(prefix="fraud-model-") as scratch:
            directory = Path(scratch) / "model"
            directory.mkdir(mode=0o700)
            unpack(archive, directory, ARCHIVED_FILES)
            return KerasModelStore(directory).load()
