"""The Flask application factory: ``fraud.entrypoints.http.app:create_app()``, what each of
`fraud serve`'s worker processes runs."""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Callable
from inspect import isclass, isfunction
from multiprocessing.util import Finalize
from typing import Any

import orjson
import structlog
from dependency_injector import wiring
from flask import Flask, Response, g, request
from flask.json.provider import DefaultJSONProvider

from fraud.containers import Container, Process, bootstrap
from fraud.domain.identity import Permission
from fraud.entrypoints.http import admin as admin_module
from fraud.entrypoints.http import api as api_module
from fraud.entrypoints.http import canary as canary_module
from fraud.entrypoints.http import cases as cases_module
from fraud.entrypoints.http import dashboard as dashboard_module
from fraud.entrypoints.http import docs as docs_module
from fraud.entrypoints.http import lists as lists_module
from fraud.entrypoints.http import metrics as metrics_module
from fraud.entrypoints.http import models as models_module
from fraud.entrypoints.http import rules as rules_module
from fraud.entrypoints.http import signin as signin_module
from fraud.entrypoints.http.access import AccessSettings, install_access
from fraud.entrypoints.http.errors import register_error_handlers
from fraud.entrypoints.http.openapi import documented_api
from fraud.entrypoints.http.presentation import install_presentation
from fraud.entrypoints.http.slis import count_submit_answers
from fraud.entrypoints.http.tracing import install_tracing
from fraud.logs import configure_logging
from fraud.settings import Settings

log = structlog.get_logger(__name__)


def _imported_here(member: object) -> bool:
    """A class or function the HTTP modules import from elsewhere (Flask's, marshmallow's,
    the domain's): it holds no injection marker, so wiring need not look into it. Wiring
    looks into every member of the modules it wires, every method of every class among them,
    and that was a third of building an app (0.08 of 0.23 s), which every test app and every
    serving process paid. The views it injects into (``@inject``) it finds by its registry,
    not by this look."""
    return (isclass(member) or isfunction(member)) and not getattr(
        member, "__module__", ""
    ).startswith(f"{__package__}.")


# The library's own list of what its wiring skips (it puts werkzeug's LocalProxy there).
wiring.INSPECT_EXCLUSION_FILTERS.append(_imported_here)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON through orjson, as the bus and the database already are: a fraction of
    the standard library's cost on every answer. Keys keep their order; text is UTF-8."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=self.default, option=orjson.OPT_NON_STR_KEYS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)


class ServiceApp(Flask):
    """Flask, with what it works out again for every request worked out once: whether each
    before- and after-request function is a coroutine (two dozen checks a request)."""

    json_provider_class = OrjsonProvider

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        known = self._sync.get(func)
        if known is None:
            known = self._sync[func] = super().ensure_sync(func)
        return known


class RequestIds:
    """Ids unique across processes (a random prefix drawn once) and cheap to make: a uuid4
    per request read the system's random source each time, and that call hands the
    interpreter lock to another thread. Safe across a server's threads: ``itertools.count``
    hands out each number in one call, where a generator around it, entered by two threads
    at once, raised "generator already executing" (a 500, under load)."""

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex[:12]
        self._numbers = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._numbers):08x}"


def debugging() -> bool:
    return logging.getLogger(__name__).isEnabledFor(logging.DEBUG)


SESSION_SIGNING_KEY = "session-signing-key"


def create_app(container: Container | None = None) -> Flask:
    """Build the app around a container; without one, configure from the environment (a
    `fraud serve` worker: the stages run in `fraud worker` processes, and this process's
    outbox relay publishes what it accepts)."""
    if container is None:
        settings = Settings.from_env()
        configure_logging(settings.log_format, settings.log_level)
        container = bootstrap(settings, Process())
        outbox = container.outbox()
        outbox.start()  # what this worker accepts, it publishes
        # and, leaving, publishes what it holds: at the interpreter's exit, or when a server
        # worker forked by multiprocessing (granian's) ends, which skips atexit
        Finalize(None, outbox.stop, exitpriority=10)
    container.wire(
        modules=[
            api_module,
            dashboard_module,
            metrics_module,
            admin_module,
            signin_module,
            rules_module,
            models_module,
            canary_module,
            cases_module,
            lists_module,
        ]
    )

    app = ServiceApp(__name__)
    app.extensions["fraud.container"] = container
    app.jinja_env.globals["Permission"] = Permission
    install_presentation(app)

    request_ids = RequestIds()

    @app.before_request
    def bind_request_context() -> None:
        g.arrived = time.monotonic()  # a waited answer's budget counts from here
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            request_id=request.headers.get("X-Request-ID") or request_ids.next(),
            method=request.method,
            path=request.path,
        )

    install_tracing(app, container.tracer())  # the request's span, from here on

    settings = container.config
    access = AccessSettings(
        secret_key=container.service_secret()(SESSION_SIGNING_KEY),
        default_limit=settings.rate_limit(),
        anonymous_limit=settings.anonymous_rate_limit(),
        limit_storage=settings.rate_limit_storage(),
        session_hours=settings.session_hours(),
        trusted_proxies=settings.trusted_proxies(),
    )
    install_access(app, container.authenticate(), access)
    documented = documented_api(app)
    for blueprint in (
        api_module.api,
        dashboard_module.dashboard,
        metrics_module.metrics,
        admin_module.admin,
        rules_module.rules,
        models_module.models,
        canary_module.canary,
        cases_module.cases,
        lists_module.lists,
    ):
        documented.register_blueprint(blueprint)
    for page in (
        dashboard_module.pages,
        docs_module.docs,
        admin_module.admin_pages,
        rules_module.rule_pages,
        signin_module.access,
        cases_module.case_pages,
        lists_module.webhook_pages,
    ):
        app.register_blueprint(page)
    register_error_handlers(app)
    count_submit_answers(app, container.metrics())

    @app.after_request
    def log_request(response: Response) -> Response:
        """A line for every refusal and failure; a request that went well only at debug
        level: on the hot path a line per request costs more than serving it."""
        if request.path.startswith("/static/") or request.path == "/metrics":
            return response
        if response.status_code >= 400:
            log.info("request handled", status=response.status_code)
        elif debugging():
            log.debug("request handled", status=response.status_code)
        return response

    @app.teardown_request
    def clear_request_context(_: BaseException | None) -> None:
        structlog.contextvars.clear_contextvars()

    return app
