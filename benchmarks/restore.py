"""How long a worker taking partitions over takes to serve again, with many users' state,
and whether that grows with the days of transactions the topic holds.

For each retention size, on fresh topics of a running broker:

1. ``transactions`` gets ``users`` x ``days`` plain JSON transactions (one a day per user,
   placed by user): what rebuilding state by replaying the log would have to read.
2. ``behaviour-state`` gets every user's history as the preprocess stage writes it (the
   same ``Changelog`` code, over ``--events`` transactions a user in the last 30 days),
   one record a user as compaction leaves it, then each partition's checkpoint at the
   end of ``transactions``; the group's offsets are committed there too. That is a
   worker that handled all of it and then died.
3. A ``fraud worker --stage preprocess`` starts in that group; the clock runs from its
   start to the features of one new transaction on ``preprocessed-transactions``.

    python benchmarks/restore.py --bootstrap 127.0.0.1:9092 --users 1000000 --days 1 7
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from fraud.adapters.kafka.admin import create_topics
from fraud.adapters.serialization.json import JsonSerializer
from fraud.adapters.state_store.changelog import CHECKPOINT_KEY, Changelog
from fraud.adapters.system.clock import SystemClock
from fraud.application.stream.envelopes import Envelopes
from fraud.domain.features import BehaviourProfiles
from fraud.domain.ports import Topic
from fraud.domain.transaction import Transaction

FRAUD = str(Path(sys.executable).with_name("fraud"))
NOW = datetime.now(UTC).replace(microsecond=0)
MERCHANT_TYPES = ("grocery", "online", "travel", "restaurant")
Record = tuple[bytes, bytes | None, int]  # key, value, partition


def progress(text: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {text}", flush=True)


def partition_of(user: str, partitions: int) -> int:
    return zlib.crc32(user.encode()) % partitions


def transaction(user: int, number: int, at: datetime) -> dict[str, object]:
    return {
        "transaction_id": f"r{user}-{number}-{at.timestamp():.0f}",
        "user_id": f"u{user}",
        "amount": 10.0 + (user * 7 + number * 13) % 300,
        "merchant": f"Shop {(user + number) % 50}",
        "timestamp": at.isoformat(),
        "merchant_type": MERCHANT_TYPES[(user + number) % len(MERCHANT_TYPES)],
        "device_type": "mobile",
        "location_match": 1,
    }


def log_records(users: int, days: int, partitions: int) -> Iterator[Record]:
    """One transaction a day per user over the last ``days`` days."""
    for day in range(days):
        at = NOW - timedelta(days=day, hours=2)
        for user in range(users):
            key = f"u{user}"
            value = json.dumps(transaction(user, day, at)).encode()
            yield key.encode(), value, partition_of(key, partitions)


def state_records(users: int, events: int, partitions: int) -> Iterator[Record]:
    """Each user's history after ``events`` transactions spread over the last 30 days, as
    the preprocess stage writes it down."""
    changelog = Changelog(SystemClock(), Envelopes(JsonSerializer()))
    chunk = 20_000
    for start in range(0, users, chunk):
        profiles = BehaviourProfiles()
        batch = []
        owners = {}
        for user in range(start, min(users, start + chunk)):
            owners[f"u{user}"] = partition_of(f"u{user}", partitions)
            for number in range(events):
                at = NOW - timedelta(days=29 * (events - number) / events, hours=3)
                batch.append(Transaction.parse(transaction(user, number, at), received_at=at))
        profiles.observe(batch)
        written = changelog.changes(profiles, owners, {}, owned=set())
        for record in written.messages[Topic.STATE]:
            assert record.key is not None and record.partition is not None
            yield record.key.encode(), record.value, record.partition
        if (start + chunk) % 200_000 == 0:
            progress(f"{start + chunk:,} users' state written")


def produce(producer: Producer, topic: str, records: Iterable[Record]) -> int:
    count = 0
    for key, value, partition in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key, partition=partition)
                break
            except BufferError:
                producer.poll(0.1)
        count += 1
        if count % 500_000 == 0:
            progress(f"{count:,} messages on {topic}")
    if producer.flush(300) != 0:
        raise SystemExit(f"not everything reached {topic}")
    return count


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        return {
            p: reader.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in range(partitions)
        }
    finally:
        reader.close()


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    committer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        committer.commit(
            offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False
        )
    finally:
        committer.close()


def reader_partitions(reader: Consumer, topic: str) -> int:
    return len(reader.list_topics(topic, timeout=30).topics[topic].partitions)


def first_output_after(bootstrap: str, topic: str, produced: Producer, source: str) -> float:
    """Produce one new transaction and wait for its features; returns when they came."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"watch-{uuid.uuid4().hex}",
            "auto.offset.reset": "latest",
        }
    )
    reader.subscribe([topic])
    while not reader.assignment():
        reader.poll(0.2)
    partition = partition_of("u1", reader_partitions(reader, topic))
    new = transaction(1, 99, datetime.now(UTC))
    produced.produce(source, key=b"u1", value=json.dumps(new).encode(), partition=partition)
    produced.flush(30)
    try:
        while True:
            message = reader.poll(1.0)
            if message is not None and message.error() is None:
                return time.monotonic()
    finally:
        reader.close()


