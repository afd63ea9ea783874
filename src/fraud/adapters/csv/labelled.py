"""Labelled transaction files: CSV with the contract's columns plus ``is_fraud``.

Reading is strict about what matters and lenient about what does not: every
row must pass :meth:`Transaction.parse`, and the first one that does not stops
the read with its line number and each broken rule, because training on a
silently skipped or half-parsed file gives a model nobody can trust. Column
order, extra columns, a UTF-8 byte-order mark and ``true``/``false`` flags are
accepted, since spreadsheets and other tools produce them, and a ``.gz`` file is read
through gzip.

Text cells are written so that no spreadsheet runs them as a formula, and read back as
they were (:mod:`fraud.adapters.csv.formulas`): an export opened by an analyst cannot run
what a client put in a merchant name, and an export read back is what was exported.
"""

from __future__ import annotations

import csv
import gzip
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from fraud.adapters.csv.formulas import Cell, spreadsheet_row, unescape_formula
from fraud.domain.assessment import Assessment
from fraud.domain.errors import BadDataFile, FieldError, InvalidTransaction
from fraud.domain.label_risk import KnownLabel
from fraud.domain.model import LabelledTransaction
from fraud.domain.transaction import FIELDS, Transaction, format_instant, parse_instant

LABEL = "is_fraud"
LABELLED_AT = "labelled_at"
COLUMNS: tuple[str, ...] = (*FIELDS, LABEL, LABELLED_AT)
LABEL_COLUMNS = ("transaction_id", LABEL, LABELLED_AT)
VERDICT_COLUMNS = ("transaction_id", "fraud_score", "decision", "reasons")
OPTIONAL_COLUMNS = frozenset({"transaction_id", "currency", LABELLED_AT})
INSTANT_RULE = "must be an ISO 8601 time with a time zone"
FLAG_RULE = "must be 0, 1, true or false"
_FLAGS = {"1": True, "true": True, "0": False, "false": False}

if TYPE_CHECKING:
    from _csv import Reader

PathLike = str | os.PathLike[str]
T = TypeVar("T")


def read_labelled(
    path: PathLike, *, skipped: list[BadDataFile] | None = None
) -> list[LabelledTransaction]:
    """Every row of a labelled file, validated, in file order.

    A file with invalid rows is refused, naming how many and the first few by line
    and rule; given a ``skipped`` list, those rows are left out and listed there instead.
    """
    return [
        LabelledTransaction(transaction, bool(label), labelled_at)
        for transaction, label, labelled_at in _valid_rows(path, labelled=True, skipped=skipped)
    ]


def read_transactions(
    path: PathLike, *, skipped: list[BadDataFile] | None = None
) -> list[Transaction]:
    """Every row of a transaction file, validated, in file order; ``is_fraud`` is not needed.
    Invalid rows as in :func:`read_labelled`."""
    return [transaction for transaction, _, _ in _valid_rows(path, labelled=False, skipped=skipped)]


def read_labels(path: PathLike, *, skipped: list[BadDataFile] | None = None) -> list[KnownLabel]:
    """Every row of a label file (``transaction_id,is_fraud,labelled_at``), validated, in file
    order; invalid rows as in :func:`read_labelled`."""
    return _valid(path, lambda reader: _label_rows(path, reader), skipped)


def write_labelled(path: PathLike, rows: Iterable[LabelledTransaction]) -> int:
    """Write a labelled file that :func:`read_labelled` reads back unchanged; returns the rows."""
    return _write(
        path,
        COLUMNS,
        (
            (
                row.transaction.transaction_id,
                row.transaction.user_id,
                _format_amount(row.transaction.amount),
                row.transaction.currency,
                row.transaction.merchant,
                format_instant(row.transaction.timestamp),
                row.transaction.merchant_type,
                row.transaction.device_type,
                int(row.transaction.location_match),
                int(row.is_fraud),
                format_instant(row.labelled_at) if row.labelled_at else "",
            )
            for row in rows
        ),
    )


