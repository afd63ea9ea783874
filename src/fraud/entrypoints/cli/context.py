"""What every command shares: settings read once, the container built on first use."""

from __future__ import annotations

import click

from fraud.containers import Container, build_container
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
