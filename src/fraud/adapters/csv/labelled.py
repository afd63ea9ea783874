"""Labelled transaction files: CSV with the contract's columns plus ``is_fraud``.

Reading is strict about what matters and lenient about what does not: every
row must pass :meth:`Transaction.parse`, and the first one that does not stops
the read with its line number and each broken rule, because training on a
silently skipped or half-parsed file gives a model nobody can trust. Column
order, extra columns, a UTF-8 byte-order mark and ``true``/``false`` flags are
accepted, since spreadsheets and other tools produce them.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraud.domain.errors import FieldError, InvalidTransaction
from fraud.domain.model import LabelledTransaction
from fraud.domain.transaction import FIELDS, Transaction, format_instant

LABEL = "is_fraud"
COLUMNS: tuple[str, ...] = (*FIELDS, LABEL)
OPTIONAL_COLUMNS = frozenset({"transaction_id", "currency"})
FLAG_RULE = "must be 0, 1, true or false"
_FLAGS = {"1": True, "true": True, "0": False, "false": False}

if TYPE_CHECKING:
    from _csv import Reader

PathLike = str | os.PathLike[str]


class BadLabelledFile(ValueError):
    """A file that cannot be used as it is: says where (line) and what (field and rule)."""

    def __init__(
        self,
        path: PathLike,
        problem: str,
        *,
        line: int | None = None,
        errors: Iterable[FieldError] = (),
    ) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.errors = tuple(errors)
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {problem}")


def read_labelled(path: PathLike) -> list[LabelledTransaction]:
    """Every row of a labelled file, validated, in file order."""
    return [
        LabelledTransaction(transaction, bool(label))
        for transaction, label in _read(path, labelled=True)
    ]


def read_transactions(path: PathLike) -> list[Transaction]:
    """Every row of a transaction file, validated, in file order; ``is_fraud`` is not needed."""
    return [transaction for transaction, _ in _read(path, labelled=False)]


def write_labelled(path: PathLike, rows: Iterable[LabelledTransaction]) -> int:
    """Write a labelled file that :func:`read_labelled` reads back unchanged; returns the rows."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with target.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for row in rows:
            txn = row.transaction
            writer.writerow(
                (
                    txn.transaction_id,
                    txn.user_id,
                    _format_amount(txn.amount),
                    txn.currency,
                    txn.merchant,
                    format_instant(txn.timestamp),
                    txn.merchant_type,
                    txn.device_type,
                    int(txn.location_match),
                    int(row.is_fraud),
                )
            )
            written += 1
    return written


def _format_amount(amount: float) -> str:
    """Money as money (``12.30``), unless that would lose precision the value has."""
    cents = f"{amount:.2f}"
    return cents if float(cents) == amount else repr(amount)


def _read(path: PathLike, *, labelled: bool) -> Iterator[tuple[Transaction, bool | None]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            try:
                yield from _rows(path, reader, labelled=labelled)
            except csv.Error as error:
                raise BadLabelledFile(
                    path, f"is not valid CSV ({error})", line=reader.line_num
                ) from error
    except UnicodeDecodeError:
        raise BadLabelledFile(path, "is not UTF-8 text") from None


def _rows(
    path: PathLike, reader: Reader, *, labelled: bool
) -> Iterator[tuple[Transaction, bool | None]]:
    header = next(reader, None)
    if header is None:
        raise BadLabelledFile(path, "is empty; expected a header row naming the columns")
    position: dict[str, int] = {}
    for index, name in enumerate(header):
        position.setdefault(name.strip().lower(), index)
    wanted = COLUMNS if labelled else FIELDS
    missing = [c for c in wanted if c not in position and c not in OPTIONAL_COLUMNS]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise BadLabelledFile(
            path, f"missing required column{plural}: {', '.join(missing)}", line=reader.line_num
        )
    columns = [(name, position[name]) for name in wanted if name in position]

    for row in reader:
        if not row:
            continue  # a blank line
        line = reader.line_num
        cells = {name: row[i].strip() if i < len(row) else "" for name, i in columns}
        yield _parse_row(path, line, cells, labelled=labelled)


def _parse_row(
    path: PathLike, line: int, cells: dict[str, str], *, labelled: bool
) -> tuple[Transaction, bool | None]:
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
    if labelled:
        raw_label = fields.get(LABEL)
        if raw_label is None:
            errors.append(FieldError(LABEL, "is required"))
        elif raw_label.lower() in _FLAGS:
            label = _FLAGS[raw_label.lower()]
        else:
            errors.append(FieldError(LABEL, FLAG_RULE))
    if errors or transaction is None:
        problem = "; ".join(str(error) for error in errors)
        raise BadLabelledFile(path, problem, line=line, errors=errors)
    return transaction, label


def _number(text: str) -> float | str:
    """A float when the text is one; otherwise the text, for the contract to reject by name."""
    try:
        return float(text)
    except ValueError:
        return text
