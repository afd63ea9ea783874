"""Drift while serving: the record stage counts each decided verdict into its model's
reference bins and keeps hourly tallies; the champion's last day against its training
window shows the PSI of a shifted feature over the threshold while the others stay under,
in the report, on /metrics and as one warning."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.numpy.drift import NumpyBinCounter
from fraud.adapters.prometheus.metrics import PrometheusMetrics
from fraud.application.drift import DriftTally, DriftWatch
from fraud.application.models import RegisterModel
from fraud.application.stream.record import RecordStage
from fraud.domain.assessment import Assessment, Decision, Status, TransactionRecord
from fraud.domain.drift import PSI_THRESHOLD, SCORE, DriftReference
from fraud.domain.features import FEATURE_NAMES
from fraud.domain.identity import Actor
from fraud.domain.model import ModelInfo
from fraud.domain.policy import Thresholds
from fraud.domain.ports import Topic
from tests.archive_keys import seal_for_tests
from tests.factories import ENVELOPES, consumed, txn

SHIFTED = "amount_to_typical"
VERSION = "trained-on-normal"


def rows(seed: int, count: int, *, shift: float = 0.0) -> list[list[float]]:
    """Every feature standard normal; ``SHIFTED`` moved by ``shift`` standard deviations."""
    draw = random.Random(seed)
    moved = FEATURE_NAMES.index(SHIFTED)
    return [
        [draw.gauss(shift if i == moved else 0.0, 1.0) for i in range(len(FEATURE_NAMES))]
        for _ in range(count)
    ]


def scores(seed: int, count: int) -> list[float]:
    draw = random.Random(seed)
    return [draw.betavariate(1, 20) for _ in range(count)]


@pytest.fixture
def store(clock) -> InMemoryStore:
    """A champion whose card was fitted on standard normal features."""
    store = InMemoryStore()
    reference = DriftReference.fit(rows(1, 5000), scores(2, 2000))
    card = ModelInfo(VERSION, Thresholds(), "2026-12-01", reference=reference.to_dict())
    RegisterModel(store, clock, seal_for_tests())(card, b"archive", Actor("tests", "here"))
    return store


def results(clock, served: list[list[float]], score_seed: int) -> list[TransactionRecord]:
    """The served rows as the champion's results."""
    found = []
    for n, (values, score) in enumerate(zip(served, scores(score_seed, len(served)), strict=True)):
        transaction = txn(n, minutes=n)
        found.append(
            TransactionRecord(
                transaction=transaction,
                received_at=clock.now(),
                status=Status.SCORED,
                assessment=Assessment(
                    transaction.transaction_id, score, Decision.APPROVE, (), VERSION, clock.now()
                ),
                features=dict(zip(FEATURE_NAMES, values, strict=True)),
            )
        )
    return found


def record(store: InMemoryStore, clock, served: list[list[float]], score_seed: int) -> DriftWatch:
    """The served rows through the record stage, as results of the champion; the stage's
    drift watch."""
    watch = DriftWatch(store, store, clock, cache_s=0.0)
    stage = RecordStage(
        store, ENVELOPES, clock, tallies=[DriftTally(store, NumpyBinCounter(), clock, watch, 0.0)]
    )
    messages = [
        consumed(ENVELOPES.result_message(result), Topic.RESULTS, n)
        for n, result in enumerate(results(clock, served, score_seed))
    ]
    for start in range(0, len(messages), 250):
        stage.handle(messages[start : start + 250])
    return watch


def test_a_batch_retried_after_its_commit_failed_is_counted_once(store, clock) -> None:
    tally = DriftTally(store, NumpyBinCounter(), clock, flush_s=0.0)
    batch = results(clock, rows(9, 300), score_seed=10)
    with store() as failed:  # rolled back: the batch is delivered again
        assert tally.flush_if_due(failed, tally.count(batch))
    with store() as retried:
        counted = tally.count(batch)
        assert tally.flush_if_due(retried, counted)
        retried.commit()
    tally.committed(counted, flushed=True)
    stored = store.drift_counts(VERSION, clock.now() - timedelta(hours=1))
    assert sum(stored[SHIFTED].values()) == 300


def test_batches_kept_between_flushes_are_written_as_their_sum(store, clock) -> None:
    now = [0.0]
    tally = DriftTally(store, NumpyBinCounter(), clock, flush_s=10.0, monotonic=lambda: now[0])
    served = results(clock, rows(11, 240, shift=0.5), score_seed=12)
    batches = [served[:1], served[1:3], served[3:40], served[40:41], served[41:]]
    for n, batch in enumerate(batches):  # the first flushes at once, the rest are kept
        with store() as uow:
            counted = tally.count(batch)
            flushed = tally.flush_if_due(uow, counted)
            uow.commit()
        tally.committed(counted, flushed)
        assert flushed == (n == 0)
        now[0] += 1.0
    now[0] += 10.0
    with store() as uow:
        assert tally.flush_if_due(uow, {})
        uow.commit()
    tally.committed({}, flushed=True)

    stored = store.drift_counts(VERSION, clock.now() - timedelta(hours=1))
    at_once = tally.count(served)
    for name, counted in next(iter(at_once.values())).items():
        assert stored[name] == {place: n for place, n in enumerate(counted) if n}, name


def test_a_shifted_feature_crosses_the_threshold_while_the_others_stay_under(store, clock):
    with capture_logs() as logs:
        found = record(store, clock, rows(3, 1000, shift=1.0), score_seed=4).report()

    assert found.model_version == VERSION
    psi = {drift.name: drift for drift in found.drifts}
    assert psi[SHIFTED].psi > PSI_THRESHOLD and psi[SHIFTED].drifted
    assert psi[SHIFTED].observed == 1000
    others = [drift for name, drift in psi.items() if name != SHIFTED]
    assert len(others) == len(FEATURE_NAMES)  # and the score
    assert all(drift.psi < PSI_THRESHOLD and not drift.drifted for drift in others)
    assert found.drifts[0].name == SHIFTED  # most drifted first
    warned = [event for event in logs if event["log_level"] == "warning"]
    assert [event["feature"] for event in warned] == [SHIFTED]  # once, when it crossed


def test_traffic_like_training_drifts_nowhere_and_old_tallies_leave_the_window(store, clock):
    record(store, clock, rows(5, 1000), score_seed=6)
    found = DriftWatch(store, store, clock).report()
    assert not found.drifted
    assert {drift.name for drift in found.drifts} == {*FEATURE_NAMES, SCORE}

    clock.advance(timedelta(days=1, hours=2).total_seconds())
    later = DriftWatch(store, store, clock).report()
    assert all(drift.observed == 0 for drift in later.drifts)  # tallies, not a scan


def test_the_scrape_exports_each_features_psi_and_the_threshold(store, clock):
    record(store, clock, rows(7, 600, shift=1.0), score_seed=8)
    metrics = PrometheusMetrics()
    watch = DriftWatch(store, store, clock)
    metrics.watch_drift(watch.report)
    text = metrics.exposition()[0].decode()
    line = next(
        line
        for line in text.splitlines()
        if line.startswith("fraud_drift_psi{") and f'feature="{SHIFTED}"' in line
    )
    assert float(line.split()[-1]) > PSI_THRESHOLD
    assert f"fraud_drift_threshold {PSI_THRESHOLD}" in text
