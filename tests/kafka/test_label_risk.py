"""Label risk on a real broker: labels read from fraud-labels, merchant counts from the state
store, so that a worker taking over gives the features an uninterrupted run gives."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from fraud.adapters.kafka.bus import KafkaBus
from fraud.domain.features import FEATURE_NAMES, replay
from fraud.domain.label_risk import LabelEvent
from fraud.domain.ports import Topic
from fraud.domain.transaction import format_instant
from tests.factories import ENVELOPES, T0, txn
from tests.kafka.conftest import (
    make_topics,
    preprocess_then_leave,
    scored,
    wait_for_rows,
    wait_until,
    worker,
)
from tests.processes import fraud

DAY = 24 * 60


def test_merchant_and_card_risk_survive_a_change_of_worker(container, settings) -> None:
    group = f"g{uuid.uuid4().hex[:6]}"
    bus = container.bus()
    now = container.clock().now()
    monday = [
        txn(i, minutes=i * 7, user_id=f"holder-{i % 9}", merchant=f"shop-{i % 3}")
        for i in range(40)
    ]
    tuesday = [
        txn(100 + i, minutes=DAY + i * 5, user_id=f"holder-{i % 9}", merchant=f"shop-{i % 3}")
        for i in range(30)
    ]
    confirmed = [t for t in monday if t.merchant == "shop-0"][:6]
    labels = [LabelEvent.of(t, True, t.timestamp + timedelta(hours=12)) for t in confirmed]

    bus.publish(Topic.TRANSACTIONS, [ENVELOPES.transaction_message(t, now) for t in monday])
    bus.publish(Topic.LABELS, [ENVELOPES.label_message(label) for label in labels])
    preprocess_then_leave(settings, group, messages=40)

    # A new worker, its state empty, takes every partition over: Monday's counts come from
    # the state store, the labels from fraud-labels.
    successor = worker(settings, group)
    second = successor.pipeline()
    second.start()
    try:
        bus.publish(Topic.TRANSACTIONS, [ENVELOPES.transaction_message(t, now) for t in tuesday])
        records = [
            wait_until(lambda t=t: scored(successor, t.transaction_id), what=t.transaction_id)
            for t in tuesday
        ]
    finally:
        second.stop()
        successor.shutdown_resources()

    uninterrupted = replay([*monday, *tuesday], labels)[len(monday) :]
    for record, expected in zip(records, uninterrupted, strict=True):
        assert [record.features[name] for name in FEATURE_NAMES] == list(expected.values)
    shop_0 = next(r for r in records if r.transaction.merchant == "shop-0")
    assert (shop_0.features["merchant_count_1d"], shop_0.features["merchant_frauds_1d"]) == (
        14.0,
        6.0,
    )
    assert any(r.features["card_confirmed_frauds"] for r in records)


def test_chargebacks_imported_from_the_command_line_reach_the_workers(
    kafka_bootstrap, prefix, workers, database, tmp_path
) -> None:
    workers.start()
    bus = KafkaBus(kafka_bootstrap, topic_prefix=prefix)
    now = datetime.now(UTC)
    bought = [txn(i, minutes=i, user_id="victim", merchant="skimmed") for i in range(3)]
    bus.publish(Topic.TRANSACTIONS, [ENVELOPES.transaction_message(t, now) for t in bought])
    wait_for_rows(database, 3, "status = 'scored'", timeout=120)
    chargebacks = tmp_path / "chargebacks.csv"
    known = format_instant(T0 + timedelta(days=1))
    chargebacks.write_text(f"transaction_id,is_fraud,labelled_at\nt0,1,{known}\nnobody,1,{known}\n")

    imported = fraud(
        *("labels", "import", str(chargebacks)),
        FRAUD_BROKER="kafka",
        FRAUD_KAFKA_BOOTSTRAP=kafka_bootstrap,
        FRAUD_TOPIC_PREFIX=prefix,
        FRAUD_DATABASE_URL=database,
    )
    assert "imported 1 labels (1 fraud)" in imported.stdout
    assert "1 name no stored transaction: nobody" in imported.stderr

    again = txn(9, minutes=2 * DAY, user_id="victim", merchant="elsewhere")
    bus.publish(Topic.TRANSACTIONS, [ENVELOPES.transaction_message(again, now)])
    bus.close()
    wait_for_rows(database, 1, "status = 'scored' AND transaction_id = 't9'", timeout=120)
    engine = create_engine(database)
    with engine.connect() as connection:
        features = connection.execute(
            text("SELECT features FROM transactions WHERE transaction_id = 't9'")
        ).scalar_one()
        analyst = connection.execute(
            text("SELECT label_analyst FROM transactions WHERE transaction_id = 't0'")
        ).scalar_one()
    engine.dispose()
    assert json.loads(features)["card_confirmed_frauds"] == 1.0
    assert analyst.startswith("cli:")


def test_one_worker_and_two_give_the_merchant_figures_replay_gives(
    kafka_bootstrap, settings
) -> None:
    """Three days at four merchants, bought by cards of every partition: each worker counts its
    own partitions, reads the others' counts, and waits for a day until every partition has
    reached it; with one worker or two the figures are those of replay, label for label."""
    transactions = [
        txn(i, minutes=i * 23, user_id=f"card-{(i * 7) % 15}", merchant=f"shop-{i % 4}")
        for i in range(3 * DAY // 23)
    ]
    confirmed = [t for t in transactions[:60] if t.merchant == "shop-1"]
    labels = [LabelEvent.of(t, True, t.timestamp + timedelta(hours=3)) for t in confirmed]
    expected = {
        t.transaction_id: list(vector.values)
        for t, vector in zip(transactions, replay(transactions, labels), strict=True)
    }

    def features_with(workers: int) -> dict[str, list[float]]:
        prefix = f"test-{uuid.uuid4().hex[:10]}."
        make_topics(kafka_bootstrap, prefix, partitions=3)
        bus = KafkaBus(kafka_bootstrap, topic_prefix=prefix)
        now = datetime.now(UTC)
        bus.publish(Topic.LABELS, [ENVELOPES.label_message(label) for label in labels])
        bus.publish(
            Topic.TRANSACTIONS, [ENVELOPES.transaction_message(t, now) for t in transactions]
        )
        group = f"g{uuid.uuid4().hex[:6]}"
        own = replace(settings, topic_prefix=prefix)
        containers = [worker(own, group, stages=("preprocess",)) for _ in range(workers)]
        pipelines = [container.pipeline() for container in containers]
        for pipeline in pipelines:
            pipeline.start()
        found: dict[str, list[float]] = {}

        def all_preprocessed() -> bool:
            for message in bus.read_topic(Topic.PREPROCESSED):
                done = ENVELOPES.read_preprocessed(message)
                found[done.transaction.transaction_id] = list(done.features.values)
            return len(found) == len(transactions)

        try:
            wait_until(all_preprocessed, timeout=120, what=f"{workers} workers")
        finally:
            for pipeline, container in zip(pipelines, containers, strict=True):
                pipeline.stop()
                container.shutdown_resources()
            bus.close()
        return found

    one, two = features_with(1), features_with(2)
    assert one == expected
    assert two == expected
    frauds_7d = FEATURE_NAMES.index("merchant_frauds_7d")
    assert any(expected[t.transaction_id][frauds_7d] for t in transactions[-30:])
