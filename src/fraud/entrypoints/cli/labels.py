"""`fraud export-labels`: the transactions analysts labelled, as a training file."""

from __future__ import annotations

from pathlib import Path

import click

from fraud.containers import Process
from fraud.entrypoints.cli.context import CliContext, pass_context
from fraud.entrypoints.cli.options import out_option


@click.command("export-labels")
@out_option("CSV to write: DESIGN.md's columns plus is_fraud (the analyst's label).")
@pass_context
def export_labels(ctx: CliContext, out: Path) -> None:
    """Write every analyst-labelled transaction to a CSV that `fraud train --data` reads."""
    # An older schema has no label columns yet.
    container = ctx.open(Process(migrate=True, interactive=ctx.interactive))
    exported = container.export_labels()(out)
    click.echo(
        f"wrote {exported.written} labelled transactions ({exported.frauds} fraudulent) to {out}"
    )
