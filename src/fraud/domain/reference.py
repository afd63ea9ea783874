"""What a rule can read, generated from the contract and the feature table: name, type, unit
and meaning of every transaction field, behaviour feature and the score.

``fraud features``, the rule editor and the README print this one table, so none of them
can drift from the code; :func:`shown` words a feature's value for a person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fraud.domain.features import FEATURES, Feature, Unit
from fraud.domain.transaction import CONTRACT

# Every feature is a number to a rule, whatever it counts: CEL's double.
FEATURE_TYPE = "double"


@dataclass(frozen=True, slots=True)
class Entry:
    name: str  # as a rule writes it: tx.amount, features.count_1h, score
    type: str  # as CEL types it
    unit: str
    meaning: str


def entries() -> tuple[Entry, ...]:
    """The transaction's fields, its behaviour features and the score, in that order."""
    fields = tuple(
        Entry(f"tx.{field.name}", field.type, field.unit, field.meaning) for field in CONTRACT
    )
    features = tuple(
        Entry(f"features.{feature.name}", FEATURE_TYPE, _unit(feature), feature.description)
        for feature in FEATURES
    )
    score = Entry("score", "double", "probability, 0 to 1", "the model's fraud score")
    return (*fields, *features, score)


def _unit(feature: Feature) -> str:
    if feature.unit is Unit.CODE:
        return ", ".join(f"{code} {word}" for code, word in enumerate(feature.vocabulary))
    return str(feature.unit.value)


def markdown() -> str:
    """The table as the README holds it."""
    lines = ["| name | type | unit | meaning |", "|---|---|---|---|"]
    lines += [
        f"| `{entry.name}` | {entry.type} | {entry.unit} | {entry.meaning} |" for entry in entries()
    ]
    return "\n".join(lines) + "\n"


_FEATURE = {feature.name: feature for feature in FEATURES}


def shown(name: str, value: float, currency: str = "") -> str:
    """A feature's value in words: ``"90 d"`` rather than ``7.776e+06``, ``"online"`` rather
    than ``0``, ``"yes"`` rather than ``1``."""
    feature = _FEATURE.get(name)
    if feature is None or not math.isfinite(value):
        return f"{value:.4g}"
    unit = feature.unit
    if unit is Unit.CODE:
        code = int(value)
        return feature.vocabulary[code] if 0 <= code < len(feature.vocabulary) else f"{value:g}"
    if unit is Unit.FLAG:
        return "yes" if value else "no"
    if unit is Unit.SECONDS:
        return duration(value)
    if unit is Unit.MONEY:
        return f"{value:,.2f} {currency}".rstrip()
    if unit is Unit.RATIO:
        return f"{value:.2f}x"
    if unit is Unit.SHARE:
        return f"{100 * value:.1f}%"
    if unit is Unit.ANGLE:
        return f"{value:.3f}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def duration(seconds: float) -> str:
    """A span for a person, to the unit that reads best: ``45 s``, ``12 min``, ``3.5 h``,
    ``90 d``."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{seconds:.0f} s"
