"""Kafka behind SASL: the test broker's second listener takes SASL_PLAINTEXT with SCRAM-SHA-512
(`make test` starts it). The right credentials carry every client the bus makes; wrong ones
stop a command at start with a message naming the user, not a process retrying for ever."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from fraud.adapters.kafka.access import check_credentials
from fraud.adapters.kafka.admin import create_topics
from fraud.adapters.kafka.bus import KafkaBus
from fraud.adapters.kafka.settings import admin_config
from fraud.domain.errors import BrokerRefusedCredentials
from fraud.domain.ports import Topic
from fraud.settings import KafkaSecurity, Secret
from tests.bus_contract import BusContract
from tests.kafka.conftest import topics_led, wait_until
from tests.processes import FRAUD, fraud_env

SASL_BOOTSTRAP = os.environ.get("FRAUD_TEST_KAFKA_SASL_BOOTSTRAP", "127.0.0.1:9094")
# The broker's SCRAM user, as ops/kafka/kafka.sh creates it (the Makefile exports these).
USER = os.environ.get("KAFKA_SASL_USER", "fraud")
PASSWORD = os.environ.get("KAFKA_SASL_PASSWORD", "fraud-secret")
REFUSED_WITHIN_S = 30.0


def scram(password: str) -> KafkaSecurity:
    return KafkaSecurity(
        protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=USER,
        sasl_password=Secret(password),
    )


def scram_env(password: str, **overrides: str) -> dict[str, str]:
    return fraud_env(
        FRAUD_BROKER="kafka",
        FRAUD_KAFKA_BOOTSTRAP=SASL_BOOTSTRAP,
        FRAUD_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        FRAUD_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        FRAUD_KAFKA_SASL_USERNAME=USER,
        FRAUD_KAFKA_SASL_PASSWORD=password,
        **overrides,
    )


@pytest.fixture(scope="session")
def sasl_bootstrap() -> str:
    host, port = SASL_BOOTSTRAP.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        pytest.fail(
            f"no Kafka SASL listener answers on {SASL_BOOTSTRAP}: `make test` starts one, or "
            f"run `make kafka-up` (set FRAUD_TEST_KAFKA_SASL_BOOTSTRAP for another)"
        )
    return SASL_BOOTSTRAP


@pytest.fixture
def wrong_password() -> str:
    return f"not-the-password-{uuid.uuid4().hex}"


class TestKafkaBusContractOverScram(BusContract):
    """The whole bus contract through the SASL listener: the producer, the group consumers,
    the group-less readers and the lag probe all log in, or these would time out."""

    @pytest.fixture
    def bus(self, sasl_bootstrap, prefix):
        security = scram(PASSWORD)
        create_topics(sasl_bootstrap, partitions=3, prefix=prefix, security=security)
        # Once every partition has a leader: a new topic may still be unknown to the broker
        # asked next (a follower's look-up of it failed so on a busy machine).
        admin = AdminClient(admin_config(sasl_bootstrap, security))
        wait_until(lambda: topics_led(admin, prefix), timeout=60, what=f"leaders for {prefix}*")
        bus = KafkaBus(sasl_bootstrap, topic_prefix=prefix, client_id="scram", security=security)
        yield bus
        bus.close()

    @pytest.fixture
    def topic(self) -> str:
        return Topic.TRANSACTIONS

    @pytest.fixture
    def other_topic(self) -> str:
        return Topic.PREPROCESSED

    @pytest.fixture
    def group(self) -> str:
        return f"g-{uuid.uuid4().hex[:8]}"


def test_the_right_credentials_are_let_in(sasl_bootstrap) -> None:
    assert check_credentials(sasl_bootstrap, scram(PASSWORD)) is True


def test_wrong_credentials_are_refused_at_once_naming_the_user(
    sasl_bootstrap, wrong_password
) -> None:
    started = time.monotonic()
    with pytest.raises(BrokerRefusedCredentials) as refused:
        check_credentials(sasl_bootstrap, scram(wrong_password))
    assert time.monotonic() - started < REFUSED_WITHIN_S
    assert (refused.value.user, refused.value.mechanism) == (USER, "SCRAM-SHA-512")
    assert "invalid credentials" in refused.value.reason
    assert wrong_password not in str(refused.value)


def test_topics_create_logs_in_with_the_settings(sasl_bootstrap, prefix) -> None:
    result = subprocess.run(
        [FRAUD, "topics", "create", "--partitions", "1"],
        env=scram_env(PASSWORD, FRAUD_TOPIC_PREFIX=prefix, FRAUD_LOG_LEVEL="debug"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("created with 1 partitions") == len(Topic.ALL)
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["topics", "create"],
        ["worker", "--stage", "preprocess"],
        ["serve", "--port", "0"],
        ["run", "--port", "0"],
    ],
    ids=lambda command: command[0],
)
def test_wrong_credentials_stop_a_command_at_start_with_a_clear_message(
    sasl_bootstrap, prefix, tmp_path: Path, small_model: Path, wrong_password, command
) -> None:
    env = scram_env(
        wrong_password,
        FRAUD_TOPIC_PREFIX=prefix,
        FRAUD_DATABASE_URL=f"sqlite:///{tmp_path / 'fraud.db'}",
        FRAUD_MODEL_DIR=str(small_model),
    )
    try:
        result = subprocess.run(
            [FRAUD, *command], env=env, capture_output=True, text=True, timeout=90
        )
    except subprocess.TimeoutExpired as hung:
        raise AssertionError(f"`fraud {' '.join(command)}` hung on refused credentials") from hung
    # Refused by the check at start, on the broker's first answer: not after the check gave
    # up waiting (a client would then retry the login for ever). A wall-clock bound here
    # failed a whole suite's run where `fraud run` took 32 s to start on a busy machine.
    assert "did not answer at start" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2, result.stderr[-3000:]
    assert (
        f"Error: Kafka at {sasl_bootstrap} refused the credentials of user '{USER}' "
        "(SASL SCRAM-SHA-512)"
    ) in result.stderr
    assert wrong_password not in result.stdout + result.stderr
