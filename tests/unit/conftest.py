"""What the HTTP-level unit tests share: a container on in-memory adapters, and a way to
run its pipeline until nothing is left to do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.memory.repository import InMemoryStore
from fraud.application.pipeline import Pipeline
from fraud.containers import EMBEDDED, Container, Process, bootstrap
from fraud.entrypoints.http.app import create_app
from fraud.settings import Settings


def in_memory(container: Container, model, clock) -> Container:
    """The container's bus, store, model and clock replaced by in-memory ones."""
    store = InMemoryStore()
    container.bus.override(MemoryBus())
    container.unit_of_work.override(store)
    container.queries.override(store)
    container.model.override(model)
    container.clock.override(clock)
    return container


@pytest.fixture
def container(model, clock) -> Iterator[Container]:
    """The stages run elsewhere (as under `fraud serve`); ``settle`` runs them here."""
    container = bootstrap(Settings(database_url="sqlite://", model_dir="unused"))
    yield in_memory(container, model, clock)
    container.unwire()


@pytest.fixture
def embedded(model, clock) -> Iterator[Container]:
    """The stages run in this process, as under `fraud run`."""
    container = bootstrap(
        Settings(database_url="sqlite://", model_dir="unused"), Process(pipeline=EMBEDDED)
    )
    yield in_memory(container, model, clock)
    container.unwire()


@pytest.fixture
def client(container: Container) -> FlaskClient:
    return create_app(container).test_client()


def settle(container: Container) -> None:
    """Run every stage until no message is left in flight."""
    pipeline: Pipeline = container.pipeline()
    pipeline.run_until_idle()
    pipeline.close()
    container.pipeline.reset()
