"""The live activity window and the pipeline health figures, on in-memory adapters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.memory.repository import InMemoryStore
from fraud.application.monitoring import ActivityMonitor, PipelineWatch, pipeline_health
from fraud.application.stream.pipeline import StagesElsewhere
from fraud.application.stream.record import RecordStage
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.monitoring import (
    LATENCY_BOUNDS_MS,
    SCORE_BOUNDS,
    ActivityWindow,
    Histogram,
    VerdictSample,
    tally,
)
from fraud.domain.ports import OutgoingMessage, Topic
from tests.factories import ENVELOPES, consumed, txn
from tests.fakes import FixedClock

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def sample(
    seconds: float,
    decision: Decision = Decision.APPROVE,
    *,
    score: float = 0.001,
    latency_ms: float = 5.0,
) -> VerdictSample:
    return VerdictSample(T0 + timedelta(seconds=seconds), decision, score, latency_ms)


def tallied(samples: list[VerdictSample]):
    return tally(samples).items()


def test_a_histogram_interpolates_percentiles_inside_a_bin() -> None:
    histogram = Histogram([10.0, 20.0, 40.0])
    for value in [5.0] * 50 + [15.0] * 40 + [30.0] * 10:
        histogram.add(value)
    assert histogram.quantile(0.5) == pytest.approx(10.0)
    assert histogram.quantile(0.7) == pytest.approx(15.0)
    assert histogram.quantile(0.95) == pytest.approx(30.0)
    assert Histogram([1.0]).quantile(0.5) is None


def test_latency_percentiles_stay_within_a_bin_of_the_truth() -> None:
    window = ActivityWindow(bucket_seconds=2, span_seconds=60)
    latencies = [1.0 + i * 0.1 for i in range(1000)]  # 1 ms .. 100.9 ms, evenly
    window.rebuild_from(T0, tallied([sample(1, latency_ms=ms) for ms in latencies]))
    totals = window.snapshot(T0 + timedelta(seconds=10)).totals
    for name, exact in (("p50", 50.95), ("p95", 95.95), ("p99", 99.95)):
        assert totals.latency_ms[name] == pytest.approx(exact, rel=0.1)
    assert LATENCY_BOUNDS_MS[0] == 0.1 and LATENCY_BOUNDS_MS[-1] == 100_000


def test_a_snapshot_has_a_point_per_complete_bucket_with_rates_and_throughput() -> None:
    window = ActivityWindow(bucket_seconds=2, span_seconds=10)
    window.rebuild_from(
        T0,
        tallied(
            [
                sample(0.5),
                sample(1.5, Decision.REVIEW),
                sample(2.1),
                sample(3.9, Decision.DECLINE),
                sample(9.0),  # in the bucket still filling at T0+9.5: left out of the points
            ]
        ),
    )
    snapshot = window.snapshot(T0 + timedelta(seconds=9.5))
    assert [p.start for p in snapshot.points] == [
        T0 + timedelta(seconds=s) for s in (-2, 0, 2, 4, 6)
    ]
    empty, first, second = snapshot.points[:3]
    assert empty.decisions == {"approve": 0, "review": 0, "decline": 0}
    assert empty.flagged_rate is None and empty.latency_ms["p50"] is None
    assert first.decisions == {"approve": 1, "review": 1, "decline": 0}
    assert first.throughput == 1.0
    assert first.flagged_rate == 0.5 and first.decline_rate == 0.0
    assert second.decline_rate == 0.5
    assert snapshot.totals.decisions == {"approve": 2, "review": 1, "decline": 1}


def test_rebuilding_from_an_instant_replaces_those_buckets_instead_of_adding() -> None:
    window = ActivityWindow(bucket_seconds=2, span_seconds=10)
    window.rebuild_from(T0, tallied([sample(0.5), sample(2.5)]))
    window.rebuild_from(T0 + timedelta(seconds=2), tallied([sample(2.5), sample(3.0)]))
    totals = window.snapshot(T0 + timedelta(seconds=6)).totals
    assert totals.decisions["approve"] == 3


def test_buckets_older_than_the_span_drop_out() -> None:
    window = ActivityWindow(bucket_seconds=2, span_seconds=10)
    window.rebuild_from(T0, tallied([sample(0.5), sample(1.0)]))
    assert window.snapshot(T0 + timedelta(seconds=4)).totals.decisions["approve"] == 2
    assert window.snapshot(T0 + timedelta(seconds=30)).totals.decisions["approve"] == 0


def test_scores_fall_in_log_spaced_bins_up_to_one() -> None:
    window = ActivityWindow(bucket_seconds=2, span_seconds=10)
    scores = [0.00001, 0.0001, 0.0002, 0.05, 0.999, 1.0]
    window.rebuild_from(T0, tallied([sample(0.5, score=score) for score in scores]))
    counts = window.snapshot(T0 + timedelta(seconds=4)).score_counts
    assert len(counts) == len(SCORE_BOUNDS) and SCORE_BOUNDS[-1] == 1.0
    assert counts[0] == 2  # up to 0.0001
    assert counts[2] == 1  # (0.000178, 0.000316]
    assert counts[SCORE_BOUNDS.index(0.05623413)] == 1
    assert counts[-1] == 2
    assert sum(counts) == len(scores)


def scored_record(n: int, scored_at: datetime, decision: Decision) -> TransactionRecord:
    transaction = txn(n)
    return TransactionRecord(
        transaction=transaction,
        received_at=scored_at - timedelta(milliseconds=4),
        status=Status.SCORED,
        assessment=Assessment(
            transaction_id=transaction.transaction_id,
            fraud_score=0.95 if decision is Decision.DECLINE else 0.01,
            decision=decision,
            reasons=(),
            model_version="m1",
            scored_at=scored_at,
        ),
    )


def store_verdicts(store: InMemoryStore, records: list[TransactionRecord]) -> None:
    """What the record stage does with a batch: the verdicts and their tallies."""
    stage = RecordStage(store, ENVELOPES, FixedClock(T0))
    stage.handle([consumed(ENVELOPES.result_message(r), Topic.RESULTS) for r in records])


def test_the_monitor_picks_up_verdicts_committed_after_they_were_scored() -> None:
    store = InMemoryStore()
    clock = FixedClock(T0)
    monitor = ActivityMonitor(store, clock, bucket_seconds=2, span_seconds=60)
    store_verdicts(store, [scored_record(1, T0 - timedelta(seconds=5), Decision.APPROVE)])
    assert monitor.snapshot().totals.decisions["approve"] == 1

    clock.advance(4)
    # Scored before the last refresh, committed only now: inside the settle period.
    store_verdicts(store, [scored_record(2, T0 - timedelta(seconds=1), Decision.DECLINE)])
    totals = monitor.snapshot().totals
    assert totals.decisions == {"approve": 1, "review": 0, "decline": 1}


def test_the_monitor_reads_the_store_at_most_once_per_interval() -> None:
    store = InMemoryStore()
    clock = FixedClock(T0)
    monitor = ActivityMonitor(store, clock, interval=timedelta(seconds=1))
    monitor.snapshot()
    store_verdicts(store, [scored_record(1, T0 - timedelta(seconds=4), Decision.APPROVE)])
    assert monitor.snapshot().totals.decisions["approve"] == 0  # cached
    clock.advance(1)
    assert monitor.snapshot().totals.decisions["approve"] == 1


def test_pipeline_health_reports_lag_per_stage_and_the_dead_letters() -> None:
    bus = MemoryBus()
    bus.publish(Topic.TRANSACTIONS, [OutgoingMessage(key="u", value=b"{}") for _ in range(3)])
    bus.publish(Topic.DEAD_LETTERS, [OutgoingMessage(key="u", value=b"bad")])
    # Workers running every stage in one pass: only the group reading transactions exists.
    fused = pipeline_health(bus, StagesElsewhere())
    assert [(s.stage, s.group, s.lag) for s in fused.stages] == [
        ("preprocess", "fraud-preprocess", {"transactions": 3})
    ]
    # Split workers: every stage's group is known, each with its lag.
    for group, topics in (
        ("fraud-score", [Topic.PREPROCESSED]),
        ("fraud-record", [Topic.RESULTS, Topic.DEAD_LETTERS]),
    ):
        bus.consumer(group, topics)
    health = pipeline_health(bus, StagesElsewhere())
    assert [(s.stage, s.group, s.lag) for s in health.stages] == [
        ("preprocess", "fraud-preprocess", {"transactions": 3}),
        ("score", "fraud-score", {"preprocessed-transactions": 0}),
        ("record", "fraud-record", {"fraud-results": 0, "fraud-dlq": 1}),
    ]
    assert health.dead_letters == 1
    assert health.running is None


class BrokenBus(MemoryBus):
    def lag(self, group: str, topic: str) -> int:
        raise RuntimeError("broker unreachable")


def test_a_bus_that_cannot_answer_shows_unknown_figures() -> None:
    health = pipeline_health(BrokenBus(), StagesElsewhere())
    assert health.stages[0].lag == {"transactions": None}
    assert health.dead_letters == 0


def test_the_pipeline_watch_asks_the_bus_at_most_once_per_interval() -> None:
    bus = MemoryBus()
    clock = FixedClock(T0)
    watch = PipelineWatch(bus, clock, StagesElsewhere(), interval=timedelta(seconds=2))
    assert watch.health().stages[0].lag == {"transactions": 0}
    bus.publish(Topic.TRANSACTIONS, [OutgoingMessage(key="u", value=b"{}")])
    assert watch.health().stages[0].lag == {"transactions": 0}  # shared answer
    clock.advance(2)
    assert watch.health().stages[0].lag == {"transactions": 1}
