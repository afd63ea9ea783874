"""CSV formula injection (issue 24, finding 7): no cell we write starts like a formula, and
every reader gives back the value as it was before it was written."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from fraud.adapters.csv.formulas import (
    FORMULA_STARTS,
    escape_formula,
    spreadsheet_row,
    unescape_formula,
)
from fraud.adapters.csv.labelled import (
    LABEL_COLUMNS,
    read_labelled,
    read_labels,
    write_labelled,
    write_verdicts,
)
from fraud.domain.assessment import Assessment, Decision
from fraud.domain.model import LabelledTransaction
from tests.factories import txn

# What the review sent, and the rest of OWASP's list.
FORMULAS = ("=cmd|' /C calc'!A0", "@SUM(1+1)", "+1", "-1", "\t=1", "\r=1")
SCORED_AT = datetime(2025, 3, 1, 10, tzinfo=UTC)


def cells(path: Path) -> list[str]:
    """Every cell of a file as a spreadsheet importing it sees it."""
    with path.open(newline="", encoding="utf-8") as file:
        return [cell for row in csv.reader(file) for cell in row]


def starts_like_a_formula(cell: str) -> bool:
    return cell[:1] in FORMULA_STARTS


@pytest.mark.parametrize(
    "text",
    [*FORMULAS, "\n=1", "\uff1d1", "'=1", "'", "''", "'plain", "plain", "", "12.50", "a=b"],
)
def test_escaping_is_undone_by_unescaping_and_never_leaves_a_formula(text: str) -> None:
    escaped = escape_formula(text)
    assert not starts_like_a_formula(escaped)
    assert unescape_formula(escaped) == text


def test_only_text_that_starts_like_a_formula_or_with_the_mark_is_marked() -> None:
    assert escape_formula("=1") == "'=1"
    assert escape_formula("'=1") == "''=1"  # so reading takes off exactly one
    assert escape_formula("Corner Grocery") == "Corner Grocery"
    assert escape_formula("O'Brien's") == "O'Brien's"


def test_numbers_are_written_as_numbers_and_text_that_looks_like_one_is_marked() -> None:
    assert spreadsheet_row(["-1", -1, -2.5, Decimal("-3.10"), "x"]) == [
        "'-1",
        -1,
        -2.5,
        Decimal("-3.10"),
        "x",
    ]


def test_an_exported_labelled_file_runs_no_formula_and_reads_back_the_same(
    tmp_path: Path,
) -> None:
    rows = [
        LabelledTransaction(
            txn(
                n,
                transaction_id=formula,
                user_id=formula,
                merchant=formula,
                merchant_type=formula,
                device_type=formula,
            ),
            n % 2 == 0,
            SCORED_AT,
        )
        for n, formula in enumerate(FORMULAS[:4])  # the contract refuses tabs and CRs
    ]
    path = tmp_path / "labels.csv"

    write_labelled(path, rows)

    assert not [cell for cell in cells(path) if starts_like_a_formula(cell)]
    assert "'=cmd|' /C calc'!A0" in cells(path)
    assert read_labelled(path) == rows


def test_a_verdict_file_runs_no_formula_and_keeps_each_value(tmp_path: Path) -> None:
    verdicts = [
        Assessment(FORMULAS[n % 4], 0.25, Decision.REVIEW, (formula, "+2"), "m1", SCORED_AT)
        for n, formula in enumerate(FORMULAS)
    ]
    path = tmp_path / "verdicts.csv"

    write_verdicts(path, verdicts)

    written = cells(path)
    assert not [cell for cell in written if starts_like_a_formula(cell)]
    with path.open(newline="", encoding="utf-8") as file:
        read = [[unescape_formula(cell) for cell in row] for row in list(csv.reader(file))[1:]]
    assert [(row[0], row[3]) for row in read] == [
        (FORMULAS[n % 4], f"{formula}; +2") for n, formula in enumerate(FORMULAS)
    ]
    assert {row[1] for row in read} == {"0.25"}  # the score, a number, as it was


def test_a_label_file_written_safely_is_read_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "chargebacks.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(LABEL_COLUMNS)
        for formula in FORMULAS:
            writer.writerow(spreadsheet_row([formula, 1, "2025-03-01T10:00:00Z"]))

    assert not [cell for cell in cells(path) if starts_like_a_formula(cell)]
    assert [label.transaction_id for label in read_labels(path)] == list(FORMULAS)
