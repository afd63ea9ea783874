from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from tests import cpu, tiers
from tests.fakes import FixedClock, RuleModel
from tests.postgres import (
    BACKENDS,
    database_url_for,
    fresh_database,
    postgres_template,
    server_url,
)
from tests.processes import FRAUD, fraud_env
from tests.shared import once_per_run


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--services-needed",
        action="store_true",
        help="with --collect-only: print the services the selected tests need, one line",
    )
    parser.addoption(
        "--cpu-report",
        metavar="FILE",
        help="write each test's CPU seconds to FILE and list the costliest (tests/cpu.py)",
    )


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups it marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tiers.mark(items)
    tiers.heaviest_first(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.getoption("services_needed"):
        print("\nservices needed:", " ".join(tiers.services_needed(session.items)))
    else:
        tiers.refuse_tensorflow_at_collection(session.config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    return (yield from cpu.measured(item))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    cpu.summary(config, terminalreporter)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from tiers.guard_tensorflow(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from tiers.guard_tensorflow(item))


@pytest.fixture(autouse=True)
def logging_as_found(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Logging as the test found it. A test that runs the CLI in-process configures logging
    as a process does, and the root logger would keep writing to a stream the test closed.
    Loggers are never cached on first use here: one first used under such a test kept its
    processors, and a later test's ``capture_logs`` missed its lines (the archive-signing
    tests failed so, run in one process after the CLI's)."""
    configure = structlog.configure

    def uncached(**settings: object) -> None:
        configure(**{**settings, "cache_logger_on_first_use": False})

    monkeypatch.setattr(structlog, "configure", uncached)
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    if structlog.get_config() != config:
        structlog.configure(**config)
        root.handlers[:] = [
            handler
            for handler in root.handlers
            if handler in handlers
            or not isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter)
        ]
        root.setLevel(level)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def model() -> RuleModel:
    return RuleModel()


def train(directory: Path, *arguments: str) -> None:
    """``fraud train ARGUMENTS --model-dir DIRECTORY``, registering the model in a database of
    its own beside the directory, not the developer's."""
    result = subprocess.run(
        [FRAUD, "train", *arguments, "--model-dir", str(directory)],
        env=fraud_env(FRAUD_DATABASE_URL=f"sqlite:///{directory.parent / 'registry.db'}"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained through the real command, small enough to be quick; trained once for
    the whole run and shared by every test (and every xdist worker) that needs a model."""
    return (
        once_per_run(
            tmp_path_factory,
            "small-model",
            lambda folder: train(folder / "model", "--samples", "4000", "--epochs", "3"),
        )
        / "model"
    )


@pytest.fixture(scope="session")
def second_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another model (another seed, fewer samples), trained once for the whole run: what a
    test promotes or challenges with after ``fraud models register --model-dir`` puts it in
    its own registry."""
    return (
        once_per_run(
            tmp_path_factory,
            "second-model",
            lambda folder: train(
                folder / "model", "--samples", "2000", "--epochs", "1", "--seed", "11"
            ),
        )
        / "model"
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database of this test's own, dropped afterwards
    (``postgresql+psycopg://...``, ready for ``FRAUD_DATABASE_URL`` or ``upgrade``). Skips
    when pytest runs without the server ``make test`` starts (see ``tests/postgres.py``)."""
    with fresh_database(server_url()) as url:
        yield url


@pytest.fixture
def migrated_postgres_url() -> Iterator[str]:
    """As ``postgres_url``, the database already at the migrations' head (a copy of a
    template migrated once, tests/postgres.py)."""
    server = server_url()
    with fresh_database(server, template=postgres_template(server)) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on each backend the store supports, one test per backend: a
    SQLite file in a folder not made yet, then a PostgreSQL database (``postgres_url``)."""
    return database_url_for(request.param, request)
