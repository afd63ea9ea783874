"""structlog, configured once per process before anything logs: JSON off a terminal.

Every line the process writes goes through here: our events, the standard
library's loggers (SQLAlchemy, Alembic, granian, librdkafka through
confluent-kafka's ``logger`` setting) and Python warnings, so a log shipper
reading a service's output sees one format.
"""

from __future__ import annotations

import dataclasses
import logging
import sys

import structlog

QUIET_LIBRARIES = ("werkzeug", "alembic", "sqlalchemy.engine", "tensorflow", "absl", "keras")


def interactive(log_format: str = "auto") -> bool:
    """Whether a person reads this process's output: pretty lines and progress bars then,
    JSON events otherwise."""
    return log_format == "console" or (log_format == "auto" and sys.stderr.isatty())


def configure_logging(log_format: str = "auto", level: str = "info") -> None:
    """Route structlog and the standard library's loggers through the same processors."""
    use_json = not interactive(log_format)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=_without_locals(sys.stderr.isatty())
        )
    )
    structlog.configure(
        # An event below the logger's level is dropped first, before it is stamped and
        # dressed: a worker's debug lines for every batch took 3% of its time unwritten.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if use_json else []),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)  # a library's warnings.warn() is an event like any other


def _without_locals(colors: bool) -> structlog.typing.ExceptionRenderer:
    """structlog's traceback for a terminal, but never a frame's local variables: they hold
    database URLs with their passwords, keys and request bodies (Rich shows them by default)."""
    formatter = (
        structlog.dev.default_exception_formatter
        if colors
        else structlog.dev.default_monochrome_exception_formatter
    )
    if isinstance(formatter, structlog.dev.RichTracebackFormatter):
        return dataclasses.replace(formatter, show_locals=False)
    return structlog.dev.plain_traceback
