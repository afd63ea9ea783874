"""The time, and what the core observes about its own work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, time-zone aware."""


class PipelineMetrics(Protocol):
    """What the core observes about its own work, reported once per batch, never per message."""

    def batch_handled(self, stage: str, messages: int, seconds: float) -> None:
        """A stage handled, published and committed a batch of ``messages``."""

    def dead_lettered(self, stage: str, count: int) -> None:
        """A stage sent ``count`` messages it could not handle to the dead-letter topic."""

    def transient_failure(self, stage: str) -> None:
        """A stage met a transient failure and will retry."""

    def transactions_accepted(self, count: int) -> None:
        """New transactions were accepted from clients and published."""

    def verdicts_recorded(
        self, decisions: Mapping[str, int], latencies_ms: Sequence[float]
    ) -> None:
        """Verdicts stored in one batch: how many per decision, and their end-to-end latencies."""

    def transactions_refused(self, path: str, refusals: Mapping[tuple[str, str], int]) -> None:
        """Transactions refused for breaking the contract, per (field, rule) broken (from the
        fixed sets of ``domain.refusals``), on the ``api`` (a 422) or the ``topic`` path (a
        dead letter)."""

    def rules_hit(self, hits: Mapping[tuple[str, str], int]) -> None:
        """Analysts' rules that hit transactions of one batch: how many, per rule and mode."""

    def rules_failed(self, errors: Mapping[str, int], cut_off: Mapping[str, int]) -> None:
        """Analysts' rules that could not be evaluated on transactions of one batch, per rule:
        how many raised an error, and how many the evaluation budget cut them off from."""
