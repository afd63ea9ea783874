"""Test doubles of our own ports (never mocks of libraries we do not own)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from fraud.domain.features import FeatureVector
from fraud.domain.model import ModelInfo
from fraud.domain.policy import Thresholds


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2025, 1, 1, 12, tzinfo=UTC)) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class RuleModel:
    """A transparent model: big amounts relative to habit and away-from-home push the score up.

    It records each call so tests can assert the pipeline scores a batch in one call.
    """

    def __init__(self, version: str = "rule-model-1") -> None:
        self._info = ModelInfo(
            version=version, thresholds=Thresholds(review=0.5, decline=0.9), trained_at="2025-01-01"
        )
        self.calls: list[int] = []

    @property
    def info(self) -> ModelInfo:
        return self._info

    def score(self, features: Sequence[FeatureVector]) -> list[float]:
        self.calls.append(len(features))
        scores = []
        for vector in features:
            logit = (
                -4.0
                + 1.5 * math.log(max(vector["amount_to_typical"], 1e-9))
                + 2.0 * vector["location_mismatch"]
                + 0.0015 * min(vector["amount"], 5_000.0)
            )
            scores.append(1.0 / (1.0 + math.exp(-logit)))
        return scores


class RuleModelArchives:
    """The ``ModelArchives`` port for rule models: an archive is the model's version."""

    def __init__(self) -> None:
        self.unpacked: list[str] = []

    @staticmethod
    def pack(model: RuleModel) -> bytes:
        return model.info.version.encode()

    def unpack(self, archive: bytes) -> RuleModel:
        self.unpacked.append(archive.decode())
        return RuleModel(archive.decode())