def write_verdicts(path: PathLike, verdicts: Iterable[Assessment]) -> int:
    """Each verdict's transaction id, score (exact: ``repr``), decision and reasons; returns
    the rows."""
    return _write(path, VERDICT_COLUMNS, map(_verdict_row, verdicts))


def _verdict_row(assessment: Assessment) -> tuple[Cell, ...]:
    return (
        assessment.transaction_id,
        assessment.fraud_score,  # a float: written as its repr
        assessment.decision.value,
        "; ".join(assessment.reasons),
    )


def _write(path: PathLike, header: Iterable[str], rows: Iterable[Iterable[Cell]]) -> int:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with target.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            writer.writerow(spreadsheet_row(row))
            written += 1
    return written


class CsvFiles:
    """The ``LabelledFiles`` port on CSV files."""

    def read_labelled(
        self, path: Path, *, skipped: list[BadDataFile] | None = None
    ) -> list[LabelledTransaction]:
        return read_labelled(path, skipped=skipped)

    def read_transactions(
        self, path: Path, *, skipped: list[BadDataFile] | None = None
    ) -> list[Transaction]:
        return read_transactions(path, skipped=skipped)

    def read_labels(
        self, path: Path, *, skipped: list[BadDataFile] | None = None
    ) -> list[KnownLabel]:
        return read_labels(path, skipped=skipped)

    def write_labelled(self, path: Path, rows: Iterable[LabelledTransaction]) -> int:
        return write_labelled(path, rows)

    def write_verdicts(self, path: Path, verdicts: Iterable[Assessment]) -> int:
        return write_verdicts(path, verdicts)


def _format_amount(amount: float) -> Decimal:
    """Money as money (``12.30``), unless that would lose precision the value has; a number,
    so the writer leaves it as it is."""
    cents = f"{amount:.2f}"
    return Decimal(cents if float(cents) == amount else repr(amount))


Row = tuple[Transaction, bool | None, datetime | None]


def _valid_rows(path: PathLike, *, labelled: bool, skipped: list[BadDataFile] | None) -> list[Row]:
    return _valid(path, lambda reader: _rows(path, reader, labelled=labelled), skipped)


def _valid(
    path: PathLike,
    rows: Callable[[Reader], Iterator[T | BadDataFile]],
    skipped: list[BadDataFile] | None,
) -> list[T]:
    valid: list[T] = []
    invalid: list[BadDataFile] = []
    for row in _read(path, rows):
        if isinstance(row, BadDataFile):
            invalid.append(row)
        else:
            valid.append(row)
    if invalid and skipped is None:
        raise _summary(path, invalid)
    if skipped is not None:
        skipped.extend(invalid)
    return valid


SHOWN_INVALID_ROWS = 5


def _summary(path: PathLike, invalid: list[BadDataFile]) -> BadDataFile:
    """One error for every invalid row: how many, and the first few by line and rule."""
    first = invalid[0]
    shown = "; ".join(
        f"line {row.line}: " + "; ".join(str(e) for e in row.errors)
        for row in invalid[:SHOWN_INVALID_ROWS]
    )
    more = len(invalid) - SHOWN_INVALID_ROWS
    count = f"{len(invalid)} invalid row{'s' if len(invalid) > 1 else ''}"
    return BadDataFile(
        path,
        f"{count} ({shown}{f'; and {more} more' if more > 0 else ''})",
        line=first.line,
        errors=first.errors,
    )


def _read(
    path: PathLike, rows: Callable[[Reader], Iterator[T | BadDataFile]]
) -> Iterator[T | BadDataFile]:
    try:
        with _open_text(path) as file:
            reader = csv.reader(file)
            try:
                yield from rows(reader)
            except csv.Error as error:
                raise BadDataFile(
                    path, f"is not valid CSV ({error})", line=reader.line_num
                ) from error
    except UnicodeDecodeError:
        raise BadDataFile(path, "is not UTF-8 text") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise BadDataFile(path, f"is not a whole gzip file ({error})") from None


def _open_text(path: PathLike) -> TextIO:
    """The file's text; a name ending in ``.gz`` is read through gzip, as published data
    sets come."""
    if os.fspath(path).endswith(".gz"):
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig")
    return open(path, newline="", encoding="utf-8-sig")


