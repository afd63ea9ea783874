"""Whether the cluster lets this process in, asked once at start.

librdkafka retries a refused login for ever, as it retries a broker that is away;
only its error callback tells the two apart (``_AUTHENTICATION``). Asked at start,
wrong credentials stop the process with a message naming the user, while a broker
that is merely away lets it start as before (it keeps accepting, and /health says
"degraded", until the broker is back).
"""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from fraud.adapters.kafka.settings import admin_config
from fraud.domain.errors import BrokerRefusedCredentials
from fraud.settings import KafkaSecurity
from fraud.urls import masked

log = structlog.get_logger(__name__)

CHECK_TIMEOUT_S = 10.0
_ATTEMPT_TIMEOUT_S = 0.25  # a refused SCRAM login takes the broker about 0.3 s to say so
# librdkafka names the connection first ("sasl_plaintext://host:port/bootstrap: ..."),
# which the message already says in its own words.
_CONNECTION_PREFIX = re.compile(r"^\S+://\S+: ")


def check_credentials(
    bootstrap: str, security: KafkaSecurity, *, timeout_s: float = CHECK_TIMEOUT_S
) -> bool:
    """Raises ``BrokerRefusedCredentials`` if the cluster refuses the SASL login; returns
    whether it answered within ``timeout_s``. Without SASL it asks nothing: True."""
    if not security.uses_sasl:
        return True
    refusals: list[KafkaError] = []
    away: list[KafkaError] = []

    def on_error(error: KafkaError) -> None:
        if error.code() == KafkaError._AUTHENTICATION:
            refusals.append(error)
        elif error.code() == KafkaError._ALL_BROKERS_DOWN:
            away.append(error)

    config: dict[str, Any] = {**admin_config(bootstrap, security), "error_cb": on_error}
    admin = AdminClient(config)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin.list_topics(timeout=_ATTEMPT_TIMEOUT_S)
            return True
        except KafkaException:
            admin.poll(0)  # serves on_error
        if refusals:
            raise BrokerRefusedCredentials(
                masked(bootstrap),
                security.sasl_username or "",
                security.sasl_mechanism or "",
                _CONNECTION_PREFIX.sub("", refusals[0].str()),
            )
        if away or time.monotonic() >= deadline:
            log.warning(
                "kafka did not answer at start: going on without it, credentials unchecked",
                bootstrap=masked(bootstrap),
                reason=away[0].str() if away else f"no answer within {timeout_s:.0f}s",
            )
            return False
