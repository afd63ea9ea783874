from __future__ import annotations

import pytest

from tests.fakes import FixedClock, RuleModel


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def model() -> RuleModel:
    return RuleModel()
