"""Identities for tests that call the app in-process: a key per role, a client with one."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from fraud.containers import Container
from fraud.domain.identity import Actor, Role

TESTS = Actor("tests", "pytest")


def issue_keys(container: Container) -> dict[Role, str]:
    """A key of each role, named after it."""
    manage = container.manage_keys()
    return {role: manage.create(role.value, role, TESTS).secret for role in Role}


def calling_as(app: Flask, key: str | None) -> FlaskClient:
    """A client whose every request carries ``key`` (none: anonymous)."""
    client = app.test_client()
    if key is not None:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client
