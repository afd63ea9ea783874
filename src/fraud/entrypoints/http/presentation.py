"""How the pages word what they show: instants to the second (each page's script puts them in
the viewer's zone), amounts with their currency, features in their units, and the reference
of what a rule can read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask
from markupsafe import Markup, escape

from fraud.domain.reference import entries, shown


def instant(value: str | datetime | None) -> Markup:
    """A ``<time>`` element: the instant to the second in UTC, which the page's script turns
    into the viewer's own zone (the full instant stays in ``datetime``)."""
    if value is None or value == "":
        return Markup("")
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    moment = moment.astimezone(UTC)
    machine = moment.isoformat().replace("+00:00", "Z")
    return Markup('<time datetime="{}">{} UTC</time>').format(
        machine, moment.strftime("%Y-%m-%d %H:%M:%S")
    )


def money(amount: float, currency: str = "") -> str:
    """``1,500.00 USD``: thousands grouped, two decimals, never broken across lines."""
    return f"{amount:,.2f} {currency}".rstrip()


def feature_value(name: str, value: Any, currency: str = "") -> str:
    """A feature's value in its unit's words (``90 d``, ``online``, ``yes``)."""
    if not isinstance(value, int | float):
        return str(escape(value))
    return shown(name, float(value), currency)


def audit_source(actor: str, source: str) -> str:
    """Where an audited change came from: a person's or key's address, or the host a command
    ran on (the command line's actor is ``cli:<account>``)."""
    if actor.startswith("cli:"):
        return f"command line on {source}"
    if actor == "service":
        return f"the service on {source}" if source else "the service"
    return source


def short_id(identifier: str) -> str:
    """A long id shortened to its ends, as the dashboard's script does: one line in a table."""
    return identifier if len(identifier) <= 14 else f"{identifier[:7]}…{identifier[-5:]}"


def breakable(name: str) -> Markup:
    """A dotted or snake-case name that may wrap after each ``.`` or ``_``, not mid-word."""
    text = str(escape(name))
    return Markup(text.replace(".", ".<wbr>").replace("_", "_<wbr>"))


def install_presentation(app: Flask) -> None:
    app.jinja_env.filters["breakable"] = breakable
    app.jinja_env.filters["short_id"] = short_id
    app.jinja_env.filters["instant"] = instant
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["feature_value"] = feature_value
    app.jinja_env.globals["audit_source"] = audit_source
    app.jinja_env.globals["rule_reference"] = entries()
