"""Topic administration: the pipeline's topics, created once, harmlessly re-run."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from fraud.adapters.kafka.settings import PLAINTEXT, admin_config
from fraud.domain.ports import Topic, TopicOutcome
from fraud.settings import KafkaSecurity

DAY_MS = 24 * 3600 * 1000
LOOKUP_TIMEOUT_S = 10.0
RETENTION_MS = {
    Topic.TRANSACTIONS: 7 * DAY_MS,
    Topic.PREPROCESSED: 7 * DAY_MS,
    Topic.RESULTS: 7 * DAY_MS,
    Topic.DEAD_LETTERS: 30 * DAY_MS,
}
# Topic by topic, what differs from a plain topic that deletes after its retention.
TOPIC_CONFIG = {
    # The broker, not the producer, stamps when a transaction arrived: the receipt time its
    # timestamp is checked against, which a producer writing straight to the topic cannot set.
    Topic.TRANSACTIONS: {"message.timestamp.type": "LogAppendTime"},
    # The state store keeps the latest record of each user for as long as the user is
    # remembered (forgotten users are deleted by tombstones), so it never expires by age.
    # Small segments let the cleaner compact within the hour, so a restore reads about one
    # record per user, not every write of the last segment.
    Topic.STATE: {
        "cleanup.policy": "compact",
        "segment.ms": str(3600 * 1000),
        "segment.bytes": str(64 * 1024 * 1024),
    },
    # Read whole by every worker that restores its state, whatever retention the other
    # topics get: a label counts for a card for 90 days, for a merchant's 30-day window
    # after the purchase it names, and arrives up to months after that purchase.
    Topic.LABELS: {"retention.ms": str(400 * DAY_MS)},
    # Read whole by every preprocess worker: one record per merchant, day and partition
    # (expired days deleted by tombstones) and one progress record per partition.
    Topic.MERCHANT_COUNTS: {
        "cleanup.policy": "compact",
        "segment.ms": str(3600 * 1000),
        "segment.bytes": str(64 * 1024 * 1024),
    },
}


def create_topics(
    bootstrap: str,
    *,
    partitions: int = 6,
    replication: int = 1,
    retention_ms: int | None = None,
    topics: Sequence[str] = Topic.ALL,
    prefix: str = "",
    timeout_s: float = 30.0,
    security: KafkaSecurity = PLAINTEXT,
) -> list[TopicOutcome]:
    admin = AdminClient(admin_config(bootstrap, security))
    requests = [
        NewTopic(
            prefix + topic,
            num_partitions=partitions,
            replication_factor=replication,
            config={
                "retention.ms": str(retention_ms or RETENTION_MS.get(topic, 7 * DAY_MS)),
                "min.insync.replicas": str(min(2, replication)),
                **TOPIC_CONFIG.get(topic, {}),
            },
        )
        for topic in topics
    ]
    outcomes = []
    for topic, future in admin.create_topics(requests, request_timeout=timeout_s).items():
        try:
            future.result()
            outcomes.append(TopicOutcome(topic, True, f"created with {partitions} partitions"))
        except KafkaException as error:
            kafka_error = error.args[0]
            if kafka_error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
            outcomes.append(TopicOutcome(topic, False, "already exists"))
    return outcomes


class KafkaTopicAdmin:
    """The ``TopicAdmin`` port: the pipeline's topics on the cluster at ``bootstrap``."""

    def __init__(
        self, bootstrap: str, *, prefix: str = "", security: KafkaSecurity = PLAINTEXT
    ) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.security = security

    def create_topics(
        self,
        *,
        partitions: int,
        replication: int,
        retention_ms: int | None = None,
        topics: Sequence[str] | None = None,
    ) -> list[TopicOutcome]:
        return create_topics(
            self.bootstrap,
            partitions=partitions,
            replication=replication,
            retention_ms=retention_ms,
            topics=Topic.ALL if topics is None else topics,
            prefix=self.prefix,
            security=self.security,
        )

    def missing_topics(self) -> list[str] | None:
        admin = AdminClient(admin_config(self.bootstrap, self.security))
        try:
            present = admin.list_topics(timeout=LOOKUP_TIMEOUT_S).topics
        except KafkaException:
            return None
        return [topic for topic in Topic.ALL if self.prefix + topic not in present]
