"""Secret settings read from FRAUD_SECRETS_DIR, one file per setting, as Kubernetes mounts a
Secret: the environment wins, unknown settings are refused by name, no value is ever shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fraud.entrypoints.cli.main import cli
from fraud.settings import BadSetting, Secret, Settings
from tests.archive_keys import TEST_ARCHIVE_KEY

PASSWORD = "pg-pa55word-from-a-file"
SASL_PASSWORD = "sasl-pa55word-from-a-file"
SECRET_KEY = "s" * 40


def mounted(folder: Path, **files: str) -> Path:
    """A directory laid out as the kubelet mounts a Secret: each key a link into ``..data``."""
    data = folder / "..2026_01_01_00_00_00.000000000"
    data.mkdir(parents=True)
    (folder / "..data").symlink_to(data.name)
    for name, value in files.items():
        (data / name).write_text(value + "\n")  # `kubectl create secret --from-file` keeps it
        (folder / name).symlink_to(f"..data/{name}")
    return folder


def test_every_secret_setting_is_read_from_its_file(tmp_path: Path) -> None:
    folder = mounted(
        tmp_path / "secrets",
        FRAUD_DATABASE_URL=f"postgresql+psycopg://fraud:{PASSWORD}@db:5432/fraud",
        FRAUD_ARCHIVE_KEY=TEST_ARCHIVE_KEY,
        FRAUD_SECRET_KEY=SECRET_KEY,
        FRAUD_KAFKA_SASL_USERNAME="fraud-service",
        FRAUD_KAFKA_SASL_PASSWORD=SASL_PASSWORD,
        FRAUD_RATE_LIMIT_STORAGE=f"redis://:{PASSWORD}@redis:6379/0",
    )
    env = {
        "FRAUD_SECRETS_DIR": str(folder),
        "FRAUD_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FRAUD_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    }

    settings = Settings.from_env(env)

    assert settings.database_url == f"postgresql+psycopg://fraud:{PASSWORD}@db:5432/fraud"
    assert settings.archive_key == Secret(TEST_ARCHIVE_KEY)
    assert settings.secret_key == Secret(SECRET_KEY)
    assert settings.kafka_security.sasl_username == "fraud-service"
    assert settings.kafka_security.sasl_password == Secret(SASL_PASSWORD)
    assert settings.rate_limit_storage == f"redis://:{PASSWORD}@redis:6379/0"
    assert PASSWORD not in settings.database_shown
    assert SASL_PASSWORD not in repr(settings) and SECRET_KEY not in repr(settings)


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    folder = mounted(
        tmp_path / "secrets",
        FRAUD_DATABASE_URL="postgresql+psycopg://fraud:from-file@db/fraud",
        FRAUD_ARCHIVE_KEY=TEST_ARCHIVE_KEY,
    )
    key_file = tmp_path / "archive.key"
    key_file.write_text("ab" * 32)
    env = {
        "FRAUD_SECRETS_DIR": str(folder),
        "FRAUD_DATABASE_URL": "sqlite:///var/override.db",
        # The _FILE form of a setting counts as the environment setting it, not as a second
        # value beside the directory's ("give either it or FRAUD_ARCHIVE_KEY, not both").
        "FRAUD_ARCHIVE_KEY_FILE": str(key_file),
    }

    settings = Settings.from_env(env)

    assert settings.database_url == "sqlite:///var/override.db"
    assert settings.archive_key == Secret("ab" * 32)


def test_an_empty_variable_leaves_the_file_in_force(tmp_path: Path) -> None:
    folder = mounted(tmp_path / "secrets", FRAUD_SECRET_KEY=SECRET_KEY)

    settings = Settings.from_env({"FRAUD_SECRETS_DIR": str(folder), "FRAUD_SECRET_KEY": " "})

    assert settings.secret_key == Secret(SECRET_KEY)


def test_other_files_and_the_mounts_own_entries_are_left_alone(tmp_path: Path) -> None:
    folder = mounted(
        tmp_path / "secrets", POSTGRES_PASSWORD="not ours", FRAUD_SECRET_KEY=SECRET_KEY
    )

    assert Settings.from_env({"FRAUD_SECRETS_DIR": str(folder)}).secret_key == Secret(SECRET_KEY)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"FRAUD_DATABSE_URL": "x"}, "FRAUD_DATABSE_URL is not a secret setting"),
        ({"FRAUD_BROKER": "kafka"}, "FRAUD_BROKER is not a secret setting"),
        ({"FRAUD_SECRET_KEY": ""}, "FRAUD_SECRET_KEY is empty"),
    ],
)
def test_a_file_that_cannot_be_used_is_refused_by_name(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    folder = mounted(tmp_path / "secrets", **files)

    with pytest.raises(BadSetting, match=message):
        Settings.from_env({"FRAUD_SECRETS_DIR": str(folder)})


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadSetting, match="FRAUD_SECRETS_DIR: no such directory"):
        Settings.from_env({"FRAUD_SECRETS_DIR": str(tmp_path / "absent")})


def test_a_bad_secret_from_a_file_is_named_but_never_shown(tmp_path: Path) -> None:
    folder = mounted(tmp_path / "secrets", FRAUD_ARCHIVE_KEY="short-and-secret")

    with pytest.raises(BadSetting, match="FRAUD_ARCHIVE_KEY: must be at least") as refused:
        Settings.from_env({"FRAUD_SECRETS_DIR": str(folder)})
    assert "short-and-secret" not in str(refused.value)


def test_a_command_uses_the_mounted_database_url_and_prints_no_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite ignores (and warns about) a query password; the URL is printed all the same.
    database = tmp_path / "mounted.db"
    folder = mounted(
        tmp_path / "secrets", FRAUD_DATABASE_URL=f"sqlite:///{database}?password={PASSWORD}"
    )
    monkeypatch.delenv("FRAUD_DATABASE_URL", raising=False)
    monkeypatch.setenv("FRAUD_SECRETS_DIR", str(folder))
    monkeypatch.setenv("FRAUD_LOG_FORMAT", "json")

    result = CliRunner().invoke(cli, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert database.exists()
    assert "?password=*** is at head" in result.output
    assert PASSWORD not in result.output
