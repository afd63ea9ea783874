"""Options several commands share, and how they show the progress of long work."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
import structlog

from fraud.domain.errors import BadDataFile
from fraud.domain.ports import Progress
from fraud.domain.requests import BrokenRequest, RequestField
from fraud.entrypoints.cli.context import BadInput

log = structlog.get_logger("fraud.cli")
Row = TypeVar("Row")

PROGRESS_LOG_INTERVAL_S = 5.0


def model_dir_option(command: Any) -> Any:
    return click.option(
        "--model-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Model directory [default: $FRAUD_MODEL_DIR or var/model].",
    )(command)


def data_option(help_text: str, *, required: bool = True) -> Any:
    """``--data FILE``: an existing CSV file the command reads (gzipped if it ends in .gz)."""
    return click.option(
        "--data",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        required=required,
        default=None,
        help=help_text,
    )


def out_option(help_text: str) -> Any:
    """``--out FILE``: the file the command writes (its folder is made if needed)."""
    return click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        required=True,
        help=help_text,
    )


class Duration(click.ParamType):
    """A span of time as people write it: ``7d``, ``36h``, ``90m``, ``45s``."""

    name = "duration"
    UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value: Any, param: Any, ctx: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        unit = self.UNITS.get(text[-1:]) if text else None
        try:
            amount = float(text[:-1])
        except ValueError:
            amount = -1.0
        if unit is None or not 0 <= amount < 36_500 * 86_400 / unit:
            self.fail(f"{value!r} is not a duration: a number and s, m, h or d (7d, 36h)")
        return timedelta(seconds=amount * unit)


class FieldOf(click.ParamType):
    """A value held to a field of one of the domain's request contracts, so the command line
    refuses what the API refuses, in the same words. ``suffix``: a unit people may write
    after a number (``200/day``)."""

    def __init__(self, field: RequestField, suffix: str = "") -> None:
        self.field = field
        self.suffix = suffix
        self.name = field.type

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return self.field.parse(self._read(value))
        except BrokenRequest as broken:
            self.fail(f"{value!r}: {broken.errors[0].rule}")

    def _read(self, value: Any) -> Any:
        if not isinstance(value, str) or self.field.type not in ("integer", "number"):
            return value
        text = value.strip().lower().removesuffix(self.suffix).strip()
        try:
            return int(text) if self.field.type == "integer" else float(text)
        except ValueError:
            return text  # not a number: the field's rule says what it must be


def label_delay_option(help_text: str) -> Any:
    return click.option(
        "--label-delay", type=Duration(), default=None, metavar="DURATION", help=help_text
    )


def labels_option(command: Any) -> Any:
    return click.option(
        "--labels",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Label CSV (transaction_id,is_fraud,labelled_at) fed into the replay in event "
        "time, as the stream receives labels: each counts from its labelled_at on.",
    )(command)


def on_invalid_option(command: Any) -> Any:
    return click.option(
        "--on-invalid",
        type=click.Choice(["stop", "skip"]),
        default="stop",
        show_default=True,
        help="A file with invalid rows: stop (exit code 2, naming them) or skip them.",
    )(command)


def processes_option(command: Any) -> Any:
    return click.option(
        "--processes",
        type=click.IntRange(min=1),
        default=os.cpu_count() or 1,
        show_default="the CPU count",
        help="Replay in this many processes, each computing, scoring and explaining a part of "
        "the users (as partitions split them); the results are those of one process.",
    )(command)


Reader = Callable[[list[BadDataFile] | None], list[Row]]


def read_rows(path: Path, read: Reader[Row], on_invalid: str) -> list[Row]:
    """The file's valid rows. Invalid ones stop the command with how many there are and the
    first few by line and rule (exit 2), or with ``skip`` are left out and named on stderr."""
    skipped: list[BadDataFile] | None = [] if on_invalid == "skip" else None
    try:
        rows = read(skipped)
    except BadDataFile as error:
        raise BadInput(f"{error}\n(--on-invalid skip leaves invalid rows out)") from None
    if skipped:
        shown = "; ".join(
            f"line {row.line}: " + "; ".join(str(e) for e in row.errors) for row in skipped[:5]
        )
        more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        click.echo(f"{path}: skipped {len(skipped)} invalid rows ({shown}{more})", err=True)
        log.warning("invalid rows skipped", file=str(path), rows=len(skipped))
    return rows


@contextmanager
def progress(total: int | None, what: str, *, bar: bool) -> Iterator[Progress]:
    """A progress bar for a person at a terminal; otherwise a log event every few seconds.
    ``total`` None: a count without an end."""
    if bar:
        from tqdm import tqdm  # for a person at a terminal only

        with tqdm(total=total, desc=what, unit="txn", unit_scale=True, leave=False) as shown:
            yield shown.update
        return
    done = 0
    last = time.monotonic()

    def advance(count: int) -> None:
        nonlocal done, last
        done += count
        now = time.monotonic()
        if now - last >= PROGRESS_LOG_INTERVAL_S or (total is not None and done >= total):
            last = now
            log.info("progress", task=what, done=done, total=total)

    yield advance
