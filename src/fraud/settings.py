"""Configuration: environment variables with defaults, read once at start-up."""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from fraud.domain.errors import InvalidIdentity
from fraud.domain.identity import RateLimit
from fraud.secret_files import UnreadableSecrets, with_secret_files
from fraud.urls import masked

BROKERS = ("memory", "kafka")
LOG_FORMATS = ("auto", "json", "console")


class BadSetting(ValueError):
    """A configuration value that cannot be used; names the variable and the rule."""


class Secret:
    """A value that must never be printed or logged: ``repr`` and ``str`` show stars, and
    only the client that sends it reads it, with :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(Secret)


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
TLS_PROTOCOLS = ("SSL", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How every Kafka client of the process proves who it is (SASL) and encrypts (TLS)."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in SASL_PROTOCOLS

    @property
    def uses_tls(self) -> bool:
        return self.protocol in TLS_PROTOCOLS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSecurity:
        """Each variable is checked against the protocol: credentials or certificates the
        protocol would not send are refused rather than silently ignored."""

        def given(name: str) -> str | None:
            return env.get(f"FRAUD_KAFKA_{name}", "").strip() or None

        protocol = (given("SECURITY_PROTOCOL") or "PLAINTEXT").upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise BadSetting(
                f"FRAUD_KAFKA_SECURITY_PROTOCOL: must be one of {', '.join(SECURITY_PROTOCOLS)}, "
                f"got {protocol!r}"
            )
        sasl = ("SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD", "SASL_PASSWORD_FILE")
        tls = ("SSL_CA_LOCATION", "SSL_CERTIFICATE_LOCATION", "SSL_KEY_LOCATION")
        for names, protocols in ((sasl, SASL_PROTOCOLS), (tls, TLS_PROTOCOLS)):
            unused = [name for name in names if given(name) and protocol not in protocols]
            if unused:
                raise BadSetting(
                    f"FRAUD_KAFKA_{unused[0]}: only used when FRAUD_KAFKA_SECURITY_PROTOCOL is "
                    f"{' or '.join(protocols)}, not {protocol}"
                )
        security = cls(protocol=protocol)
        if security.uses_sasl:
            security = replace(
                security,
                sasl_mechanism=_sasl_mechanism(given("SASL_MECHANISM"), protocol),
                sasl_username=_required(given("SASL_USERNAME"), "SASL_USERNAME", protocol),
                sasl_password=_sasl_password(
                    given("SASL_PASSWORD"), given("SASL_PASSWORD_FILE"), protocol
                ),
            )
        if security.uses_tls:
            certificate = _existing(given("SSL_CERTIFICATE_LOCATION"), "SSL_CERTIFICATE_LOCATION")
            key = _existing(given("SSL_KEY_LOCATION"), "SSL_KEY_LOCATION")
            if (certificate is None) != (key is None):
                raise BadSetting(
                    f"FRAUD_KAFKA_SSL_{'KEY' if key is None else 'CERTIFICATE'}_LOCATION: "
                    "a client certificate needs both FRAUD_KAFKA_SSL_CERTIFICATE_LOCATION "
                    "and FRAUD_KAFKA_SSL_KEY_LOCATION"
                )
            security = replace(
                security,
                ssl_ca_location=_existing(given("SSL_CA_LOCATION"), "SSL_CA_LOCATION"),
                ssl_certificate_location=certificate,
                ssl_key_location=key,
            )
        return security


def _required(value: str | None, name: str, protocol: str) -> str:
    if value is None:
        raise BadSetting(
            f"FRAUD_KAFKA_{name}: required with FRAUD_KAFKA_SECURITY_PROTOCOL={protocol}"
        )
    return value


def _sasl_mechanism(value: str | None, protocol: str) -> str:
    mechanism = _required(value, "SASL_MECHANISM", protocol).upper()
    if mechanism not in SASL_MECHANISMS:
        raise BadSetting(
            f"FRAUD_KAFKA_SASL_MECHANISM: must be one of {', '.join(SASL_MECHANISMS)}, "
            f"got {mechanism!r}"
        )
    return mechanism


def _sasl_password(value: str | None, path: str | None, protocol: str) -> Secret:
    """From the variable, or from a file (a mounted secret) so it need not sit in the
    environment; never both, and the value is never part of a message."""
    if value is not None and path is not None:
        raise BadSetting(
            "FRAUD_KAFKA_SASL_PASSWORD_FILE: give either it or FRAUD_KAFKA_SASL_PASSWORD, not both"
        )
    if path is None:
        return Secret(_required(value, "SASL_PASSWORD", protocol))
    try:
        with open(path, encoding="utf-8") as file:
            password = file.read().rstrip("\r\n")
    except OSError as error:
        raise BadSetting(
            f"FRAUD_KAFKA_SASL_PASSWORD_FILE: cannot read {path!r} ({error.strerror})"
        ) from None
    if not password:
        raise BadSetting(f"FRAUD_KAFKA_SASL_PASSWORD_FILE: {path!r} is empty")
    return Secret(password)


def _existing(path: str | None, name: str) -> str | None:
    if path is not None and not os.path.exists(path):
        raise BadSetting(f"FRAUD_KAFKA_{name}: no such file or directory: {path!r}")
    return path


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///var/fraud.db"
    model_dir: str = "var/model"
    broker: str = "memory"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)
    topic_prefix: str = ""
    log_format: str = "auto"
    log_level: str = "info"
    batch_size: int = 500
    poll_timeout_s: float = 0.05
    # How far a transaction's timestamp may run ahead of its receipt.
    max_clock_skew_s: float = 300.0
    # The longest a submission may wait for its verdict (POST /transaction?wait=MS).
    max_wait_ms: int = 500
    # How long the analysts' rules may take on one batch of the score stage: each rule, and
    # the whole set; a rule past either is cut off for the rest of the batch (and counted).
    rule_budget_ms: float = 4.0
    rules_budget_ms: float = 50.0
    # Access: each key's or person's requests per period unless the key names its own; where
    # the counts are kept (a `limits` storage URI: memory://, redis://, memcached://); how long
    # a sign-in lasts; the key that signs session cookies (None: one generated and kept in the
    # database, shared by every process); how many proxies in front set X-Forwarded-*.
    rate_limit: str = "1000/second"
    # Per address, requests that prove no identity (no credential, an unknown or revoked key).
    anonymous_rate_limit: str = "60/minute"
    rate_limit_storage: str = "memory://"
    session_hours: float = 8.0
    secret_key: Secret | None = None
    trusted_proxies: int = 0
    # Where a first start with no terminal writes the administrator's password and the first
    # key (readable by the service's account only), rather than printing secrets into logs.
    first_run_file: str = "var/first-run-credentials.txt"
    # The key that signs model archives (hex of its bytes), the same on every host of a
    # deployment and never stored in the database; None: a single host's `fraud run` keeps
    # one beside its SQLite file (see adapters/system/archive_key.py).
    archive_key: Secret | None = None
    # Where spans go, over OTLP/HTTP (a collector's http://host:4318, or its /v1/traces URL);
    # None: no span is made.
    otlp_endpoint: str | None = None
    # Webhooks: how long one delivery may take, how many attempts it gets and how long after
    # the first failure it is tried again (doubling each time, up to an hour), and whether
    # receivers may be on private or loopback addresses (`allow`; `deny` by default).
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 8
    webhook_first_retry_s: float = 10.0
    webhook_private_addresses: bool = False

    @property
    def database_shown(self) -> str:
        """The database URL for messages and logs: every password in it masked."""
        return masked(self.database_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        try:  # secrets mounted as files (FRAUD_SECRETS_DIR); the environment wins
            env = with_secret_files(os.environ if environ is None else environ)
        except UnreadableSecrets as error:
            raise BadSetting(str(error)) from None
        defaults = cls()

        def text(name: str, default: str) -> str:
            return env.get(f"FRAUD_{name}", default).strip() or default

        def number(name: str, default: float, kind: type) -> Any:
            raw = env.get(f"FRAUD_{name}")
            if raw is None or not raw.strip():
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise BadSetting(f"FRAUD_{name}: must be a {kind.__name__}, got {raw!r}") from None
            if value <= 0:
                raise BadSetting(f"FRAUD_{name}: must be greater than 0, got {raw!r}")
            return value

        settings = cls(
            database_url=text("DATABASE_URL", defaults.database_url),
            model_dir=text("MODEL_DIR", defaults.model_dir),
            broker=text("BROKER", defaults.broker).lower(),
            kafka_bootstrap=text("KAFKA_BOOTSTRAP", defaults.kafka_bootstrap),
            kafka_security=KafkaSecurity.from_env(env),
            topic_prefix=env.get("FRAUD_TOPIC_PREFIX", "").strip(),
            log_format=text("LOG_FORMAT", defaults.log_format).lower(),
            log_level=text("LOG_LEVEL", defaults.log_level).lower(),
            batch_size=number("BATCH_SIZE", defaults.batch_size, int),
            poll_timeout_s=number("POLL_TIMEOUT_S", defaults.poll_timeout_s, float),
            max_clock_skew_s=number("MAX_CLOCK_SKEW_S", defaults.max_clock_skew_s, float),
            max_wait_ms=number("MAX_WAIT_MS", defaults.max_wait_ms, int),
            rule_budget_ms=number("RULE_BUDGET_MS", defaults.rule_budget_ms, float),
            rules_budget_ms=number("RULES_BUDGET_MS", defaults.rules_budget_ms, float),
            rate_limit=_rate_limit(text("RATE_LIMIT", defaults.rate_limit)),
            anonymous_rate_limit=_rate_limit(
                text("ANONYMOUS_RATE_LIMIT", defaults.anonymous_rate_limit),
                "FRAUD_ANONYMOUS_RATE_LIMIT",
            ),
            rate_limit_storage=text("RATE_LIMIT_STORAGE", defaults.rate_limit_storage),
            session_hours=number("SESSION_HOURS", defaults.session_hours, float),
            secret_key=_secret_key(env.get("FRAUD_SECRET_KEY", "").strip()),
            trusted_proxies=_proxies(env.get("FRAUD_TRUSTED_PROXIES", "").strip()),
            first_run_file=text("FIRST_RUN_FILE", defaults.first_run_file),
            archive_key=_archive_key(
                env.get("FRAUD_ARCHIVE_KEY", "").strip() or None,
                env.get("FRAUD_ARCHIVE_KEY_FILE", "").strip() or None,
            ),
            otlp_endpoint=_otlp_endpoint(env.get("FRAUD_OTLP_ENDPOINT", "").strip()),
            webhook_timeout_s=number("WEBHOOK_TIMEOUT_S", defaults.webhook_timeout_s, float),
            webhook_attempts=number("WEBHOOK_ATTEMPTS", defaults.webhook_attempts, int),
            webhook_first_retry_s=number(
                "WEBHOOK_FIRST_RETRY_S", defaults.webhook_first_retry_s, float
            ),
            webhook_private_addresses=_private_addresses(
                text("WEBHOOK_PRIVATE_ADDRESSES", "deny").lower()
            ),
        )
        if settings.broker not in BROKERS:
            raise BadSetting(
                f"FRAUD_BROKER: must be one of {', '.join(BROKERS)}, got {settings.broker!r}"
            )
        if settings.log_format not in LOG_FORMATS:
            raise BadSetting(
                f"FRAUD_LOG_FORMAT: must be one of {', '.join(LOG_FORMATS)}, "
                f"got {settings.log_format!r}"
            )
        return settings

    def to_dict(self) -> dict[str, Any]:
        """Each setting by name; the Kafka security stays one object, which prints no secret."""
        return {setting.name: getattr(self, setting.name) for setting in fields(self)}


def _rate_limit(value: str, name: str = "FRAUD_RATE_LIMIT") -> str:
    try:
        return str(RateLimit.parse(name, value))
    except InvalidIdentity as error:
        raise BadSetting(str(error)) from None


def _private_addresses(value: str) -> bool:
    if value not in ("allow", "deny"):
        raise BadSetting(f"FRAUD_WEBHOOK_PRIVATE_ADDRESSES: must be allow or deny, got {value!r}")
    return value == "allow"


def _secret_key(value: str) -> Secret | None:
    if not value:
        return None
    if len(value) < 32:
        raise BadSetting("FRAUD_SECRET_KEY: must be at least 32 characters (random)")
    return Secret(value)


def _otlp_endpoint(value: str) -> str | None:
    if not value:
        return None
    if not value.startswith(("http://", "https://")):
        raise BadSetting(
            f"FRAUD_OTLP_ENDPOINT: must be an http:// or https:// URL (a collector's OTLP/HTTP "
            f"address, e.g. http://127.0.0.1:4318), got {value!r}"
        )
    return value


def _proxies(value: str) -> int:
    if not value:
        return 0
    if not value.isdigit() or not value.isascii():
        raise BadSetting(f"FRAUD_TRUSTED_PROXIES: must be a whole number of proxies, got {value!r}")
    return int(value)


ARCHIVE_KEY_BYTES = 32
ARCHIVE_KEY_RULE = (
    f"must be at least {ARCHIVE_KEY_BYTES} random bytes written as hex or base64; make one "
    "with: python -c 'import secrets; print(secrets.token_hex(32))'"
)


def archive_key_bytes(text: str) -> bytes | None:
    """The bytes an archive key's text stands for (hex, else base64 or its URL-safe form);
    None when it is neither, or too short to be a key."""
    text = text.strip()
    key: bytes | None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        try:
            key = base64.b64decode(
                text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4),
                validate=True,
            )
        except (ValueError, binascii.Error):
            key = None
    return key if key is not None and len(key) >= ARCHIVE_KEY_BYTES else None


def _archive_key(value: str | None, path: str | None) -> Secret | None:
    """From the variable, or from a file (a mounted secret); never both. The key's text is
    never part of a message."""
    if value is not None and path is not None:
        raise BadSetting("FRAUD_ARCHIVE_KEY_FILE: give either it or FRAUD_ARCHIVE_KEY, not both")
    name = "FRAUD_ARCHIVE_KEY"
    if path is not None:
        name = "FRAUD_ARCHIVE_KEY_FILE"
        try:
            with open(path, encoding="utf-8") as file:
                value = file.read()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not text"
            raise BadSetting(f"FRAUD_ARCHIVE_KEY_FILE: cannot read {path!r} ({reason})") from None
    if value is None:
        return None
    key = archive_key_bytes(value)
    if key is None:
        where = f" (in {path!r})" if path is not None else ""
        raise BadSetting(f"{name}{where}: {ARCHIVE_KEY_RULE}")
    return Secret(key.hex())
