"""Drift monitoring: counting a batch of served traffic into the model's reference bins, and
keeping the counts as hourly tallies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from fraud.domain.drift import DriftReference


class BinCounter(Protocol):
    """Counts what the record stage stores into the bins of a :class:`DriftReference`.

    It runs on every recorded batch, so it is a port: the domain defines which bin a value
    falls in (:meth:`~fraud.domain.drift.Bins.bin_of`), an adapter makes counting a batch
    cheap.
    """

    def count(
        self,
        reference: DriftReference,
        rows: Sequence[Mapping[str, float]],
        scores: Sequence[float],
    ) -> dict[str, list[int]]:
        """Per feature of ``reference`` and for the score (``"score"``), how many of the
        batch's values fall in each bin. ``rows`` are the recorded features by name; a
        feature missing from a row, or NaN there, is not counted for that row, so counts of
        different features may add up to different totals."""


class DriftLog(Protocol):
    """Hourly tallies of the bins served traffic fell in, per model: the write side, in a
    unit of work."""

    def add(self, model_version: str, hour: datetime, counts: Mapping[str, Sequence[int]]) -> None:
        """Add ``counts`` (per name, per bin) to the model's tally of that hour."""


class DriftQueries(Protocol):
    def drift_counts(self, model_version: str, since: datetime) -> dict[str, dict[int, int]]:
        """The model's tallies of the hours from ``since`` on, summed: per name, per bin."""
