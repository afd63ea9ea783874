"""Drift monitoring: the reference bins, PSI, the report, and the numpy bin counter."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence

import pytest

from fraud.adapters.numpy.drift import FEW_ROWS, NumpyBinCounter
from fraud.domain.drift import (
    MIN_OBSERVED,
    PSI_THRESHOLD,
    SCORE,
    Bins,
    DriftReference,
    add_counts,
    psi,
    report,
)
from fraud.domain.features import FEATURE_NAMES
from fraud.domain.ports.drift import BinCounter


def bisect_count(
    reference: DriftReference, rows: Sequence[Mapping[str, float]], scores: Sequence[float]
) -> dict[str, list[int]]:
    """The counts a value at a time, by the domain's own rule: what a counter must match."""
    counts = {name: [0] * len(bins) for name, bins in reference.all_bins()}
    for name, bins in reference.features.items():
        for row in rows:
            value = row.get(name)
            if value is not None and not math.isnan(value):
                counts[name][bins.bin_of(value)] += 1
    for score in scores:
        if not math.isnan(score):
            counts[SCORE][reference.score.bin_of(score)] += 1
    return counts


def normal_rows(rng: random.Random, size: int, means: Sequence[float]) -> list[list[float]]:
    return [[rng.gauss(mean, 1.0) for mean in means] for _ in range(size)]


# Bins.fit


def test_distinct_values_are_cut_at_each_tenth() -> None:
    values = [float(v) for v in range(100)]
    random.Random(1).shuffle(values)

    bins = Bins.fit(values, bins=10)

    assert bins.edges == (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)
    assert bins.expected == pytest.approx([0.1] * 10)


def test_repeated_cut_points_merge_into_one_bin() -> None:
    # 70% zeros, then 1..300: the first seven tenths all start at 0.
    values = [0.0] * 700 + [float(v) for v in range(1, 301)]

    bins = Bins.fit(values, bins=10)

    assert bins.edges == (1.0, 101.0, 201.0)
    assert bins.expected == pytest.approx([0.7, 0.1, 0.1, 0.1])


def test_a_rare_flag_still_gets_two_bins() -> None:
    bins = Bins.fit([0.0] * 98 + [1.0] * 2)

    assert bins.edges == (1.0,)
    assert bins.expected == pytest.approx([0.98, 0.02])
    assert (bins.bin_of(0.0), bins.bin_of(1.0)) == (0, 1)


def test_a_feature_with_few_values_gets_a_bin_per_value() -> None:
    bins = Bins.fit([0.0] * 50 + [1.0] * 30 + [2.0] * 15 + [7.0] * 5)

    assert bins.edges == (1.0, 2.0, 7.0)
    assert bins.expected == pytest.approx([0.5, 0.3, 0.15, 0.05])


@pytest.mark.parametrize(
    "values", [[3.5] * 40, [], [math.nan, math.nan], [math.inf, 2.0, -math.inf]]
)
def test_a_constant_or_empty_feature_is_one_bin(values: list[float]) -> None:
    assert Bins.fit(values) == Bins(edges=(), expected=(1.0,))


def test_nan_and_infinities_are_left_out_of_the_shares() -> None:
    bins = Bins.fit([0.0, 1.0, math.nan, 1.0, math.inf, 0.0])

    assert bins.edges == (1.0,)
    assert bins.expected == pytest.approx([0.5, 0.5])


def test_bins_refuse_shares_that_do_not_match_their_edges() -> None:
    with pytest.raises(ValueError, match="2 bins"):
        Bins(edges=(1.0,), expected=(1.0,))
    with pytest.raises(ValueError, match="ascending"):
        Bins(edges=(2.0, 1.0), expected=(0.3, 0.3, 0.4))


# DriftReference


def test_the_reference_bins_every_feature_in_order_and_the_score() -> None:
    rng = random.Random(2)
    rows = [[rng.gauss(0, 1) for _ in FEATURE_NAMES] for _ in range(500)]

    reference = DriftReference.fit(rows, [rng.random() for _ in range(200)])

    assert tuple(reference.features) == FEATURE_NAMES
    assert [name for name, _ in reference.all_bins()] == [*FEATURE_NAMES, SCORE]
    assert all(len(bins) == 10 for _, bins in reference.all_bins())


def test_the_reference_refuses_rows_that_do_not_match_the_names() -> None:
    with pytest.raises(ValueError, match="3 values, but 2 names"):
        DriftReference.fit([[1.0, 2.0, 3.0]], [0.5], names=("a", "b"))
    with pytest.raises(ValueError, match="cannot name a feature"):
        DriftReference.fit([[1.0]], [0.5], names=(SCORE,))
    with pytest.raises(ValueError, match="needs training rows"):
        DriftReference.fit([], [0.5], names=("a",))


def test_the_reference_survives_json_with_its_shares_rounded() -> None:
    rng = random.Random(3)
    rows = [[rng.lognormvariate(3, 1), float(rng.random() < 0.03)] for _ in range(3000)]
    reference = DriftReference.fit(rows, [rng.random() for _ in range(1000)], names=("x", "f"))

    restored = DriftReference.from_dict(json.loads(json.dumps(reference.to_dict())))

    assert list(restored.features) == ["x", "f"]
    for (name, bins), (same_name, same) in zip(
        reference.all_bins(), restored.all_bins(), strict=True
    ):
        assert name == same_name
        assert same.edges == bins.edges
        assert same.expected == pytest.approx(bins.expected, rel=1e-5)
    assert all(len(repr(share)) <= 12 for share in restored.features["x"].expected)


# psi


def test_psi_of_identical_shares_is_zero() -> None:
    assert psi([0.25, 0.25, 0.5], [100, 100, 200]) == pytest.approx(0.0, abs=1e-12)


