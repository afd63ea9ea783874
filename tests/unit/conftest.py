"""What the HTTP-level unit tests share: a container on in-memory adapters, a client per
role (each with a key of that role), and a way to run its pipeline until nothing is left
to do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from fraud.adapters.memory.bus import MemoryBus
from fraud.adapters.memory.repository import InMemoryStore
from fraud.adapters.passwords.argon2 import Argon2Hasher
from fraud.application.models import FixedModels
from fraud.application.stream.pipeline import Pipeline
from fraud.containers import EMBEDDED, Container, Process, bootstrap
from fraud.domain.identity import Role
from fraud.entrypoints.http.app import create_app
from fraud.settings import Settings
from tests.archive_keys import seal_for_tests
from tests.identities import TESTS, calling_as, issue_keys

__all__ = ["TESTS", "calling_as", "issue_keys"]  # the HTTP tests' helpers, from here too

# argon2id at its cheapest: the tests exercise the flow, not the hash's cost.
CHEAP_HASHES = Argon2Hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def in_memory(container: Container, model, clock) -> Container:
    """The container's bus, store, model and clock replaced by in-memory ones."""
    store = InMemoryStore()
    container.bus.override(MemoryBus())
    container.unit_of_work.override(store)
    container.queries.override(store)
    container.identity_queries.override(store)
    container.rule_queries.override(store)
    container.model_queries.override(store)
    container.drift_queries.override(store)
    container.case_queries.override(store)
    container.list_queries.override(store)
    container.webhook_queries.override(store)
    container.live_models.override(FixedModels(model))
    container.password_hasher.override(CHEAP_HASHES)
    container.archive_seal.override(seal_for_tests())
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
def keys(container: Container) -> dict[Role, str]:
    return issue_keys(container)


@pytest.fixture
def app(container: Container) -> Flask:
    return create_app(container)


@pytest.fixture
def client(app: Flask, keys: dict[Role, str]) -> FlaskClient:
    """A system submitting transactions (and reading back its own)."""
    return calling_as(app, keys[Role.SUBMITTER])


@pytest.fixture
def viewer(app: Flask, keys: dict[Role, str]) -> FlaskClient:
    return calling_as(app, keys[Role.VIEWER])


@pytest.fixture
def analyst(app: Flask, keys: dict[Role, str]) -> FlaskClient:
    return calling_as(app, keys[Role.ANALYST])


@pytest.fixture
def admin(app: Flask, keys: dict[Role, str]) -> FlaskClient:
    return calling_as(app, keys[Role.ADMIN])


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    return calling_as(app, None)


def settle(container: Container) -> None:
    """Run every stage until no message is left in flight."""
    pipeline: Pipeline = container.pipeline()
    pipeline.run_until_idle()
    pipeline.close()
    container.pipeline.reset()