def _cells(
    path: PathLike, reader: Reader, wanted: tuple[str, ...], optional: frozenset[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Each non-blank row's line and its wanted columns' text, by column name."""
    header = next(reader, None)
    if header is None:
        raise BadDataFile(path, "is empty; expected a header row naming the columns")
    position: dict[str, int] = {}
    for index, name in enumerate(header):
        position.setdefault(name.strip().lower(), index)
    missing = [c for c in wanted if c not in position and c not in optional]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise BadDataFile(
            path, f"missing required column{plural}: {', '.join(missing)}", line=reader.line_num
        )
    columns = [(name, position[name]) for name in wanted if name in position]
    for row in reader:
        if row:  # else a blank line
            yield (
                reader.line_num,
                {name: _text(row, i) for name, i in columns},
            )


def _text(row: list[str], index: int) -> str:
    """A cell's text as it was written: surrounding spaces and a formula's text mark off."""
    return unescape_formula(row[index].strip()) if index < len(row) else ""


def _rows(path: PathLike, reader: Reader, *, labelled: bool) -> Iterator[Row | BadDataFile]:
    for line, cells in _cells(path, reader, COLUMNS if labelled else FIELDS, OPTIONAL_COLUMNS):
        try:
            yield _parse_row(path, line, cells, labelled=labelled)
        except BadDataFile as invalid:
            yield invalid


def _label_rows(path: PathLike, reader: Reader) -> Iterator[KnownLabel | BadDataFile]:
    for line, cells in _cells(path, reader, LABEL_COLUMNS, frozenset()):
        errors: list[FieldError] = []
        if not cells["transaction_id"]:
            errors.append(FieldError("transaction_id", "is required"))
        label = _flag(cells[LABEL], errors)
        labelled_at = _instant(cells[LABELLED_AT], errors, required=True)
        if errors or label is None or labelled_at is None:
            problem = "; ".join(str(error) for error in errors)
            yield BadDataFile(path, problem, line=line, errors=errors)
        else:
            yield KnownLabel(cells["transaction_id"], label, labelled_at)


def _flag(text: str, errors: list[FieldError]) -> bool | None:
    if not text:
        errors.append(FieldError(LABEL, "is required"))
    elif text.lower() in _FLAGS:
        return _FLAGS[text.lower()]
    else:
        errors.append(FieldError(LABEL, FLAG_RULE))
    return None


def _instant(text: str, errors: list[FieldError], *, required: bool) -> datetime | None:
    if not text:
        if required:
            errors.append(FieldError(LABELLED_AT, "is required"))
        return None
    try:
        return parse_instant(text)
    except ValueError:
        errors.append(FieldError(LABELLED_AT, INSTANT_RULE))
        return None


def _parse_row(path: PathLike, line: int, cells: dict[str, str], *, labelled: bool) -> Row:
    fields: dict[str, Any] = {name: text for name, text in cells.items() if text}
    if "amount" in fields:
        fields["amount"] = _number(fields["amount"])
    if "location_match" in fields:
        fields["location_match"] = _FLAGS.get(
            fields["location_match"].lower(), fields["location_match"]
        )

    errors: list[FieldError] = []
    transaction: Transaction | None = None
    try:
        transaction = Transaction.parse(fields, new_id=lambda: f"row-{line}")
    except InvalidTransaction as invalid:
        errors.extend(invalid.errors)
    label: bool | None = None
    labelled_at: datetime | None = None
    if labelled:
        label = _flag(cells.get(LABEL, ""), errors)
        labelled_at = _instant(cells.get(LABELLED_AT, ""), errors, required=False)
    if errors or transaction is None:
        problem = "; ".join(str(error) for error in errors)
        raise BadDataFile(path, problem, line=line, errors=errors)
    return transaction, label, labelled_at


def _number(text: str) -> float | str:
    """A float when the text is one; otherwise the text, for the contract to reject by name."""
    try:
        return float(text)
    except ValueError:
        return text
