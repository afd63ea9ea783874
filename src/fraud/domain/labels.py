"""Analyst feedback: the body of a label request, validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fraud.domain.errors import FieldError, InvalidLabel

ANALYST_MAX_LENGTH = 64  # a subject: a name of up to 60 characters, or ``key:`` and one


@dataclass(frozen=True, slots=True)
class LabelRequest:
    """What an analyst says about a transaction. Who says it is never part of the request:
    it is whoever the request is authenticated as."""

    is_fraud: bool

    @classmethod
    def parse(cls, data: Any) -> LabelRequest:
        """Validate a decoded JSON body: ``is_fraud`` a boolean, and no ``analyst``.
        Raises :class:`InvalidLabel` naming every offending field."""
        if not isinstance(data, Mapping):
            raise InvalidLabel([FieldError("body", "must be a JSON object")])
        errors: list[FieldError] = []
        is_fraud = data.get("is_fraud")
        if is_fraud is None:
            errors.append(FieldError("is_fraud", "is required"))
        elif not isinstance(is_fraud, bool):
            errors.append(FieldError("is_fraud", "must be true or false"))
        if "analyst" in data:
            errors.append(
                FieldError("analyst", "is who signed in (or the key's name); leave it out")
            )
        if errors:
            raise InvalidLabel(errors)
        return cls(is_fraud=bool(is_fraud))