def measure(bootstrap: str, users: int, events: int, days: int, partitions: int) -> dict:
    prefix = f"restore-{uuid.uuid4().hex[:8]}."
    group = f"restore-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, partitions=partitions, prefix=prefix)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    source = prefix + Topic.TRANSACTIONS
    progress(f"{days} day(s) of transactions for {users:,} users")
    in_log = produce(producer, source, log_records(users, days, partitions))
    ends = end_offsets(bootstrap, source, partitions)
    progress(f"{users:,} users' state, {events} transactions each")
    stored = produce(producer, prefix + Topic.STATE, state_records(users, events, partitions))
    checkpoints = [
        (CHECKPOINT_KEY.encode(), str(offset).encode(), partition)
        for partition, offset in ends.items()
    ]
    produce(producer, prefix + Topic.STATE, checkpoints)
    commit(bootstrap, f"{group}-preprocess", source, ends)

    env = {
        **os.environ,
        "FRAUD_BROKER": "kafka",
        "FRAUD_KAFKA_BOOTSTRAP": bootstrap,
        "FRAUD_TOPIC_PREFIX": prefix,
        "FRAUD_LOG_FORMAT": "json",
    }
    progress("a worker takes the partitions over")
    started = time.monotonic()
    worker = subprocess.Popen(
        [FRAUD, "worker", "--stage", "preprocess", "--group", group],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    restored_s = None
    assert worker.stdout is not None
    for line in worker.stdout:
        if '"state restored"' in line:
            restored_s = json.loads(line)["seconds"]
            break
    served = first_output_after(bootstrap, prefix + Topic.PREPROCESSED, producer, source)
    rss_mb = (
        int(Path(f"/proc/{worker.pid}/status").read_text().split("VmRSS:")[1].split()[0]) // 1024
    )
    worker.terminate()
    worker.wait(60)
    AdminClient({"bootstrap.servers": bootstrap}).delete_topics(
        [prefix + topic for topic in Topic.ALL]
    )
    return {
        "days_in_topic": days,
        "transactions_in_topic": in_log,
        "users": users,
        "state_records": stored + len(checkpoints),
        "restore_s": restored_s,
        "serving_again_s": round(served - started, 1),
        "worker_rss_mb": rss_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=4, help="transactions a user, in state")
    parser.add_argument("--days", type=int, nargs="+", default=[1, 7])
    parser.add_argument("--partitions", type=int, default=6)
    args = parser.parse_args()
    rows = [measure(args.bootstrap, args.users, args.events, d, args.partitions) for d in args.days]
    print(json.dumps(rows, indent=2))
    heads = ("days", "tx in topic", "users", "restore s", "serving s", "RSS MB")
    print(
        " ".join(
            f"{head:>{width}}" for head, width in zip(heads, (5, 12, 10, 10, 10, 8), strict=True)
        )
    )
    for row in rows:
        print(
            f"{row['days_in_topic']:>5} {row['transactions_in_topic']:>12,} {row['users']:>10,} "
            f"{row['restore_s']:>10} {row['serving_again_s']:>10} {row['worker_rss_mb']:>8}"
        )


if __name__ == "__main__":
    main()
