from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog._config import BoundLoggerLazyProxy

from tests.fakes import FixedClock, RuleModel
from tests.postgres import BACKENDS, database_url_for, fresh_database, server_url
from tests.processes import FRAUD, fraud_env


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def model() -> RuleModel:
    return RuleModel()


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    """A model trained through the real command, small enough to be quick."""
    directory = tmp_path_factory.mktemp("e2e") / "model"
    result = subprocess.run(
        [FRAUD, "train", "--samples", "4000", "--epochs", "3", "--model-dir", str(directory)],
        # It registers the model too: in a database of its own, not the developer's.
        env=fraud_env(FRAUD_DATABASE_URL=f"sqlite:///{directory.parent / 'registry.db'}"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return directory


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database of this test's own, dropped afterwards
    (``postgresql+psycopg://...``, ready for ``FRAUD_DATABASE_URL`` or ``upgrade``). Skips
    when pytest runs without the server ``make test`` starts (see ``tests/postgres.py``)."""
    with fresh_database(server_url()) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on each backend the store supports, one test per backend: a
    SQLite file in a folder not made yet, then a PostgreSQL database (``postgres_url``)."""
    return database_url_for(request.param, request)


@pytest.fixture(autouse=True)
def _loggers_assembled_anew():
    """A command run in this process configures logging as the service does, which caches
    each module's logger on first use; a later test capturing logs must see every line, so
    after each test the module loggers are made to assemble themselves anew."""
    yield
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("fraud"):
            for value in list(vars(module).values()):
                if isinstance(value, BoundLoggerLazyProxy):
                    vars(value).pop("bind", None)
