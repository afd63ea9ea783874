"""The Kafka security settings: read and checked once, handed to every client, never printed."""

from __future__ import annotations

import json

import pytest

from fraud.adapters.kafka.settings import admin_config, consumer_config, producer_config
from fraud.containers import bootstrap
from fraud.settings import BadSetting, KafkaSecurity, Secret, Settings

PASSWORD = "correct-horse-battery-staple"
SCRAM = {
    "FRAUD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "FRAUD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "FRAUD_KAFKA_SASL_USERNAME": "fraud",
    "FRAUD_KAFKA_SASL_PASSWORD": PASSWORD,
}


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(BadSetting) as refused:
        Settings.from_env(env)
    return str(refused.value)


def test_without_variables_clients_connect_in_plaintext() -> None:
    security = Settings.from_env({}).kafka_security
    assert security == KafkaSecurity(protocol="PLAINTEXT")
    assert admin_config("broker:9092", security)["security.protocol"] == "PLAINTEXT"
    assert "sasl.username" not in admin_config("broker:9092", security)


def test_scram_credentials_reach_every_kind_of_client() -> None:
    security = Settings.from_env({**SCRAM, "FRAUD_KAFKA_SASL_MECHANISM": "scram-sha-512"})
    configs = [
        admin_config("broker:9094", security.kafka_security),
        producer_config("broker:9094", "fraud", security.kafka_security),
        consumer_config("broker:9094", "group", "fraud", security.kafka_security),
    ]
    for config in configs:
        assert config["security.protocol"] == "SASL_PLAINTEXT"
        assert config["sasl.mechanism"] == "SCRAM-SHA-512"
        assert config["sasl.username"] == "fraud"
        assert config["sasl.password"] == PASSWORD


@pytest.mark.parametrize(
    "missing",
    ["FRAUD_KAFKA_SASL_MECHANISM", "FRAUD_KAFKA_SASL_USERNAME", "FRAUD_KAFKA_SASL_PASSWORD"],
)
def test_a_sasl_protocol_needs_a_mechanism_a_user_and_a_password(missing: str) -> None:
    env = {name: value for name, value in SCRAM.items() if name != missing}
    message = refusal(env)
    assert message.startswith(f"{missing}: required")
    assert PASSWORD not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FRAUD_KAFKA_SECURITY_PROTOCOL", "SASL_TLS"),
        ("FRAUD_KAFKA_SASL_MECHANISM", "GSSAPI"),
    ],
)
def test_unknown_protocols_and_mechanisms_are_refused(name: str, value: str) -> None:
    assert refusal({**SCRAM, name: value}).startswith(f"{name}: must be one of")


def test_credentials_the_protocol_would_not_send_are_refused_not_ignored() -> None:
    env = {**SCRAM, "FRAUD_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    message = refusal(env)
    assert message.startswith("FRAUD_KAFKA_SASL_MECHANISM: only used when")
    assert PASSWORD not in message


def test_the_password_can_come_from_a_file_instead(tmp_path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\n")
    env = {**SCRAM, "FRAUD_KAFKA_SASL_PASSWORD_FILE": str(secret)}
    del env["FRAUD_KAFKA_SASL_PASSWORD"]
    security = Settings.from_env(env).kafka_security
    assert security.sasl_password == Secret(PASSWORD)


def test_a_password_file_that_cannot_be_read_or_is_doubled_is_refused(tmp_path) -> None:
    absent = str(tmp_path / "absent")
    env = {**SCRAM, "FRAUD_KAFKA_SASL_PASSWORD_FILE": absent}
    assert refusal(env).startswith("FRAUD_KAFKA_SASL_PASSWORD_FILE: give either")
    del env["FRAUD_KAFKA_SASL_PASSWORD"]
    assert refusal(env).startswith(f"FRAUD_KAFKA_SASL_PASSWORD_FILE: cannot read {absent!r}")
    (tmp_path / "empty").write_text("\n")
    env["FRAUD_KAFKA_SASL_PASSWORD_FILE"] = str(tmp_path / "empty")
    assert "is empty" in refusal(env)


def test_tls_files_must_exist_and_a_client_certificate_comes_with_its_key(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    tls = {"FRAUD_KAFKA_SECURITY_PROTOCOL": "SSL", "FRAUD_KAFKA_SSL_CA_LOCATION": str(ca)}
    assert refusal(tls).startswith("FRAUD_KAFKA_SSL_CA_LOCATION: no such file or directory")
    ca.write_text("certificate")
    security = Settings.from_env(tls).kafka_security
    assert admin_config("broker:9093", security)["ssl.ca.location"] == str(ca)
    alone = {**tls, "FRAUD_KAFKA_SSL_CERTIFICATE_LOCATION": str(ca)}
    assert refusal(alone).startswith("FRAUD_KAFKA_SSL_KEY_LOCATION: a client certificate needs")
    plaintext = {**tls, "FRAUD_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}
    assert refusal({**SCRAM, **plaintext}).startswith("FRAUD_KAFKA_SSL_CA_LOCATION: only used")


def test_the_password_is_never_printed_with_the_settings() -> None:
    settings = Settings.from_env(SCRAM)
    shown = [
        repr(settings),
        str(settings.to_dict()),
        json.dumps(settings.to_dict(), default=str),
        f"{settings.kafka_security.sasl_password}",
    ]
    assert all(PASSWORD not in text for text in shown)
    assert all("fraud" in text for text in shown[:3])  # the user is no secret


def test_the_container_hands_the_security_on_as_one_object() -> None:
    settings = Settings.from_env({**SCRAM, "FRAUD_DATABASE_URL": "sqlite://"})
    container = bootstrap(settings)
    assert container.config.kafka_security() == settings.kafka_security


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://fraud:p@ss:w@127.0.0.1:55432/fraud",
            "postgresql+psycopg://fraud:***@127.0.0.1:55432/fraud",
        ),
        ("postgresql+psycopg://fraud@db/fraud", "postgresql+psycopg://fraud@db/fraud"),
        ("sqlite:///var/fraud.db", "sqlite:///var/fraud.db"),
    ],
)
def test_the_database_password_is_masked_where_the_url_is_shown(url: str, shown: str) -> None:
    assert Settings(database_url=url).database_shown == shown
