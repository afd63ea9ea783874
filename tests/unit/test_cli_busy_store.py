"""A command whose database stayed busy past its retries says so and exits 75, the code
that tells a script to try again later: never a traceback."""

from __future__ import annotations

import click
from click.testing import CliRunner

from fraud.domain.errors import TransientFailure
from fraud.entrypoints.cli.context import Commands


@click.group(cls=Commands)
def fraud() -> None:
    """A ``fraud`` group as the real one is built."""


@fraud.command("import")
def import_labels() -> None:
    raise TransientFailure("database temporarily unavailable: database is locked")


def test_a_database_busy_past_the_retries_is_a_message_and_exit_code_75() -> None:
    result = CliRunner().invoke(fraud, ["import"])
    assert result.exit_code == 75
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Error: database temporarily unavailable: database is locked" in result.output
    assert "try again" in result.output
    assert "Traceback" not in result.output
