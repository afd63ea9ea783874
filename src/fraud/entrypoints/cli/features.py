"""`fraud features`: every field and feature a rule can read, with its type, unit and meaning."""

from __future__ import annotations

import json
import shutil
import textwrap
from dataclasses import asdict

import click

from fraud.domain.reference import Entry, entries, markdown


@click.command()
@click.option(
    "--format",
    "shape",
    type=click.Choice(["table", "markdown", "json"]),
    default="table",
    show_default=True,
    help="A table for the terminal, the README's Markdown table, or JSON.",
)
def features(shape: str) -> None:
    """Every transaction field, behaviour feature and score a rule can read: name, type,
    unit and meaning.

    A rule reads them as `tx.NAME`, `features.NAME` and `score`, e.g.
    `tx.amount > 500.0 && features.new_merchant == 1.0`. Features are numbers (double)
    computed from the card's own earlier transactions; merchant_type and device_type are
    codes, listed in their unit.
    """
    if shape == "markdown":
        click.echo(markdown(), nl=False)
    elif shape == "json":
        click.echo(json.dumps([asdict(entry) for entry in entries()], indent=2))
    else:
        click.echo(table(entries(), shutil.get_terminal_size((120, 24)).columns))


def table(rows: tuple[Entry, ...], width: int) -> str:
    """Name, type and unit in columns; the meaning wrapped in what is left of the width."""
    name_width = max(len(row.name) for row in rows)
    type_width = max(len(row.type) for row in rows)
    unit_width = min(28, max(len(row.unit) for row in rows))
    indent = name_width + type_width + unit_width + 6
    meaning_width = max(30, width - indent)
    lines = [
        f"{'name':<{name_width}}  {'type':<{type_width}}  {'unit':<{unit_width}}  meaning",
    ]
    for row in rows:
        units = textwrap.wrap(row.unit, unit_width) or [""]
        meanings = textwrap.wrap(row.meaning, meaning_width) or [""]
        for n in range(max(len(units), len(meanings))):
            name = row.name if n == 0 else ""
            kind = row.type if n == 0 else ""
            unit = units[n] if n < len(units) else ""
            meaning = meanings[n] if n < len(meanings) else ""
            columns = f"{name:<{name_width}}  {kind:<{type_width}}  {unit:<{unit_width}}"
            lines.append(f"{columns}  {meaning}".rstrip())
    return "\n".join(lines)
