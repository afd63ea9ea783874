"""Configuration: environment variables with defaults, read once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

BROKERS = ("memory", "kafka")
LOG_FORMATS = ("auto", "json", "console")


class BadSetting(ValueError):
    """A configuration value that cannot be used; names the variable and the rule."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///var/fraud.db"
    model_dir: str = "var/model"
    broker: str = "memory"
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    log_format: str = "auto"
    log_level: str = "info"
    batch_size: int = 500
    poll_timeout_s: float = 0.05
    # How far a transaction's timestamp may run ahead of its receipt.
    max_clock_skew_s: float = 300.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
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
            topic_prefix=env.get("FRAUD_TOPIC_PREFIX", "").strip(),
            log_format=text("LOG_FORMAT", defaults.log_format).lower(),
            log_level=text("LOG_LEVEL", defaults.log_level).lower(),
            batch_size=number("BATCH_SIZE", defaults.batch_size, int),
            poll_timeout_s=number("POLL_TIMEOUT_S", defaults.poll_timeout_s, float),
            max_clock_skew_s=number("MAX_CLOCK_SKEW_S", defaults.max_clock_skew_s, float),
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
        return asdict(self)
