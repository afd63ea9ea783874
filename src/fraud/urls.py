"""URLs as they may be printed or logged: every password in them masked.

A setting's URL carries its credentials (``FRAUD_DATABASE_URL``,
``FRAUD_RATE_LIMIT_STORAGE``), so every message, log line or error that names one shows
:func:`masked` instead. SQLAlchemy's ``render_as_string(hide_password=True)`` is not
enough: it leaves a password given as a query parameter (``?password=``, which psycopg
passes on to libpq) as it is, shows the rest of a password holding a raw ``@`` as the
host, and cannot parse a multi-host PostgreSQL URL at all. So the masking here is
deliberately wider than any one parser: the userinfo's password is hidden up to the last
``@`` before the query, past where SQLAlchemy or ``urllib`` (redis-py, ``limits``) would
end it; a query parameter whose name speaks of a secret is hidden whatever the scheme.
A masked URL may hide more than the password; it never shows one.
"""

from __future__ import annotations

from urllib.parse import unquote_plus

HIDDEN = "***"
# A query parameter whose name holds one of these carries a secret: password, passwd,
# sslpassword, passphrase, pwd, client_secret, token, api_key, sslkey...
SECRET_PARAMETER_WORDS = ("pass", "pwd", "secret", "token", "key", "credential")


def masked(url: str) -> str:
    """``url`` with its userinfo's password and any secret query parameter as ``***``.

    Without a scheme it is read as a list of ``host:port`` (Kafka's bootstrap servers),
    each of which may carry a ``user:password@`` too.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return ",".join(_masked_query(_masked_userinfo(part)) for part in url.split(","))
    return f"{scheme}://{_masked_query(_masked_userinfo(rest))}"


def _masked_userinfo(rest: str) -> str:
    """After the scheme: ``user:password@`` shown as ``user:***@``."""
    # Parsers end the userinfo at an "@": urllib (redis-py, limits) at the authority's last,
    # SQLAlchemy at the first, even past a "/" or "?" the password holds unescaped. Taking
    # the last "@" before the query hides both, and a password whose "@" misled them.
    first = rest.find("@")
    if first < 0:
        return rest
    query = rest.find("?", first)
    end = rest.rfind("@", 0, query if query >= 0 else len(rest))
    user, colon, _ = rest[:end].partition(":")
    if not colon or "/" in user:  # no password; or a path (sqlite:////a@b), not a user
        return rest
    return f"{user}:{HIDDEN}{rest[end:]}"


def _masked_query(rest: str) -> str:
    """Each query parameter named for a secret shown as ``name=***``."""
    before, question, after = rest.partition("?")
    if not question:
        return rest
    query, hash_mark, fragment = after.partition("#")
    parameters = [_masked_parameter(parameter) for parameter in query.split("&")]
    return f"{before}?{'&'.join(parameters)}{hash_mark}{fragment}"


def _masked_parameter(parameter: str) -> str:
    name, equals, _ = parameter.partition("=")
    secret = any(word in unquote_plus(name).lower() for word in SECRET_PARAMETER_WORDS)
    return f"{name}={HIDDEN}" if equals and secret else parameter
