"""What every command shares: settings read once, and the container built for the command."""

from __future__ import annotations

import gc
import getpass
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import structlog

from fraud.application.models import InForce
from fraud.containers import Container, Process, bootstrap
from fraud.domain.errors import (
    ArchiveKeyUnavailable,
    BrokerRefusedCredentials,
    ModelNotFound,
    ModelTampered,
    TransientFailure,
)
from fraud.domain.identity import Actor
from fraud.domain.ports import FraudModel
from fraud.logs import interactive
from fraud.settings import Settings


class CliContext:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.interactive = interactive(settings.log_format)
        self._container: Container | None = None

    def open(self, process: Process | None = None) -> Container:
        """The command's container, built on first use for what the command runs."""
        if self._container is None:
            self._container = bootstrap(
                self.settings, process or Process(interactive=self.interactive)
            )
        return self._container

    @property
    def container(self) -> Container:
        return self.open()

    def migrated(self) -> Container:
        """The container, the schema migrated first: the first command on a new machine may
        be one that reads or writes the database."""
        return self.open(Process(migrate=True, interactive=self.interactive))


pass_context = click.make_pass_decorator(CliContext)


class BadInput(click.ClickException):
    """Input the command cannot use (a file breaking the contract): a message, exit code 2."""

    exit_code = 2


@contextmanager
def refused_as_bad_input(*refusals: type[Exception]) -> Iterator[None]:
    """What a use case refuses, as a message and exit code 2: every field error an exception
    carries (``errors``), or its message."""
    try:
        yield
    except refusals as refused:
        errors = getattr(refused, "errors", None)
        if errors is not None:
            raise BadInput("; ".join(str(error) for error in errors)) from None
        raise BadInput(str(refused)) from None


class CannotStart(click.ClickException):
    """Settings the outside world refuses (the broker turning the credentials away), or a
    setting missing where the command needs it (the archive key): a message naming what to
    fix, exit code 2."""

    exit_code = 2


class StoreBusy(click.ClickException):
    """The database stayed locked or out of reach longer than a command waits: a message
    saying so, exit code 75 (EX_TEMPFAIL: try again later), never a traceback."""

    exit_code = 75


class FullHelp(click.Group):
    """A group whose list of commands gives each one's first sentence whole, wrapped under
    it, where click cuts it off with "..." at the terminal's width."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class Commands(FullHelp):
    """The ``fraud`` group: whichever command first reaches the broker, refused credentials
    end it with a message rather than a traceback or an endless retry; so does the lack of
    an archive key, wherever a command first signs or checks a model archive, and a
    database that stayed busy past the command's retries. Its groups list their commands
    in full too."""

    group_class = FullHelp

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (BrokerRefusedCredentials, ArchiveKeyUnavailable) as refused:
            raise CannotStart(str(refused)) from None
        except TransientFailure as busy:
            raise StoreBusy(
                f"{busy}; nothing of the step that failed was kept, try again"
            ) from None


def load_model(container: Container) -> FraudModel:
    """The model directory's model, or a clear message (exit code 2) saying how to make one."""
    try:
        return container.model()
    except ModelNotFound as missing:
        raise BadInput(str(missing)) from None


def serving_models(container: Container, model_dir: Path | None) -> InForce:
    """The registry's champion (and challenger), loaded before the first transaction. The
    model directory's model is registered first when the registry has no champion (it
    becomes the champion: a service that ran before the registry keeps its model) or when
    ``--model-dir`` names it (it waits for a promotion if another model is the champion)."""
    try:
        if model_dir is not None or container.model_queries().roles().champion is None:
            container.register_model().adopt(container.model_store(), cli_actor())
        in_force = container.live_models().current()
    except (TransientFailure, ModelNotFound, ModelTampered) as failure:
        raise BadInput(str(failure)) from None
    named = container.model_store().card() if model_dir is not None else None
    if named is not None and named.version != in_force.champion.version:
        structlog.get_logger("fraud.cli").warning(
            "the registry's champion decides, not the model in --model-dir; promote it with "
            f"`fraud models promote {named.version}`",
            champion=in_force.champion.version,
            model_dir=str(model_dir),
        )
    return in_force


def cli_actor() -> Actor:
    """Who runs a command, as the audit log records it: ``cli:<account>`` and the host."""
    return Actor(f"cli:{getpass.getuser()}", socket.gethostname())


def freeze_what_was_loaded() -> None:
    """Keep what start-up loaded (the libraries, the model, the rules, the state restored) out
    of the garbage collector's sight: it lives as long as the process, and scanning it again
    at every full collection cost a tenth of a worker's time per transaction (measured: 214
    against 188 µs of CPU per transaction in one pass)."""
    gc.collect()
    gc.freeze()