def test_psi_grows_with_the_shift_and_stays_finite_for_empty_bins() -> None:
    small = psi([0.5, 0.5], [55, 45])
    large = psi([0.5, 0.5], [90, 10])
    empty = psi([0.5, 0.5], [100, 0])

    assert 0 < small < large < empty < math.inf


def test_psi_without_traffic_is_zero() -> None:
    assert psi([0.5, 0.5], [0, 0]) == 0.0


def test_psi_refuses_counts_of_other_bins() -> None:
    with pytest.raises(ValueError, match="3 counts for 2 bins"):
        psi([0.5, 0.5], [1, 2, 3])


def test_a_feature_shifted_by_one_deviation_drifts_and_a_steady_one_does_not() -> None:
    rng = random.Random(4)
    reference = DriftReference.fit(
        normal_rows(rng, 20_000, [0.0, 0.0]),
        [rng.random() for _ in range(5_000)],
        names=("shifted", "steady"),
    )
    live = [
        {"shifted": shifted, "steady": steady}
        for shifted, steady in normal_rows(rng, 5_000, [1.0, 0.0])
    ]

    drifts = {
        drift.name: drift
        for drift in report(reference, bisect_count(reference, live, [rng.random() for _ in live]))
    }

    assert drifts["shifted"].psi > PSI_THRESHOLD
    assert drifts["shifted"].drifted
    assert drifts["steady"].psi < 0.1
    assert not drifts["steady"].drifted
    assert drifts["steady"].observed == 5_000


# report and add_counts


TWO_FEATURES = DriftReference(
    features={
        "amount": Bins(edges=(10.0,), expected=(0.5, 0.5)),
        "new_device": Bins(edges=(1.0,), expected=(0.9, 0.1)),
    },
    score=Bins(edges=(0.1, 0.5), expected=(0.8, 0.15, 0.05)),
)


def test_the_report_marks_what_drifted_with_the_score_last() -> None:
    counts = {"amount": [500, 500], "new_device": [500, 500], SCORE: [800, 150, 50]}

    drifts = report(TWO_FEATURES, counts)

    assert [(d.name, d.drifted, d.observed) for d in drifts] == [
        ("amount", False, 1000),
        ("new_device", True, 1000),
        (SCORE, False, 1000),
    ]
    assert drifts[1].psi == pytest.approx(psi([0.9, 0.1], [500, 500]))


def test_the_report_says_no_traffic_rather_than_no_drift() -> None:
    drifts = report(TWO_FEATURES, {"amount": [0, 0]})

    assert all(d.observed == 0 and d.psi == 0.0 and not d.drifted for d in drifts)


def test_too_few_observations_are_never_drift() -> None:
    few = MIN_OBSERVED - 1
    drifts = report(TWO_FEATURES, {"new_device": [0, few]})

    assert drifts[1].psi > PSI_THRESHOLD
    assert not drifts[1].drifted


def test_counts_of_another_reference_are_refused() -> None:
    with pytest.raises(ValueError):
        report(TWO_FEATURES, {"amount": [1, 2, 3]})


def test_tallies_add_bin_by_bin_and_keep_names_only_one_has() -> None:
    hour = {"amount": [1, 2], SCORE: [1, 0, 0]}
    next_hour = {"amount": [3, 4], "new_device": [5, 0]}

    day = add_counts(hour, next_hour)

    assert day == {"amount": [4, 6], SCORE: [1, 0, 0], "new_device": [5, 0]}
    assert hour == {"amount": [1, 2], SCORE: [1, 0, 0]}
    with pytest.raises(ValueError, match="amount"):
        add_counts(hour, {"amount": [1, 2, 3]})


# NumpyBinCounter


def test_the_numpy_counter_matches_a_count_value_by_value() -> None:
    rng = random.Random(5)
    training = [
        [float(rng.random() < 0.1), float(rng.randrange(4)), rng.gauss(0, 1)] for _ in range(2000)
    ]
    names = ("flag", "category", "gauss")
    reference = DriftReference.fit(training, [rng.random() for _ in range(500)], names=names)
    edges = reference.features["gauss"].edges

    def value(name: str) -> float:
        roll = rng.random()
        if roll < 0.05:
            return math.nan
        if name == "gauss" and roll < 0.15:  # on an edge: the bin above, as bisect_right says
            return rng.choice(edges)
        if name == "gauss" and roll < 0.17:
            return rng.choice([math.inf, -math.inf])
        return {"flag": float(rng.random() < 0.3), "category": float(rng.randrange(5))}.get(
            name, rng.gauss(0.5, 2)
        )

    rows = [{name: value(name) for name in names if rng.random() > 0.1} for _ in range(1000)]
    scores = [math.nan if rng.random() < 0.05 else rng.random() for _ in range(1000)]
    counter: BinCounter = NumpyBinCounter()

    counted = counter.count(reference, rows, scores)

    assert counted == bisect_count(reference, rows, scores)
    assert counter.count(reference, rows, scores) == counted  # the second batch, on cached edges
    # A batch of a few rows takes the value-by-value path, a larger one numpy's.
    for size in (1, 2, 5, FEW_ROWS, FEW_ROWS + 1):
        for start in range(0, 1000 - size, 97):
            batch, its_scores = rows[start : start + size], scores[start : start + size]
            assert counter.count(reference, batch, its_scores) == bisect_count(
                reference, batch, its_scores
            )


def test_the_numpy_counter_counts_an_empty_batch_as_zeros() -> None:
    counted = NumpyBinCounter().count(TWO_FEATURES, [], [])

    assert counted == {"amount": [0, 0], "new_device": [0, 0], SCORE: [0, 0, 0]}
