"""Test doubles of our own ports (never mocks of libraries we do not own)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from fraud.domain.features import FEATURE_NAMES, FeatureVector
from fraud.domain.model import ModelInfo
from fraud.domain.policy import Thresholds
from fraud.domain.ports import Attributed, Fitted, TrainingData
from fraud.domain.ports.webhooks import SendResult


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

    Its log-odds are a sum of one term per feature it reads, so each feature's part in a
    score (measured from a typical purchase: its user's usual amount, at home, for 40) is
    exact. It records each call so tests can assert the pipeline scores a batch in one call;
    ``attributing=False`` makes it a model that cannot say why (one trained before
    attribution).
    """

    TYPICAL_AMOUNT = 40.0

    def __init__(self, version: str = "rule-model-1", *, attributing: bool = True) -> None:
        self._info = ModelInfo(
            version=version, thresholds=Thresholds(review=0.5, decline=0.9), trained_at="2025-01-01"
        )
        self.attributing = attributing
        self.calls: list[int] = []

    @property
    def info(self) -> ModelInfo:
        return self._info

    def _terms(self, vector: FeatureVector) -> dict[str, float]:
        return {
            "amount_to_typical": 1.5 * math.log(max(vector["amount_to_typical"], 1e-9)),
            "location_mismatch": 2.0 * vector["location_mismatch"],
            "amount": 0.0015 * (min(vector["amount"], 5_000.0) - self.TYPICAL_AMOUNT),
        }

    def _baseline_log_odds(self) -> float:
        return -4.0 + 0.0015 * self.TYPICAL_AMOUNT

    def score(self, features: Sequence[FeatureVector]) -> list[float]:
        self.calls.append(len(features))
        return [self._probability(vector) for vector in features]

    def _probability(self, vector: FeatureVector) -> float:
        log_odds = self._baseline_log_odds() + sum(self._terms(vector).values())
        return 1.0 / (1.0 + math.exp(-log_odds))

    def attribute(self, features: Sequence[FeatureVector]) -> Attributed | None:
        if not self.attributing:
            return None
        self.calls.append(len(features))
        attributions = []
        for vector in features:
            terms = self._terms(vector)
            attributions.append([terms.get(name, 0.0) for name in FEATURE_NAMES])
        return Attributed([self._probability(vector) for vector in features], attributions)


class RuleTrainer:
    """A trainer that learns nothing: every fit gives a transparent model (``RuleModel``),
    and the validation rows' scores it gives. Records each fit's row counts."""

    def __init__(self) -> None:
        self.fitted: list[tuple[int, int]] = []

    def fit(self, train: TrainingData, validation: TrainingData, *, epochs: int) -> Fitted:
        self.fitted.append((len(train.features), len(validation.features)))
        model = RuleModel()
        return Fitted(model, model.score(validation.features))


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


class Receiver:
    """A webhook receiver behind our ``WebhookSender`` port: it answers each send with the
    next status it was given (then 200), and keeps what it was sent."""

    def __init__(self, *statuses: int, refused: str | None = None) -> None:
        self.statuses = list(statuses)
        self.refused = refused
        self.received: list[tuple[str, bytes, dict[str, str]]] = []

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        self.received.append((url, body, dict(headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        return SendResult(status, None, 0.001)

    def refusal(self, url: str) -> str | None:
        return self.refused


class Counted:
    """``inner``, counting the calls of each method named (``calls``), passing every call on."""

    def __init__(self, inner: Any, *names: str) -> None:
        self._inner = inner
        self.calls = dict.fromkeys(names, 0)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if name not in self.calls:
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return found(*args, **kwargs)

        return counted
