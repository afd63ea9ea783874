"""The archive key as a setting (FRAUD_ARCHIVE_KEY, or a file named by FRAUD_ARCHIVE_KEY_FILE)
and the commands that need it: refused when short or unreadable, never printed; a command
that signs or checks archives in a deployment stops at once, naming the variable, without
one; `fraud models sign` signs what was registered before signing, with the single host's
key file when no key is set, and refuses the whole run when a signature does not hold."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from fraud.adapters.sqlalchemy.tables import models
from fraud.containers import Container, Process, bootstrap
from fraud.domain.identity import Actor
from fraud.entrypoints.cli.main import cli
from fraud.settings import BadSetting, Secret, Settings
from tests.archive_keys import TEST_ARCHIVE_KEY
from tests.fakes import RuleModel


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(BadSetting) as refused:
        Settings.from_env(env)
    return str(refused.value)


def test_a_key_is_hex_or_base64_of_32_bytes_and_never_shown() -> None:
    raw = secrets.token_bytes(32)
    written = (base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"="))
    for text in (raw.hex(), *(form.decode() for form in written)):
        key = Settings.from_env({"FRAUD_ARCHIVE_KEY": f" {text} "}).archive_key
        assert key == Secret(raw.hex())
    settings = Settings.from_env({"FRAUD_ARCHIVE_KEY": raw.hex()})
    assert raw.hex() not in repr(settings) and raw.hex() not in str(settings.to_dict())
    assert Settings.from_env({}).archive_key is None


def test_a_short_or_unreadable_key_is_refused_by_name_without_its_value() -> None:
    short = secrets.token_hex(16)
    message = refusal({"FRAUD_ARCHIVE_KEY": short})
    assert message.startswith("FRAUD_ARCHIVE_KEY: must be at least 32 random bytes")
    assert "secrets.token_hex(32)" in message and short not in message
    assert "FRAUD_ARCHIVE_KEY" in refusal({"FRAUD_ARCHIVE_KEY": "a passphrase, not a key!!"})


def test_a_key_from_a_file_as_mounted_secrets_are(tmp_path: Path) -> None:
    secret = tmp_path / "archive-key"
    secret.write_text(TEST_ARCHIVE_KEY + "\n")
    settings = Settings.from_env({"FRAUD_ARCHIVE_KEY_FILE": str(secret)})
    assert settings.archive_key == Secret(TEST_ARCHIVE_KEY)

    both = {"FRAUD_ARCHIVE_KEY_FILE": str(secret), "FRAUD_ARCHIVE_KEY": TEST_ARCHIVE_KEY}
    assert refusal(both).startswith("FRAUD_ARCHIVE_KEY_FILE: give either it or")
    absent = str(tmp_path / "absent")
    assert refusal({"FRAUD_ARCHIVE_KEY_FILE": absent}).startswith(
        f"FRAUD_ARCHIVE_KEY_FILE: cannot read {absent!r}"
    )
    secret.write_text("abc\n")
    assert "at least 32 random bytes" in refusal({"FRAUD_ARCHIVE_KEY_FILE": str(secret)})


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'var' / 'fraud.db'}"
    for name in ("FRAUD_BROKER", "FRAUD_MODEL_DIR", "FRAUD_ARCHIVE_KEY", "FRAUD_ARCHIVE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FRAUD_DATABASE_URL", url)
    monkeypatch.setenv("FRAUD_LOG_FORMAT", "json")
    return url


@pytest.mark.parametrize(
    "command",
    [
        ["models", "sign", "--all"],
        ["train", "--samples", "200"],
        # fraud retrain imports TensorFlow before it reads the key
        pytest.param(["retrain", "--since", "30d"], marks=pytest.mark.tensorflow),
    ],
)
def test_a_deployment_without_the_key_stops_before_any_work(
    database: str, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("FRAUD_BROKER", "kafka")
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2, result.output
    assert "FRAUD_ARCHIVE_KEY is not set" in result.output
    assert "Traceback" not in result.output


def single_host(database: str) -> Container:
    """A container as `fraud run` builds it: it makes the key file beside the database."""
    return bootstrap(Settings(database_url=database), Process(migrate=True, makes_archive_key=True))


def register(container: Container, *versions: str) -> None:
    for version in versions:
        model = RuleModel(version)
        container.register_model()(model.info, version.encode(), Actor("tests", "here"))


def strip_signature(container: Container, version: str) -> None:
    """What the archives registered before signing look like."""
    with container.engine().begin() as connection:
        connection.execute(
            update(models).where(models.c.version == version).values(archive_signature=None)
        )


def test_models_sign_signs_the_old_archives_with_the_single_hosts_key_file(
    database: str, tmp_path: Path
) -> None:
    container = single_host(database)
    register(container, "old", "new")
    strip_signature(container, "old")
    container.shutdown_resources()
    assert (tmp_path / "var" / "archive.key").is_file()
    runner = CliRunner()

    listed = runner.invoke(cli, ["models", "list"])
    assert [line.split()[-1] for line in listed.output.splitlines() if "old" in line] == [
        "unsigned"
    ]
    assert runner.invoke(cli, ["models", "sign"]).exit_code == 2  # a version, or --all
    signed = runner.invoke(cli, ["models", "sign", "--all"])
    assert signed.exit_code == 0, signed.output
    assert "old: signed" in signed.output and "signed 1 archive(s)" in signed.output
    assert "unsigned" not in runner.invoke(cli, ["models", "list"]).output
    again = runner.invoke(cli, ["models", "sign", "old"])
    assert "old: signed already" in again.output and "signed 0 archive(s)" in again.output
    audit = runner.invoke(cli, ["audit", "list", "--limit", "5"]).output
    assert "model.signed" in audit
    key = (tmp_path / "var" / "archive.key").read_text().strip()
    assert key not in signed.output + audit


def test_models_sign_refuses_to_sign_anything_when_a_signature_fails(database: str) -> None:
    container = single_host(database)
    register(container, "old", "altered")
    strip_signature(container, "old")
    evil = b"an attacker's model"
    with container.engine().begin() as connection:  # with its SHA-256, as anyone could
        connection.execute(
            update(models)
            .where(models.c.version == "altered")
            .values(archive=evil, archive_sha256=hashlib.sha256(evil).hexdigest())
        )
    container.shutdown_resources()

    refused = CliRunner().invoke(cli, ["models", "sign", "old"])
    assert refused.exit_code == 2
    assert "nothing was signed: model altered's archive does not match" in refused.output
    assert "unsigned" in CliRunner().invoke(cli, ["models", "list"]).output


def test_models_sign_with_another_key_than_the_registrys_signs_nothing(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = single_host(database)
    register(container, "old", "new")
    strip_signature(container, "old")
    container.shutdown_resources()
    monkeypatch.setenv("FRAUD_ARCHIVE_KEY", secrets.token_hex(32))

    wrong = CliRunner().invoke(cli, ["models", "sign", "old"])
    assert wrong.exit_code == 2 and "nothing was signed" in wrong.output
    assert "signed with another archive key" in wrong.output
