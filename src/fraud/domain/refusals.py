"""Data quality: what each refused transaction broke, as a field and a rule from fixed sets,
so that refusals can be counted per field and rule however many arrive.

A rule's text for the client names values (the currency's minor unit, the latest instant
the timestamp may have): counted by that text, every currency and every second would be a
series of its own. Each text is counted under the short name of the rule it words; a text
no entry words, and a field outside the contract, fall under ``other``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from fraud.domain.errors import FieldError
from fraud.domain.transaction import FIELDS

OTHER = "other"
# What a refusal names when the whole body is at fault (not JSON, not an object).
BODY = "body"
REFUSED_FIELDS = frozenset((*FIELDS, BODY))

# How each rule of the contract begins (domain/transaction.py words them), and its name.
RULES: tuple[tuple[str, str], ...] = (
    ("is required", "required"),
    ("must be a string", "type"),
    ("must be a number", "type"),
    ("must be an ISO 8601 string", "type"),
    ("must be a JSON object", "type"),
    ("must be 1 to ", "length"),
    ("must contain only printable characters", "printable"),
    ("must not be blank", "blank"),
    ("must be a finite number", "finite"),
    ("must be 0 or more", "negative"),
    ("must be at most ", "too_large"),
    ("must be a whole number of ", "minor_unit"),
    ("must be 0, or at least ", "minor_unit"),
    ("must be an ISO 4217 currency code", "currency_code"),
    ("must be ISO 8601", "iso_8601"),
    ("must include a time zone", "time_zone"),
    ("must be an instant between", "out_of_range"),
    ("must be no later than ", "in_the_future"),
    ("must be 0, 1, true or false", "flag"),
)
RULE_NAMES = frozenset(name for _, name in RULES) | {"malformed", OTHER}

Refusal = tuple[str, str]  # (field, rule)


def refusal(error: FieldError) -> Refusal:
    """The field and the rule one error names, each from its fixed set."""
    field = error.field if error.field in REFUSED_FIELDS else OTHER
    for beginning, name in RULES:
        if error.rule.startswith(beginning):
            return field, name
    return field, OTHER


def refusals(errors: Iterable[FieldError]) -> Counter[Refusal]:
    """How many times each (field, rule) was broken."""
    return Counter(refusal(error) for error in errors)


MALFORMED: Refusal = (BODY, "malformed")  # a message whose value is not a JSON object
