"""What the HTTP-level unit tests share: a container on in-memory adapters, and a way to
run its pipeline until nothing is left to do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.memory.repository import InMemoryStore
from fraud.containers import Container, build_container
from fraud.entrypoints.consumer.pipeline import Pipeline
from fraud.entrypoints.http.app import create_app
from fraud.settings import Settings


@pytest.fixture
def container(model, clock) -> Iterator[Container]:
    container = build_container(Settings(database_url="sqlite://", model_dir="unused"))
    container.bus.override(MemoryBus())
    container.unit_of_work.override(InMemoryStore())
    container.model.override(model)
    container.clock.override(clock)
    yield container
    container.unwire()


@pytest.fixture
def client(container: Container) -> FlaskClient:
    return create_app(container).test_client()


def settle(container: Container) -> None:
    """Run every stage until no message is left in flight."""
    pipeline = Pipeline(container)
    for _ in range(10):
        if sum(runner.run_once() for runner in pipeline.runners) == 0:
            break
    for runner in pipeline.runners:
        runner.consumer.close()
