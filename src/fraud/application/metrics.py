"""The metrics the core reports when nobody collects them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class NoMetrics:
    """A ``PipelineMetrics`` that forgets everything: metrics off, and tests that ignore them."""

    def batch_handled(self, stage: str, messages: int, seconds: float) -> None:
        pass

    def dead_lettered(self, stage: str, count: int) -> None:
        pass

    def transient_failure(self, stage: str) -> None:
        pass

    def transactions_accepted(self, count: int) -> None:
        pass

    def verdicts_recorded(
        self, decisions: Mapping[str, int], latencies_ms: Sequence[float]
    ) -> None:
        pass

    def transactions_refused(self, path: str, refusals: Mapping[tuple[str, str], int]) -> None:
        pass

    def rules_hit(self, hits: Mapping[tuple[str, str], int]) -> None:
        pass

    def rules_failed(self, errors: Mapping[str, int], cut_off: Mapping[str, int]) -> None:
        pass


NO_METRICS = NoMetrics()
