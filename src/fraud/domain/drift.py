"""Drift: how far today's traffic has moved from the data the model learned from.

A model is only as good as the resemblance between what it scores and what it was trained
on. Training keeps a :class:`DriftReference` on the model's card: for every feature, and for
the score on the validation data, bins cut at the training data's quantiles and the share
of training rows in each bin. While serving, each recorded batch is counted into those bins
(a :class:`~fraud.domain.ports.drift.BinCounter`) and the counts are added into hourly
tallies, so the last day's drift is a sum of 24 small tallies and never a scan of stored
transactions. :func:`report` turns the summed counts into the population stability index
(:func:`psi`) of each feature and of the score.

Counts only mean something against the bins they were counted in: tallies recorded under
one model's reference must not be added to those of another (a retrained model has new
edges), so whoever stores them keys them by model version.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from fraud.domain.features import FEATURE_NAMES

__all__ = [
    "MIN_OBSERVED",
    "PSI_THRESHOLD",
    "SCORE",
    "Bins",
    "Drift",
    "DriftReference",
    "add_counts",
    "add_counts_into",
    "psi",
    "report",
]

SCORE = "score"
"""The name the model's score goes by beside the features, in references, counts and reports."""

PSI_THRESHOLD = 0.2
"""The PSI above which a feature or the score is reported as drifted.

The usual reading of the index, from credit scoring where it began: under 0.1 the
population is stable, 0.1 to 0.25 is a moderate shift worth watching, over 0.25 a major
shift that calls for retraining. 0.2 flags a moderate shift on its way to a major one:
fraud patterns move faster than credit populations, so we would rather hear of a shift
before the textbook alarm, while staying well above the noise of a day's traffic (see
:data:`MIN_OBSERVED`).
"""

MIN_OBSERVED = 200
"""Fewer observations than this are never reported as drifted, whatever their PSI.

PSI counted from a sample that has not drifted at all is about a chi-square over the sample
size: near (bins - 1) / n on average. Measured on 10 quantile bins of a normal feature, none
of 2000 samples of 200 undrifted values passed 0.2 (the largest gave 0.17), while more than
one sample of 100 values in a hundred did: without a minimum, the first quiet minutes after
a new model is deployed would raise false alarms.
"""

_SHARE_DIGITS = 6  # on the card: rounding there moves a PSI far less than sampling does


def _share(value: float) -> float:
    return float(f"{value:.{_SHARE_DIGITS}g}")


def _finite(values: Sequence[float]) -> Sequence[float]:
    """The values without NaN or infinities; the values themselves when they have none,
    which a finite sum proves at a fraction of the cost of looking at each."""
    if math.isfinite(sum(values)):
        return values
    return [value for value in values if -math.inf < value < math.inf]


def _first_distinct(ordered: Sequence[float], most: int) -> list[float]:
    """Up to ``most`` of the smallest distinct values of a sorted sequence, each found by
    jumping over its run of ties rather than by looking at every value."""
    found: list[float] = []
    start = 0
    while start < len(ordered) and len(found) < most:
        found.append(ordered[start])
        start = bisect_right(ordered, ordered[start], lo=start)
    return found


