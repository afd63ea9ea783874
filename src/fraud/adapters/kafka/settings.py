"""librdkafka settings for the pipeline's producers and consumers.

librdkafka's defaults differ from the Java client's in ways that matter here:
idempotence is off unless asked for, and offsets would be committed
automatically in the background whether or not a batch was handled.
"""

from __future__ import annotations

import logging
from typing import Any

# librdkafka's own messages (a broker unreachable, a rebalance) come through Python logging,
# so they are JSON events like every other line instead of raw text on stderr.
LIBRDKAFKA_LOGGER = logging.getLogger("fraud.adapters.kafka.librdkafka")


def admin_config(bootstrap: str) -> dict[str, Any]:
    return {"bootstrap.servers": bootstrap, "logger": LIBRDKAFKA_LOGGER}


def producer_config(bootstrap: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "logger": LIBRDKAFKA_LOGGER,
        "client.id": client_id,
        "enable.idempotence": True,  # no duplicates or reordering from retries
        "acks": "all",
        "linger.ms": 5,  # a few ms of batching turns thousands of sends into a few requests
        "compression.type": "lz4",
        "message.timeout.ms": 30_000,
    }


def consumer_config(bootstrap: str, group: str, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "logger": LIBRDKAFKA_LOGGER,
        "client.id": client_id,
        "group.id": group,
        "enable.auto.commit": False,  # committed by the stage loop once the batch is durable
        "auto.offset.reset": "earliest",  # a new group starts from what is kept, losing nothing
        "session.timeout.ms": 6_000,  # a dead worker's partitions move on within seconds
        "heartbeat.interval.ms": 1_500,
        "max.poll.interval.ms": 300_000,
        "fetch.wait.max.ms": 50,
    }
