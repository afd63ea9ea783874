"""What every command shares: settings read once, the container built on first use."""

from __future__ import annotations

import click

from fraud.containers import Container, build_container
from fraud.domain.errors import ModelNotFound
from fraud.domain.ports import FraudModel
from fraud.settings import Settings


class CliContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._container: Container | None = None

    @property
    def container(self) -> Container:
        if self._container is None:
            self._container = build_container(self.settings)
        return self._container


pass_context = click.make_pass_decorator(CliContext)


class BadInput(click.ClickException):
    """Input the command cannot use (a file breaking the contract): a message, exit code 2."""

    exit_code = 2


def load_model(container: Container) -> FraudModel:
    """The model in use, or a clear message (exit code 2) saying how to make one."""
    try:
        return container.model()
    except ModelNotFound as missing:
        raise BadInput(str(missing)) from None
