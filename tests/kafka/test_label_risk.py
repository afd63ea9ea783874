"""Label risk on a real broker: labels read from fraud-labels, merchant counts from the state
store, so that a worker taking over gives the features an uninterrupted run gives."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from fraud.adapters.kafka.bus import KafkaBus
from fraud.domain.features import FEATURE_NAMES, replay
from fraud.domain.label_risk import LabelEvent
from fraud.domain.ports import Topic
from fraud.domain.transaction import format_instant
from tests.factories import ENVELOPES, T0, txn
from tests.kafka.conftest import preprocess_then_leave, scored, wait_for_rows, wait_until, worker
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
    preprocess_then_leave(settings, group, messages=46)

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


def test_each_of_two_workers_gets_the_labels_of_the_cards_it_owns(kafka_bus) -> None:
    group = f"g{uuid.uuid4().hex[:6]}"
    topics = (Topic.TRANSACTIONS, Topic.LABELS)
    consumers = [kafka_bus.consumer(group, topics) for _ in range(2)]
    latest: dict[int, list] = {}
    for n, consumer in enumerate(consumers):
        consumer.on_assigned(lambda assigned, n=n: latest.__setitem__(n, list(assigned)) or [])

    def settled() -> bool:
        for consumer in consumers:
            consumer.poll_batch(10, 0.2)
        owned = [p for assigned in latest.values() for p in assigned]
        return len(latest) == 2 and len(owned) == 6 and all(latest.values())

    try:
        wait_until(settled, timeout=60, what="both workers to hold partitions")
    finally:
        for consumer in consumers:
            consumer.close()
    for assigned in latest.values():
        transactions = {p.partition for p in assigned if p.topic == Topic.TRANSACTIONS}
        labels = {p.partition for p in assigned if p.topic == Topic.LABELS}
        assert transactions == labels and transactions
