"""A request's contract, said once and owned by the domain: each field's JSON type, bounds
and meaning, beside the rule that holds a value to them. The domain parses a request with
it, naming every broken field at once in the words the client reads (as transaction.py
does); the API documents the body from the same fields, and the command line parses its
options through them, so the three cannot drift apart."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fraud.domain.errors import FieldError

Value = int | float | str | bool


class BrokenRequest(ValueError):
    """A request that breaks its contract; carries one error per offending field."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


class _RuleBroken(ValueError):
    """Raised by a field's check; its message is the rule, worded for the client."""


@dataclass(frozen=True, slots=True)
class RequestField:
    """One field of a request: its JSON type (``integer``, ``number``, ``string`` or
    ``boolean``), what it means, and the bounds a value must keep (``minimum`` and
    ``maximum`` inclusive unless ``exclusive``)."""

    name: str
    type: str
    meaning: str
    unit: str = ""  # what a number counts, as the rule says it: "days"
    required: bool = False
    default: Value | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive: bool = False
    choices: tuple[str, ...] = ()

    @property
    def rule(self) -> str:
        """What a value must be, as the client reads it."""
        if self.type == "boolean":
            return "must be true or false"
        if self.type == "string":
            if self.choices:
                return f"must be one of {', '.join(self.choices)}"
            return "must be a non-empty string"
        kind = "a whole number" if self.type == "integer" else "a number"
        counted = f"{kind} of {self.unit}" if self.unit else kind
        return f"must be {counted} {self._range()}".rstrip()

    def _range(self) -> str:
        low, high = _figure(self.minimum), _figure(self.maximum)
        if self.exclusive:
            above = f"above {low}" if self.minimum is not None else ""
            below = f"below {high}" if self.maximum is not None else ""
            return " and ".join(part for part in (above, below) if part)
        if self.minimum is not None and self.maximum is not None:
            return f"from {low} to {high}"
        return f"of at least {low}" if self.minimum is not None else ""

    def check(self, value: object) -> Any:
        """``value`` held to the rule: the parsed value, or a ``_RuleBroken``."""
        if self.type == "boolean":
            if not isinstance(value, bool):
                raise _RuleBroken(self.rule)
            return value
        if self.type == "string":
            return self._text(value)
        return self._number(value)

    def _text(self, value: object) -> str:
        if not isinstance(value, str) or not value:
            raise _RuleBroken(self.rule)
        if not self.choices:
            return value
        chosen = value.strip().lower()
        if chosen not in self.choices:
            raise _RuleBroken(self.rule)
        return chosen

    def _number(self, value: object) -> int | float:
        whole = self.type == "integer"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _RuleBroken(self.rule)
        if (whole and not isinstance(value, int)) or not math.isfinite(value):
            raise _RuleBroken(self.rule)
        if not self._within(value):
            raise _RuleBroken(self.rule)
        return int(value) if whole else float(value)

    def _within(self, value: float) -> bool:
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        return low < value < high if self.exclusive else low <= value <= high

    def parse(self, value: object) -> Any:
        """One value on its own (a command-line option): parsed, or BrokenRequest."""
        try:
            return self.check(value)
        except _RuleBroken as broken:
            raise BrokenRequest([FieldError(self.name, str(broken))]) from None


@dataclass(frozen=True, slots=True)
class RequestContract:
    """The fields a request may carry. ``closed``: a field it does not name is refused (a
    misspelt one would otherwise be dropped without a word)."""

    fields: tuple[RequestField, ...]
    closed: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    def field(self, name: str) -> RequestField:
        return next(field for field in self.fields if field.name == name)

    def parse(self, data: object) -> dict[str, Any]:
        """Every field given parsed, defaults filled in; one BrokenRequest naming every
        field that breaks its rule (null counts as not given)."""
        values, errors = self.read(data)
        if errors:
            raise BrokenRequest(errors)
        return values

    def read(self, data: object) -> tuple[dict[str, Any], list[FieldError]]:
        """The fields that keep their rules, and an error for each one that does not: for a
        request whose fields also have rules together, reported with these at once."""
        if not isinstance(data, Mapping):
            raise BrokenRequest([FieldError("body", "must be a JSON object")])
        errors = []
        if self.closed:
            errors = [
                FieldError(str(name), f"is not one of {', '.join(self.names)}")
                for name in data
                if name not in self.names
            ]
        values: dict[str, Any] = {}
        for field in self.fields:
            if field.name not in data:  # left out; an explicit null breaks the field's rule
                if field.required:
                    errors.append(FieldError(field.name, f"is required: it {field.rule}"))
                elif field.default is not None:
                    values[field.name] = field.default
                continue
            try:
                values[field.name] = field.check(data[field.name])
            except _RuleBroken as broken:
                errors.append(FieldError(field.name, str(broken)))
        return values, errors


def _figure(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"
