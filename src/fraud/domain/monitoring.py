"""Live activity: what the pipeline decided, bucketed by time, as the dashboard draws it.

Every bucket keeps counts and fixed-bin histograms rather than the samples, so a
bucket stays a few hundred integers however busy the pipeline is, and buckets
merge into window-wide figures by adding. Percentiles come from the histograms,
interpolated inside a bin the way Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from fraud.domain.assessment import Decision

# Latency bins from 0.1 ms to 100 s, each about 26% wider than the one before,
# so an interpolated percentile is off by a few percent at most.
LATENCY_BOUNDS_MS: tuple[float, ...] = tuple(round(0.1 * 10 ** (i / 10), 6) for i in range(61))
# Score bins four to a decade from 0.0001 to 1: fraud scores crowd near zero, and the
# review and decline thresholds sit a decade or two apart, so linear bins would hide both.
SCORE_BOUNDS: tuple[float, ...] = tuple(round(10 ** (-4 + i / 4), 8) for i in range(17))
PERCENTILES = (0.50, 0.95, 0.99)
FLAGGED = (Decision.REVIEW, Decision.DECLINE)


@dataclass(frozen=True, slots=True)
class VerdictSample:
    """One recorded verdict, as much of it as the live figures need."""

    scored_at: datetime
    decision: Decision
    fraud_score: float
    latency_ms: float


class Histogram:
    """Counts of values under fixed upper bounds; the last bin is open-ended."""

    __slots__ = ("bounds", "counts")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)

    @property
    def total(self) -> int:
        return sum(self.counts)

    def add(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1

    def merge(self, other: Histogram) -> None:
        for index, count in enumerate(other.counts):
            self.counts[index] += count

    def quantile(self, q: float) -> float | None:
        """The value below which a share ``q`` of the counts fall; None when empty."""
        total = self.total
        if total == 0:
            return None
        rank = q * total
        seen = 0
        for index, count in enumerate(self.counts):
            if count and seen + count >= rank:
                if index == len(self.bounds):  # beyond the last bound: report the bound
                    return self.bounds[-1]
                lower = self.bounds[index - 1] if index else 0.0
                upper = self.bounds[index]
                return lower + (upper - lower) * (rank - seen) / count
            seen += count
        return self.bounds[-1]


@dataclass(slots=True)
class Bucket:
    """The verdicts scored within one bucket of time."""

    decisions: dict[Decision, int] = field(default_factory=lambda: dict.fromkeys(Decision, 0))
    latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BOUNDS_MS))
    scores: Histogram = field(default_factory=lambda: Histogram(SCORE_BOUNDS))

    @property
    def count(self) -> int:
        return sum(self.decisions.values())

    def add(self, sample: VerdictSample) -> None:
        self.decisions[sample.decision] += 1
        self.latency.add(sample.latency_ms)
        self.scores.add(sample.fraud_score)

    def sparse_counts(self) -> tuple[dict[int, int], dict[int, int]]:
        """The latency and score histograms as {bin: count}, without the empty bins."""
        return (
            {i: n for i, n in enumerate(self.latency.counts) if n},
            {i: n for i, n in enumerate(self.scores.counts) if n},
        )

    @classmethod
    def from_counts(
        cls,
        decisions: Mapping[Decision, int],
        latency_counts: Mapping[int, int],
        score_counts: Mapping[int, int],
    ) -> Bucket:
        """A bucket rebuilt from its decision counts and sparse histograms."""
        bucket = cls()
        bucket.decisions.update(decisions)
        for index, count in latency_counts.items():
            bucket.latency.counts[index] += count
        for index, count in score_counts.items():
            bucket.scores.counts[index] += count
        return bucket

    def merge(self, other: Bucket) -> None:
        for decision, count in other.decisions.items():
            self.decisions[decision] += count
        self.latency.merge(other.latency)
        self.scores.merge(other.scores)


def tally(samples: Iterable[VerdictSample]) -> dict[datetime, Bucket]:
    """Verdicts grouped by the whole second they were scored in.

    The record stage logs these tallies once per batch, so the dashboard reads a
    row per batch-second instead of a row per verdict.
    """
    tallies: dict[datetime, Bucket] = {}
    scored_at: datetime | None = None
    bucket = Bucket()
    for sample in samples:
        if sample.scored_at != scored_at:  # a batch is scored at one instant: rarely true
            scored_at = sample.scored_at
            second = scored_at.replace(microsecond=0)
            if second not in tallies:
                tallies[second] = Bucket()
            bucket = tallies[second]
        bucket.add(sample)
    return tallies


@dataclass(frozen=True, slots=True)
class ActivityPoint:
    """One bucket as a point on the dashboard's charts."""

    start: datetime
    decisions: dict[str, int]
    throughput: float  # verdicts per second
    flagged_rate: float | None  # share sent to review or declined; None without verdicts
    decline_rate: float | None
    latency_ms: dict[str, float | None]  # "p50", "p95", "p99"


