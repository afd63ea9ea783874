"""Analyst feedback: the body of a label request, validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fraud.domain.errors import FieldError, InvalidLabel

ANONYMOUS = "anonymous"
ANALYST_MAX_LENGTH = 64


@dataclass(frozen=True, slots=True)
class LabelRequest:
    """What an analyst says about a transaction, before it is stamped with a time."""

    is_fraud: bool
    analyst: str

    @classmethod
    def parse(cls, data: Any, *, default_analyst: str | None = None) -> LabelRequest:
        """Validate a decoded JSON body: ``is_fraud`` a boolean, ``analyst`` optional.

        The analyst defaults to ``default_analyst`` (e.g. a request header), then
        to ``anonymous``. Raises :class:`InvalidLabel` naming every offending field.
        """
        if not isinstance(data, Mapping):
            raise InvalidLabel([FieldError("body", "must be a JSON object")])
        errors: list[FieldError] = []
        is_fraud = data.get("is_fraud")
        if is_fraud is None:
            errors.append(FieldError("is_fraud", "is required"))
        elif not isinstance(is_fraud, bool):
            errors.append(FieldError("is_fraud", "must be true or false"))
        analyst = data.get("analyst")
        if analyst is None:
            analyst = default_analyst if default_analyst is not None else ANONYMOUS
        rule = _analyst_rule(analyst)
        if rule is not None:
            errors.append(FieldError("analyst", rule))
        if errors:
            raise InvalidLabel(errors)
        return cls(is_fraud=bool(is_fraud), analyst=str(analyst))


def _analyst_rule(value: Any) -> str | None:
    """The rule ``value`` breaks as an analyst name, or None when it is a good one."""
    if not isinstance(value, str):
        return "must be a string"
    if not 1 <= len(value) <= ANALYST_MAX_LENGTH:
        return f"must be 1 to {ANALYST_MAX_LENGTH} characters long"
    if not value.isprintable():
        return "must contain only printable characters"
    return None
