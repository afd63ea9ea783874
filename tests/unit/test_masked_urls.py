"""Every password in a URL masked wherever the URL is printed or logged (issue 24, finding 8):
"service started" logged ``?password=`` as it came."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner
from structlog.testing import capture_logs

from fraud.entrypoints.cli.main import cli, log_started
from fraud.logs import configure_logging
from fraud.settings import Settings
from fraud.urls import masked

SECRET, QUERY_SECRET = "s3cret-in-userinfo", "s3cret-in-query"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"postgresql+psycopg://fraud:{SECRET}@db:5432/fraud?password={QUERY_SECRET}",
            "postgresql+psycopg://fraud:***@db:5432/fraud?password=***",
        ),
        (  # psycopg takes the password from the query too; sslmode is no secret
            f"postgresql+psycopg://fraud@db/fraud?sslmode=require&password={QUERY_SECRET}",
            "postgresql+psycopg://fraud@db/fraud?sslmode=require&password=***",
        ),
        (
            f"postgresql://u@db/f?passwd=a&pwd=b&sslpassword=c&client_secret=d&pass%77ord={SECRET}",
            "postgresql://u@db/f?passwd=***&pwd=***&sslpassword=***&client_secret=***"
            "&pass%77ord=***",
        ),
        (  # an unescaped "@" or "/" in the password: SQLAlchemy would show its tail as host
            f"postgresql+psycopg://fraud:p@ss/{SECRET}@db/fraud",
            "postgresql+psycopg://fraud:***@db/fraud",
        ),
        (  # several hosts, which SQLAlchemy cannot parse at all
            f"postgresql://fraud:{SECRET}@db1:5432,db2:5433/fraud",
            "postgresql://fraud:***@db1:5432,db2:5433/fraud",
        ),
        (f"redis://:{SECRET}@redis:6379/0", "redis://:***@redis:6379/0"),
        (
            f"rediss://default:{SECRET}@cache?ssl_cert_reqs=none",
            "rediss://default:***@cache?ssl_cert_reqs=none",
        ),
        ("memory://", "memory://"),
        ("sqlite:///var/fraud.db", "sqlite:///var/fraud.db"),
        ("sqlite:////srv/a@b/fraud.db", "sqlite:////srv/a@b/fraud.db"),  # a path, no user
        ("postgresql+psycopg://fraud@db/fraud", "postgresql+psycopg://fraud@db/fraud"),
        ("127.0.0.1:9092,kafka-2:9092", "127.0.0.1:9092,kafka-2:9092"),
        (f"kafka-1:9092,user:{SECRET}@kafka-2:9092", "kafka-1:9092,user:***@kafka-2:9092"),
    ],
)
def test_every_password_in_a_url_is_masked(url: str, shown: str) -> None:
    assert masked(url) == shown


def test_the_settings_show_the_database_url_masked() -> None:
    url = f"postgresql+psycopg://fraud@db/fraud?password={QUERY_SECRET}"
    assert (
        Settings(database_url=url).database_shown
        == "postgresql+psycopg://fraud@db/fraud?password=***"
    )


def test_service_started_logs_no_password() -> None:
    settings = Settings(
        database_url=f"postgresql+psycopg://fraud:{SECRET}@db/fraud?password={QUERY_SECRET}",
        rate_limit_storage=f"redis://:{SECRET}@redis:6379/0",
    )
    with capture_logs() as logs:
        log_started(settings, "http://127.0.0.1:5000", "v1")

    (started,) = logs
    assert started["event"] == "service started"
    assert started["database"] == "postgresql+psycopg://fraud:***@db/fraud?password=***"
    assert started["rate_limit_storage"] == "redis://:***@redis:6379/0"
    assert SECRET not in str(logs) and QUERY_SECRET not in str(logs)


def test_db_upgrade_prints_no_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLite ignores (and warns about) a query password; the URL is printed all the same.
    url = f"sqlite:///{tmp_path / 'fraud.db'}?password={QUERY_SECRET}"
    monkeypatch.setenv("FRAUD_DATABASE_URL", url)
    monkeypatch.setenv("FRAUD_LOG_FORMAT", "json")

    result = CliRunner().invoke(cli, ["db", "upgrade"])

    assert result.exit_code == 0, result.output
    assert "?password=*** is at head" in result.output
    assert QUERY_SECRET not in result.output


def test_a_traceback_on_a_terminal_shows_no_local_variable(
    capfd: pytest.CaptureFixture[str],
) -> None:
    def connect(url: str) -> None:
        raise ConnectionError("the database refused the connection")

    configure_logging("console")
    try:
        try:
            connect(f"postgresql+psycopg://fraud:{SECRET}@db/fraud")
        except ConnectionError:
            structlog.get_logger("test").exception("could not connect")
        shown = capfd.readouterr().err
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    assert "the database refused the connection" in shown
    assert SECRET not in shown
