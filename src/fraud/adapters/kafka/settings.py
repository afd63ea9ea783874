"""librdkafka settings for the pipeline's producers and consumers.

librdkafka's defaults differ from the Java client's in ways that matter here:
idempotence is off unless asked for, and offsets would be committed
automatically in the background whether or not a batch was handled.

Every client, whoever creates it, starts from :func:`client_config`, so none of them
connects without the process's security settings.
"""

from __future__ import annotations

import logging
from typing import Any

from fraud.settings import KafkaSecurity

PLAINTEXT = KafkaSecurity()

# librdkafka's own messages (a broker unreachable, a rebalance) come through Python logging,
# so they are JSON events like every other line instead of raw text on stderr.
LIBRDKAFKA_LOGGER = logging.getLogger("fraud.adapters.kafka.librdkafka")


def client_config(bootstrap: str, security: KafkaSecurity) -> dict[str, Any]:
    """What every client has: the cluster, the logger, and how it authenticates and encrypts."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "logger": LIBRDKAFKA_LOGGER,
        "security.protocol": security.protocol,
    }
    # KafkaSecurity.from_env sets credentials and certificates only where the protocol sends them.
    optional = {
        "sasl.mechanism": security.sasl_mechanism,
        "sasl.username": security.sasl_username,
        "sasl.password": security.sasl_password.reveal() if security.sasl_password else None,
        "ssl.ca.location": security.ssl_ca_location,
        "ssl.certificate.location": security.ssl_certificate_location,
        "ssl.key.location": security.ssl_key_location,
    }
    config.update({name: value for name, value in optional.items() if value is not None})
    return config


def admin_config(bootstrap: str, security: KafkaSecurity = PLAINTEXT) -> dict[str, Any]:
    return client_config(bootstrap, security)


def producer_config(
    bootstrap: str, client_id: str, security: KafkaSecurity = PLAINTEXT
) -> dict[str, Any]:
    return {
        **client_config(bootstrap, security),
        "client.id": client_id,
        "enable.idempotence": True,  # no duplicates or reordering from retries
        "acks": "all",
        "linger.ms": 5,  # a few ms of batching turns thousands of sends into a few requests
        "compression.type": "lz4",
        "message.timeout.ms": 30_000,
    }


def consumer_config(
    bootstrap: str, group: str, client_id: str, security: KafkaSecurity = PLAINTEXT
) -> dict[str, Any]:
    return {
        **client_config(bootstrap, security),
        "client.id": client_id,
        "group.id": group,
        "enable.auto.commit": False,  # committed by the stage loop once the batch is durable
        "auto.offset.reset": "earliest",  # a new group starts from what is kept, losing nothing
        "session.timeout.ms": 6_000,  # a dead worker's partitions move on within seconds
        "heartbeat.interval.ms": 1_500,
        "max.poll.interval.ms": 300_000,
        "fetch.wait.max.ms": 50,
        # Partition i of every topic a member subscribes to goes to the same member.
        "partition.assignment.strategy": "range",
    }
