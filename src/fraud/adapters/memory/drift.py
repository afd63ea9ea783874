"""Drift tallies in memory: per model, hour and name, the count in each bin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial

from fraud.adapters.memory.state import Staged, State
from fraud.domain.drift import add_counts


def _add(
    state: State, model_version: str, hour: datetime, counts: Mapping[str, Sequence[int]]
) -> None:
    for name, counted in counts.items():
        key = (model_version, hour, name)
        kept = state.drift.get(key)
        total = add_counts({name: kept}, {name: counted}) if kept else {name: list(counted)}
        state.drift[key] = tuple(total[name])


class InMemoryDriftLog:
    def __init__(self, staged: Staged) -> None:
        self._staged = staged

    def add(self, model_version: str, hour: datetime, counts: Mapping[str, Sequence[int]]) -> None:
        frozen = {name: tuple(counted) for name, counted in counts.items()}
        self._staged.write(partial(_add, model_version=model_version, hour=hour, counts=frozen))


class InMemoryDriftQueries:
    """The read side of drift tallies, over the committed state (``self.state``)."""

    state: State

    def drift_counts(self, model_version: str, since: datetime) -> dict[str, dict[int, int]]:
        counts: dict[str, dict[int, int]] = {}
        for (version, hour, name), counted in list(self.state.drift.items()):
            if version != model_version or hour < since:
                continue
            bins = counts.setdefault(name, {})
            for i, n in enumerate(counted):
                if n:
                    bins[i] = bins.get(i, 0) + n
        return counts
