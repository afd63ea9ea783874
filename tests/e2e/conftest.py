from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.processes import Service, start_service, stop_service


@pytest.fixture
def service(tmp_path, small_model) -> Iterator[Service]:
    running = start_service(tmp_path, small_model, FRAUD_LOG_LEVEL="debug")
    yield running
    if running.process.poll() is None:
        stop_service(running)
