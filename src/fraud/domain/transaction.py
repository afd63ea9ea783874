"""The card transaction: a validated value object that follows DESIGN.md's contract."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fraud.domain.currencies import ISO_4217_CODES, minor_unit_digits
from fraud.domain.errors import FieldError, InvalidTransaction

KNOWN_MERCHANT_TYPES = (
    "online",
    "retail",
    "restaurant",
    "grocery",
    "gas",
    "travel",
    "entertainment",
)
KNOWN_DEVICE_TYPES = ("mobile", "desktop", "tablet", "pos")
OTHER = "other"
# The categories the features tell apart: the known ones and other.
MERCHANT_TYPES = (*KNOWN_MERCHANT_TYPES, OTHER)
DEVICE_TYPES = (*KNOWN_DEVICE_TYPES, OTHER)
# Each category's position in its list: its code wherever a number stands for it.
MERCHANT_TYPE_CODE = {name: code for code, name in enumerate(MERCHANT_TYPES)}
DEVICE_CODE = {name: code for code, name in enumerate(DEVICE_TYPES)}

MAX_AMOUNT = 1_000_000_000
MAX_ID_LENGTH = 64
MAX_MERCHANT_LENGTH = 128
MAX_CATEGORY_LENGTH = 64
DEFAULT_CURRENCY = "USD"
# How far a transaction's timestamp may run ahead of its receipt: clocks drift, time
# travel does not happen. A later timestamp would move the service's event-time clock.
DEFAULT_MAX_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ContractField:
    """A field of the contract as a reader of a stored transaction (a rule, an analyst) sees
    it: its type as a rule reads it, its unit and what it means."""

    name: str
    type: str
    unit: str
    meaning: str


CONTRACT: tuple[ContractField, ...] = (
    ContractField("transaction_id", "string", "", "the client's idempotency key, or one made"),
    ContractField("user_id", "string", "", "the card holder (the card) it is charged to"),
    ContractField("amount", "double", "the currency's units", "what the purchase costs"),
    ContractField("currency", "string", "ISO 4217 code", "the amount's currency"),
    ContractField("merchant", "string", "", "who is paid"),
    ContractField(
        "timestamp", "string", "ISO 8601, UTC", "when the card was used, as the client says"
    ),
    ContractField(
        "merchant_type",
        "string",
        "",
        f"lower-cased; {', '.join(KNOWN_MERCHANT_TYPES)}, or anything else (the features "
        "read it as other)",
    ),
    ContractField(
        "device_type",
        "string",
        "",
        f"lower-cased; {', '.join(KNOWN_DEVICE_TYPES)}, or anything else (other)",
    ),
    ContractField(
        "location_match", "int", "1 yes, 0 no", "the purchase happens where the card holder is"
    ),
)
# The contract's fields in its order: JSON bodies, CSV files and the OpenAPI document.
FIELDS: tuple[str, ...] = tuple(field.name for field in CONTRACT)


@dataclass(frozen=True, slots=True)
class Transaction:
    """A card payment as the service sees it. Build one with :meth:`parse`."""

    transaction_id: str
    user_id: str
    amount: float
    merchant: str
    timestamp: datetime
    merchant_type: str
    device_type: str
    location_match: bool
    currency: str = DEFAULT_CURRENCY

    @classmethod
    def parse(
        cls,
        data: Mapping[str, Any],
        *,
        new_id: Callable[[], str] | None = None,
        received_at: datetime | None = None,
        max_skew: timedelta = DEFAULT_MAX_SKEW,
    ) -> Transaction:
        """Validate raw fields (decoded JSON, a CSV row) into a transaction.

        Raises :class:`InvalidTransaction` naming every offending field at once.
        ``new_id`` supplies an id when the client sent none. With ``received_at``
        (a transaction arriving now, not a file of past ones), the timestamp may be
        at most ``max_skew`` after it; an older one is a late arrival, accepted.
        """
        if not isinstance(data, Mapping):
            raise InvalidTransaction([FieldError("body", "must be a JSON object")])
        errors: list[FieldError] = []

        def check(field: str, parser: Callable[[Any], Any], *, default: Any = None) -> Any:
            value = data.get(field)
            if value is None:
                if default is not None:
                    return default
                errors.append(FieldError(field, "is required"))
                return None
            try:
                return parser(value)
            except _RuleBroken as broken:
                errors.append(FieldError(field, str(broken)))
                return None

        if data.get("transaction_id") is None and new_id is not None:
            transaction_id: str = new_id()
        else:
            transaction_id = check("transaction_id", _identifier)
        user_id = check("user_id", _identifier)
        amount = check("amount", _amount)
        currency = check("currency", _currency, default=DEFAULT_CURRENCY)
        merchant = check("merchant", _merchant)
        timestamp = check("timestamp", _timestamp)
        merchant_type = check("merchant_type", _category)
        device_type = check("device_type", _category)
        location_match = check("location_match", _flag)
        if amount is not None and currency is not None and not _in_minor_units(amount, currency):
            errors.append(FieldError("amount", _minor_unit_rule(currency)))
        if timestamp is not None and received_at is not None and timestamp > received_at + max_skew:
            errors.append(
                FieldError(
                    "timestamp",
                    f"must be no later than {_duration(max_skew)} after receipt "
                    f"({format_instant(received_at + max_skew)})",
                )
            )

        if errors:
            raise InvalidTransaction(errors)
        return cls(
            transaction_id=transaction_id,
            user_id=user_id,
            amount=amount,
            currency=currency,
            merchant=merchant,
            timestamp=timestamp,
            merchant_type=merchant_type,
            device_type=device_type,
            location_match=location_match,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transaction:
        """A transaction as :meth:`to_dict` wrote it, in an envelope of an internal topic.

        It was validated once, at the edge; reading it back checks only that the fields
        are there and of their type (a ``KeyError``, ``TypeError`` or ``ValueError``
        otherwise), not every rule again: the score and record stages read each
        transaction the preprocess stage wrote, and the rules cost more than the rest.
        """
        location_match = data["location_match"]
        if not isinstance(location_match, bool | int):
            raise TypeError(f"location_match is {type(location_match).__name__}")
        return cls(
            transaction_id=_string_of(data, "transaction_id"),
            user_id=_string_of(data, "user_id"),
            amount=float(data["amount"]),
            currency=_string_of(data, "currency"),
            merchant=_string_of(data, "merchant"),
            timestamp=parse_instant(data["timestamp"]),
            merchant_type=_string_of(data, "merchant_type"),
            device_type=_string_of(data, "device_type"),
            location_match=bool(location_match),
        )

    @property
    def merchant_category(self) -> str:
        """The merchant type as the features see it: a known type or ``other``."""
        return self.merchant_type if self.merchant_type in KNOWN_MERCHANT_TYPES else OTHER

    @property
    def device_category(self) -> str:
        """The device type as the features see it: a known type or ``other``."""
        return self.device_type if self.device_type in KNOWN_DEVICE_TYPES else OTHER

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields in the contract's shape (timestamp in UTC with ``Z``)."""
        return {
            "transaction_id": self.transaction_id,
            "user_id": self.user_id,
            "amount": self.amount,
            "currency": self.currency,
            "merchant": self.merchant,
            "timestamp": format_instant(self.timestamp),
            "merchant_type": self.merchant_type,
            "device_type": self.device_type,
            "location_match": int(self.location_match),
        }