@dataclass(frozen=True, slots=True)
class Bins:
    """Bins over one feature's values and the reference share of each.

    ``edges`` are the interior cut points, ascending: a value ``v`` falls in bin
    ``bisect_right(edges, v)``, so a value equal to an edge opens the bin above it and
    anything below the first edge or above the last falls in the outer bins.
    ``expected`` holds one share per bin (``len(edges) + 1`` of them, summing to 1).
    """

    edges: tuple[float, ...]
    expected: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.expected) != len(self.edges) + 1:
            raise ValueError(
                f"{len(self.edges)} edges make {len(self.edges) + 1} bins, "
                f"not the {len(self.expected)} shares given"
            )
        if any(low >= high for low, high in pairwise(self.edges)):
            raise ValueError(f"bin edges must be strictly ascending: {self.edges}")
        if any(not math.isfinite(edge) for edge in self.edges):
            raise ValueError(f"bin edges must be finite numbers: {self.edges}")
        if any(not 0.0 <= share <= 1.0 for share in self.expected):
            raise ValueError(f"bin shares must lie between 0 and 1: {self.expected}")

    def __len__(self) -> int:
        return len(self.expected)

    def bin_of(self, value: float) -> int:
        """The bin ``value`` falls in: the rule every counter of these bins follows."""
        return bisect_right(self.edges, value)

    @classmethod
    def fit(cls, values: Sequence[float], bins: int = 10) -> Bins:
        """Bins that share ``values`` out as evenly as their ties allow.

        A feature with at most ``bins`` distinct values (a flag, a category, a count that
        never passes a few) gets a bin per value, however rare: a flag set on 2% of the
        training rows still gets its own bin, so PSI sees it when it is set on 20%. Other
        features are cut at the values that open each ``1/bins`` quantile, with repeated cut
        points merged, so a count that is 0 for 70% of the rows gets one bin for the zeros
        rather than seven empty ones. Every cut point is a value of the sample and every bin
        holds some of it. NaN and infinities are left out; a feature with one value left
        (or none) is one bin.
        """
        if bins < 1:
            raise ValueError(f"at least one bin is needed, not {bins}")
        ordered = sorted(_finite(values))
        if not ordered:
            return cls(edges=(), expected=(1.0,))
        few = _first_distinct(ordered, bins + 1)
        if len(few) <= bins:
            cuts = set(few)
        else:
            size = len(ordered)
            cuts = {ordered[k * size // bins] for k in range(1, bins)}
        edges = tuple(sorted(cuts - {ordered[0]}))  # a cut at the minimum leaves an empty bin
        below = [0, *(bisect_left(ordered, edge) for edge in edges), len(ordered)]
        return cls(
            edges=edges,
            expected=tuple((high - low) / len(ordered) for low, high in pairwise(below)),
        )

    def to_dict(self) -> dict[str, list[float]]:
        """Edges as they are (rounding could merge two of them), shares to six digits."""
        return {"edges": list(self.edges), "expected": [_share(s) for s in self.expected]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bins:
        return cls(
            edges=tuple(float(edge) for edge in data["edges"]),
            expected=tuple(float(share) for share in data["expected"]),
        )


@dataclass(frozen=True, slots=True)
class DriftReference:
    """What the model's training data looked like, binned: kept on the model's card.

    ``features`` maps each feature name to its bins, in the order of the model's features;
    ``score`` holds the bins of the model's scores on its validation data.
    """

    features: Mapping[str, Bins]
    score: Bins

    def all_bins(self) -> Iterator[tuple[str, Bins]]:
        """Every binned quantity by name: the features in order, then :data:`SCORE`."""
        yield from self.features.items()
        yield SCORE, self.score

    @classmethod
    def fit(
        cls,
        rows: Sequence[Sequence[float]],
        scores: Sequence[float],
        names: Sequence[str] = FEATURE_NAMES,
        bins: int = 10,
    ) -> DriftReference:
        """The reference of training rows (one value per name, in ``names`` order) and of the
        model's scores on validation data; see :meth:`Bins.fit` for how each is cut.

        It sorts each column once, in pure Python: one to two seconds for 100k rows of the
        36 features, once per training run.
        """
        if SCORE in names:
            raise ValueError(f"{SCORE!r} names the model's score and cannot name a feature")
        if not rows or not scores:
            raise ValueError("a drift reference needs training rows and validation scores")
        columns = list(zip(*rows, strict=True))
        if len(columns) != len(names):
            raise ValueError(f"rows hold {len(columns)} values, but {len(names)} names")
        return cls(
            features={
                name: Bins.fit(column, bins) for name, column in zip(names, columns, strict=True)
            },
            score=Bins.fit(scores, bins),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": {name: bins.to_dict() for name, bins in self.features.items()},
            SCORE: self.score.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReference:
        return cls(
            features={str(name): Bins.from_dict(bins) for name, bins in data["features"].items()},
            score=Bins.from_dict(data[SCORE]),
        )


def psi(expected: Sequence[float], counts: Sequence[int], floor: float = 1e-4) -> float:
    """The population stability index of observed ``counts`` against ``expected`` shares.

    The sum over bins of ``(actual - expected) * ln(actual / expected)``: zero when the
    shares agree, and each bin adds a non-negative amount. Both shares are raised to
    ``floor`` first, so a bin that is empty on either side adds a large but finite amount
    instead of an infinite one. No counts at all give 0.0: there is nothing to compare, and
    the report tells that apart by the number observed.
    """
    if len(expected) != len(counts):
        raise ValueError(f"{len(counts)} counts for {len(expected)} bins")
    total = sum(counts)
    if total <= 0:
        return 0.0
    index = 0.0
    for share, count in zip(expected, counts, strict=True):
        reference = max(share, floor)
        actual = max(count / total, floor)
        index += (actual - reference) * math.log(actual / reference)
    return index


@dataclass(frozen=True, slots=True)
class Drift:
    """One feature's (or the score's) drift over a span of traffic.

    ``observed`` is how many values were counted: 0 means no traffic, and then ``psi`` is
    0.0 and ``drifted`` false.
    """

    name: str
    psi: float
    observed: int
    drifted: bool


def report(
    reference: DriftReference,
    counts: Mapping[str, Sequence[int]],
    threshold: float = PSI_THRESHOLD,
    minimum: int = MIN_OBSERVED,
) -> list[Drift]:
    """The drift of every feature and of the score (named :data:`SCORE`, last), in the
    reference's order, from counts in its bins; a name without counts had no traffic.

    A PSI above ``threshold`` is drift once at least ``minimum`` values were observed.
    Counts in another number of bins than the reference's were counted against another
    reference, and raise ``ValueError`` rather than give a meaningless index.
    """
    drifts = []
    for name, bins in reference.all_bins():
        counted = counts.get(name) or [0] * len(bins)
        index = psi(bins.expected, counted)
        observed = sum(counted)
        drifts.append(
            Drift(
                name=name,
                psi=index,
                observed=observed,
                drifted=observed >= minimum and index > threshold,
            )
        )
    return drifts


def add_counts(
    a: Mapping[str, Sequence[int]], b: Mapping[str, Sequence[int]]
) -> dict[str, list[int]]:
    """Two tallies of bin counts added bin by bin, e.g. an hour's into a day's.

    A name in only one of them keeps its counts (a feature nobody sent in an hour); counts
    of one name in a different number of bins come from different references and raise
    ``ValueError``. Neither argument is changed.
    """
    return add_counts_into({name: list(counted) for name, counted in a.items()}, b)


def add_counts_into(
    total: dict[str, list[int]], b: Mapping[str, Sequence[int]]
) -> dict[str, list[int]]:
    """:func:`add_counts` into ``total`` itself, which is returned; ``b`` is not changed (a
    name new to ``total`` gets a copy of its counts). Counts that cannot be added raise
    before ``total`` changes."""
    for name, counted in b.items():
        kept = total.get(name)
        if kept is not None and len(kept) != len(counted):
            raise ValueError(f"{name}: {len(kept)} bins and {len(counted)} bins cannot be added")
    for name, counted in b.items():
        kept = total.setdefault(name, [0] * len(counted))
        for place, count in enumerate(counted):
            kept[place] += count
    return total