@dataclass(frozen=True, slots=True)
class ActivitySnapshot:
    """The rolling window: a point per complete bucket and figures over the whole window."""

    bucket_seconds: int
    span_seconds: int
    points: list[ActivityPoint]
    totals: ActivityPoint  # the window as one bucket; its throughput is over the recent points
    score_counts: list[int]  # per bin of SCORE_BOUNDS: bin i holds scores up to bound i

    @property
    def scores(self) -> ScoreDistribution:
        return ScoreDistribution(SCORE_BOUNDS, self.score_counts)


@dataclass(frozen=True, slots=True)
class ScoreDistribution:
    """Scores in log-spaced bins: ``counts[i]`` up to ``upper_bounds[i]``, the last bin open."""

    upper_bounds: tuple[float, ...]
    counts: list[int]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _point(start: datetime, bucket: Bucket, seconds: float) -> ActivityPoint:
    count = bucket.count
    return ActivityPoint(
        start=start,
        decisions={decision.value: n for decision, n in bucket.decisions.items()},
        throughput=count / seconds if seconds > 0 else 0.0,
        flagged_rate=_rate(sum(bucket.decisions[d] for d in FLAGGED), count),
        decline_rate=_rate(bucket.decisions[Decision.DECLINE], count),
        latency_ms={f"p{round(q * 100)}": bucket.latency.quantile(q) for q in PERCENTILES},
    )


class ActivityWindow:
    """Buckets of the last ``span_seconds`` of verdicts, keyed by their start in epoch seconds.

    Tallies are committed a little after their verdicts were scored, so the owner
    re-reads recent tallies and calls :meth:`rebuild_from` with them: buckets from
    that instant on are replaced, never double-counted.
    """

    def __init__(self, bucket_seconds: int = 2, span_seconds: int = 300) -> None:
        if bucket_seconds <= 0 or span_seconds < bucket_seconds:
            raise ValueError("the span must hold at least one bucket of a positive length")
        self.bucket_seconds = bucket_seconds
        self.span_seconds = span_seconds
        self._buckets: dict[int, Bucket] = {}

    def bucket_start(self, instant: datetime) -> datetime:
        """The start of the bucket ``instant`` falls in."""
        return datetime.fromtimestamp(self._key(instant), UTC)

    def _key(self, instant: datetime) -> int:
        seconds = math.floor(instant.timestamp())
        return seconds - seconds % self.bucket_seconds

    def rebuild_from(self, start: datetime, tallies: Iterable[tuple[datetime, Bucket]]) -> None:
        """Replace every bucket from the one holding ``start`` on with ``tallies``
        (every per-second tally logged since that bucket began)."""
        first = self._key(start)
        for key in [key for key in self._buckets if key >= first]:
            del self._buckets[key]
        for second, tallied in tallies:
            key = self._key(second)
            if key >= first:
                self._buckets.setdefault(key, Bucket()).merge(tallied)

    def snapshot(self, now: datetime, recent_seconds: int = 10) -> ActivitySnapshot:
        """Points for the complete buckets of the span before ``now`` (empty ones too);
        throughput in the totals is over the last ``recent_seconds`` of them."""
        current = self._key(now)
        first = current - self.span_seconds
        for key in [key for key in self._buckets if key < first]:
            del self._buckets[key]
        keys = range(first, current, self.bucket_seconds)
        points = []
        window = Bucket()
        recent = 0
        for key in keys:
            bucket = self._buckets.get(key) or Bucket()
            points.append(_point(datetime.fromtimestamp(key, UTC), bucket, self.bucket_seconds))
            window.merge(bucket)
            if key >= current - recent_seconds:
                recent += bucket.count
        totals = replace(
            _point(datetime.fromtimestamp(first, UTC), window, self.span_seconds),
            throughput=recent / min(recent_seconds, self.span_seconds),
        )
        return ActivitySnapshot(
            bucket_seconds=self.bucket_seconds,
            span_seconds=self.span_seconds,
            points=points,
            totals=totals,
            score_counts=window.scores.counts[: len(SCORE_BOUNDS)],
        )
