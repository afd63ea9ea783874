"""`fraud labels import` (chargebacks, a case system's export) and `fraud export-labels`."""

from __future__ import annotations

from pathlib import Path

import click

from fraud.containers import Process
from fraud.entrypoints.cli.context import CliContext, FullHelp, cli_actor, pass_context
from fraud.entrypoints.cli.options import on_invalid_option, out_option, progress, read_rows


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


@click.group(cls=FullHelp)
def labels() -> None:
    """Labels from outside the service: chargebacks, case decisions."""


@labels.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@on_invalid_option
@pass_context
def import_labels(ctx: CliContext, file: Path, on_invalid: str) -> None:
    """Import FILE, a CSV of transaction_id,is_fraud,labelled_at: each label is stored in
    the transaction's label history and published on fraud-labels, where the features learn
    it as known from its labelled_at on."""
    container = ctx.open(Process(migrate=True, interactive=ctx.interactive))
    files = container.labelled_files()
    known = read_rows(file, lambda skipped: files.read_labels(file, skipped=skipped), on_invalid)
    try:
        with progress(len(known), "importing labels", bar=ctx.interactive) as done:
            imported = container.import_labels()(known, cli_actor(), done)
    finally:
        container.shutdown_resources()
    click.echo(
        f"imported {imported.imported} labels ({imported.frauds} fraud) from {file} "
        "into the label history and fraud-labels"
    )
    if imported.unknown:
        shown = ", ".join(imported.unknown[:5])
        more = f" and {len(imported.unknown) - 5} more" if len(imported.unknown) > 5 else ""
        click.echo(f"{len(imported.unknown)} name no stored transaction: {shown}{more}", err=True)
    if ctx.settings.broker == "memory":
        click.echo(
            "the embedded service (fraud run) learns imported labels from the database when "
            "it next starts",
            err=True,
        )
