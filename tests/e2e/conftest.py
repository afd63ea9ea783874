from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.e2e.chromium import chromium
from tests.processes import Service, non_json_lines, start_service, stop_service

# A first start trains the default model itself: allow for it on a busy machine.
FIRST_START_S = 600.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The test that meets the first start first waits for it: its time limit is the first
    start's, not pytest's default (there to stop a hang), which a first start met in
    whole-suite runs on a busy 2-core machine (170 to 301 s)."""
    for item in items:
        if "first_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(FIRST_START_S))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, launched once for a module's browser tests."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def service(tmp_path, small_model) -> Iterator[Service]:
    """A `fraud run` of this test's own, which it may stop, kill or starve."""
    running = start_service(tmp_path, small_model, FRAUD_LOG_LEVEL="debug")
    yield running
    if running.process.poll() is None:
        stop_service(running)


@pytest.fixture(scope="session")
def shared_service(tmp_path_factory, small_model) -> Iterator[Service]:
    """One `fraud run` for the tests that only add to it: transactions, keys and accounts
    under names of their own. None of them stops it, holds its database, or changes a rule
    or a model; they run one after the other on one xdist worker (tests/tiers.py)."""
    running = start_service(
        tmp_path_factory.mktemp("shared-service"), small_model, FRAUD_LOG_LEVEL="debug"
    )
    yield running
    if running.process.poll() is None:
        stop_service(running)


@pytest.fixture(scope="session")
def first_run(tmp_path_factory) -> Iterator[Service]:
    """`fraud run` on an empty state, as `make run` on a fresh clone: no model, no database,
    nobody; it trains the default model itself (once for the run: the README's and the first
    start's tests each send transactions of their own users and merchants, one after the other
    on one xdist worker, tests/tiers.py). Stopped at the end, it must exit cleanly and have
    written nothing but JSON events."""
    folder = tmp_path_factory.mktemp("first-run")
    running = start_service(folder, folder / "model", timeout=FIRST_START_S)
    yield running
    assert stop_service(running) == 0
    assert non_json_lines(running.logs()) == []
