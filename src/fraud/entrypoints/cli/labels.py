"""`fraud export-labels`: the transactions analysts labelled, as a training file."""

from __future__ import annotations

from pathlib import Path

import click

from fraud.application.labels import export_labelled
from fraud.entrypoints.cli.context import CliContext, pass_context


@click.command("export-labels")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="CSV to write: DESIGN.md's columns plus is_fraud (the analyst's label).",
)
@pass_context
def export_labels(ctx: CliContext, out: Path) -> None:
    """Write every analyst-labelled transaction to a CSV that `fraud train --data` reads."""
    from fraud.adapters.csv.labelled import write_labelled
    from fraud.adapters.sqlalchemy.migrate import upgrade

    upgrade(ctx.settings.database_url)  # an older schema has no label columns yet
    rows = export_labelled(ctx.container.unit_of_work())
    written = write_labelled(out, rows)
    frauds = sum(row.is_fraud for row in rows)
    click.echo(f"wrote {written} labelled transactions ({frauds} fraudulent) to {out}")