def format_instant(instant: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a ``Z`` suffix."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """ISO 8601 text with a time zone into an aware UTC datetime."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed.astimezone(UTC)


def _string_of(data: Mapping[str, Any], field: str) -> str:
    value = data[field]
    if not isinstance(value, str):
        raise TypeError(f"{field} is {type(value).__name__}, not a string")
    return value


class _RuleBroken(ValueError):
    """Raised by a field parser; its message is the rule, worded for the client."""


def _text(value: Any, *, max_length: int) -> str:
    if not isinstance(value, str):
        raise _RuleBroken("must be a string")
    if not 1 <= len(value) <= max_length:
        raise _RuleBroken(f"must be 1 to {max_length} characters long")
    return value


def _printable(text: str) -> str:
    """No control characters (C0, C1), bidirectional overrides or other invisible formats:
    text that a screen, a log or a database would show differently from what was sent."""
    if not text.isprintable():
        raise _RuleBroken("must contain only printable characters")
    return text


def _identifier(value: Any) -> str:
    text = _text(value, max_length=MAX_ID_LENGTH)
    if not text.isprintable() or text != text.strip():
        raise _RuleBroken("must contain only printable characters, without surrounding spaces")
    return text


def _amount(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _RuleBroken("must be a number")
    amount = float(value)
    if not math.isfinite(amount):
        raise _RuleBroken("must be a finite number")
    if amount < 0:
        raise _RuleBroken("must be 0 or more")
    if amount > MAX_AMOUNT:
        raise _RuleBroken(f"must be at most {MAX_AMOUNT:,}")
    return amount + 0.0  # -0.0 is 0.0: an account-verification authorisation


def _minor_unit_rule(currency: str) -> str:
    digits = minor_unit_digits(currency)
    if digits == 0:
        return f"must be a whole number of {currency}, which has no smaller unit"
    unit = f"{10.0**-digits:.{digits}f}"
    return f"must be 0, or at least {unit} with at most {digits} decimals ({currency}'s minor unit)"


def _in_minor_units(amount: float, currency: str) -> bool:
    """A whole number of the currency's minor unit. ``round`` is exact here: an amount with
    at most that many decimals is the double nearest them, and rounds back to itself."""
    return round(amount, minor_unit_digits(currency)) == amount


def _currency(value: Any) -> str:
    if not isinstance(value, str):
        raise _RuleBroken("must be a string")
    code = value.strip().upper()
    if code not in ISO_4217_CODES:
        raise _RuleBroken("must be an ISO 4217 currency code such as USD or EUR")
    return code


def _merchant(value: Any) -> str:
    text = _printable(_text(value, max_length=MAX_MERCHANT_LENGTH)).strip()
    if not text:
        raise _RuleBroken("must not be blank")
    return text


def _category(value: Any) -> str:
    text = _printable(_text(value, max_length=MAX_CATEGORY_LENGTH)).strip().lower()
    if not text:
        raise _RuleBroken("must not be blank")
    return text


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _RuleBroken("must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _RuleBroken("must be ISO 8601, e.g. 2023-10-05T14:30:00Z") from None
    if parsed.tzinfo is None:
        raise _RuleBroken("must include a time zone (Z or an offset such as +02:00)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before the first UTC instant
        raise _RuleBroken("must be an instant between years 1 and 9999 in UTC") from None


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    raise _RuleBroken("must be 0, 1, true or false")
