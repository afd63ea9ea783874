from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fakes import FixedClock, RuleModel
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
        env=fraud_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return directory
