"""Topic administration: the pipeline's four topics, created once, harmlessly re-run."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from fraud.adapters.kafka.settings import PLAINTEXT, admin_config
from fraud.domain.ports import Topic, TopicOutcome
from fraud.settings import KafkaSecurity

DAY_MS = 24 * 3600 * 1000
# The preprocess stage rebuilds 30 days of user history from `transactions`.
RETENTION_MS = {
    Topic.TRANSACTIONS: 35 * DAY_MS,
    Topic.PREPROCESSED: 7 * DAY_MS,
    Topic.RESULTS: 7 * DAY_MS,
    Topic.DEAD_LETTERS: 30 * DAY_MS,
}
# The broker, not the producer, stamps when a transaction arrived: the receipt time its
# timestamp is checked against, which a producer writing straight to the topic cannot set.
STAMPED_ON_APPEND = {Topic.TRANSACTIONS: {"message.timestamp.type": "LogAppendTime"}}


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
                **STAMPED_ON_APPEND.get(topic, {}),
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
