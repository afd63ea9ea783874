"""Text cells that a spreadsheet would run as a formula: written as text, read back as they were.

Excel, LibreOffice and Google Sheets take a cell that starts with ``=``, ``+``, ``-`` or
``@`` for a formula, and look past a leading tab, carriage return or line feed for one
(OWASP, "CSV Injection"); Excel in East Asian locales also takes their full-width forms.
A merchant named ``=cmd|' /C calc'!A0`` in an export would run a program on the analyst's
machine that opens it. So every text cell we write that starts with one of those gets an
apostrophe in front: the spreadsheets' own mark for "this is text", which they hide when
they show the cell. A text cell that already starts with an apostrophe gets one more, so
a reader takes exactly one off and ``unescape_formula(escape_formula(text)) == text`` for
any text.

Numbers are not text: a cell given as a number (an ``int``, a ``float``, a ``Decimal``) is
written as it is, so a negative number stays a number in the spreadsheet.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

TEXT_MARK = "'"
FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")  # full-width = + - @
_MARKED = FORMULA_STARTS | {TEXT_MARK}

Cell = str | int | float | Decimal


def escape_formula(text: str) -> str:
    """The text as a cell no spreadsheet runs: marked as text when it starts like a formula
    (or with the mark itself)."""
    return TEXT_MARK + text if text[:1] in _MARKED else text


def unescape_formula(cell: str) -> str:
    """The text :func:`escape_formula` was given: one text mark taken off a cell it marked."""
    return cell[1:] if cell[:1] == TEXT_MARK and cell[1:2] in _MARKED else cell


def spreadsheet_row(cells: Iterable[Cell]) -> list[Cell]:
    """A row to write: its text escaped, its numbers as they are."""
    return [escape_formula(cell) if isinstance(cell, str) else cell for cell in cells]
