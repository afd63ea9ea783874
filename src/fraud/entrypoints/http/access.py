"""Who is asking and whether they may: every request passes here before its view.

* **Declared, or refused.** A view names what it needs with :func:`requires` (a
  permission, or :data:`PUBLIC`, or :data:`SIGNED_IN`); a route that declares
  nothing is refused for everybody, so a new endpoint cannot ship unprotected.
  The declaration is also written into the OpenAPI document (``x-permission``,
  ``x-roles``, ``security``).
* **Who, and whether they may**: decided by :class:`AccessPolicy`
  (:mod:`access_policy`, which says how) from the request's facts; the hooks here
  gather them (the session is Flask-Login's, the cookie naming a server-side
  session that signing out deletes) and carry the decision out.
* **Browser safety.** A state-changing request authenticated by the cookie must
  carry the page's CSRF token (Flask-WTF); the cookie is HttpOnly,
  SameSite=Strict and Secure over TLS; every response carries a CSP without
  inline script, ``frame-ancestors 'none'``, nosniff and a Referrer-Policy
  (Talisman).
* **Rate limits** (:mod:`rate_limits`): each identity's requests against its key's
  own limit or the service's default, a batch counting one per item it carries
  (:func:`count_items`), so batching does not multiply a rate. Per address, what
  proves no identity: no credential, or a key that is unknown or revoked, against
  the anonymous limit; once that is spent, a key this process has not found live
  lately is refused before the store is asked about it, so made-up keys cannot buy
  a look-up each, while a client whose key works goes on. Public routes may
  declare a limit per address (``/health``); signing in counts per address and
  per account (``signin``). The address is the peer's, or with
  ``trusted_proxies`` the one the proxies forwarded.
* **Nothing kept.** Every answer but a static file says ``Cache-Control: no-store``:
  some carry a secret (a new key, a generated password, a session's cookie), the
  rest the team's data, which no browser or proxy cache should hold after signing out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog
from flask import Flask, Response, current_app, g, redirect, render_template, request, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask.wrappers import Request
from flask_login import LoginManager, UserMixin, current_user
from flask_smorest import Blueprint
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from fraud.application.identity import Authenticate
from fraud.domain.errors import FieldError
from fraud.domain.identity import Actor, Permission, Principal
from fraud.entrypoints.http.access_policy import (
    PUBLIC,
    SIGNED_IN,
    AccessPolicy,
    AccessRequest,
    Challenge,
    Decision,
    Need,
    Proceed,
    Refuse,
    Route,
    SignInFirst,
    Undeclared,
)
from fraud.entrypoints.http.errors import ApiError, error_response
from fraud.entrypoints.http.rate_limits import RateLimits

log = structlog.get_logger(__name__)

__all__ = ["PUBLIC", "SIGNED_IN", "Need"]  # declared in the policy, used with requires()

# Routes Flask or a library adds, which cannot carry a decorator of ours.
LIBRARY_ROUTES: dict[str, Need] = {
    "static": PUBLIC,
    "api-docs.openapi_json": Permission.DOCS,
}
RATE_LIMITS = "fraud.rate_limits"  # where the app keeps its RateLimits
SESSION_COOKIE = "fraud_session"
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

View = TypeVar("View", bound=Callable[..., Any])


def requires(
    need: Need, *, page: bool = False, per_address: str | None = None
) -> Callable[[View], View]:
    """Declare what a view needs. ``page``: a page for people, so an anonymous visitor is
    sent to sign in rather than answered 401. ``per_address``: a public view's limit for
    each address (``COUNT/PERIOD``)."""

    def declare(view: View) -> View:
        view.required = need  # type: ignore[attr-defined]
        view.page = page  # type: ignore[attr-defined]
        view.per_address = per_address  # type: ignore[attr-defined]
        documented = need.value if isinstance(need, Permission) else need
        return Blueprint.doc(**{"x-permission": documented})(view)  # type: ignore[no-any-return]

    return declare


def declared_need(endpoint: str, view: Callable[..., Any] | None) -> Need | None:
    """What a route says it needs: its view's :func:`requires`, or a library route's."""
    return getattr(view, "required", None) or LIBRARY_ROUTES.get(endpoint)


def current_principal() -> Principal:
    """Who the request acts for (only in views that require an identity)."""
    principal: Principal | None = g.get("principal")
    if principal is None:
        raise RuntimeError("no identity: the view must declare what it requires")
    return principal


def current_actor() -> Actor:
    """The principal and its address, as the audit log records them."""
    return Actor(current_principal().subject, request.remote_addr or "unknown")


class SessionUser(UserMixin):  # type: ignore[misc]
    """What Flask-Login keeps in the cookie: the token of a server-side session."""

    def __init__(self, token: str, principal: Principal) -> None:
        self.token = token
        self.principal = principal

    def get_id(self) -> str:
        return self.token


class _SecureOverTls(SecureCookieSessionInterface):
    """The cookie is Secure whenever the request came over TLS (through a trusted proxy
    too), and only then, so the service also works on plain http://127.0.0.1. A request
    with a key has no session: nothing to verify, sign or send back (56 µs a request)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "Authorization" in request.headers:
            return self.session_class()  # empty; never read from a cookie, never saved
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if "Authorization" not in request.headers:
            super().save_session(app, session, response)


@dataclass(frozen=True, slots=True)
class AccessSettings:
    """What the access layer is configured with (``fraud.settings`` has their meaning)."""

    secret_key: str
    default_limit: str
    anonymous_limit: str
    limit_storage: str
    session_hours: float
    trusted_proxies: int


def install_access(app: Flask, authenticate: Authenticate, settings: AccessSettings) -> RateLimits:
    """Everything above, on ``app``, in the order the hooks must run: authenticate and
    authorize, then count the request against its identity's limit."""
    limits = app.extensions[RATE_LIMITS] = RateLimits(
        settings.default_limit, settings.limit_storage, anonymous=settings.anonymous_limit
    )
    _protect_browsers(app, settings)
    logins = LoginManager(app, add_context_processor=False)  # pages read g.principal
    logins.session_protection = "strong"  # a cookie replayed from elsewhere is dropped
    logins.user_loader(partial(_load_session, authenticate))
    hooks = _AccessHooks(app, authenticate, limits, CSRFProtect(app))
    app.before_request(hooks.authorize)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.before_request(hooks.count)
    app.after_request(forbid_caching)
    return limits


def _protect_browsers(app: Flask, settings: AccessSettings) -> None:
    """The proxies trusted, the session cookie, and the headers every answer carries."""
    if proxies := settings.trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by the policy's say, for sessions only
        WTF_CSRF_TIME_LIMIT=None,  # as long as the session: a dashboard stays open for hours
    )
    app.session_interface = _SecureOverTls()
    Talisman(
        app,
        force_https=False,  # TLS ends at the proxy in front, or is not there (127.0.0.1)
        session_cookie_secure=False,  # decided per request by _SecureOverTls
        session_cookie_samesite="Strict",
        content_security_policy=CSP,
        frame_options="DENY",
        referrer_policy="same-origin",
    )


def _load_session(authenticate: Authenticate, token: str) -> SessionUser | None:
    principal = authenticate.session(token)
    return None if principal is None else SessionUser(token, principal)


def _signed_in() -> Principal | None:
    """The session's principal (Flask-Login reads it from the store, once a request)."""
    if current_user.is_authenticated:
        return current_user.principal  # type: ignore[no-any-return]
    return None


def _csrf_refused(error: CSRFError) -> Response:
    log.info("request refused: CSRF", reason=error.description)
    return error_response(403, f"refused: {error.description} (a cross-site request?)")


class _AccessHooks:
    """The Flask side of the policy: the request's facts in, the decision carried out."""

    def __init__(
        self, app: Flask, authenticate: Authenticate, limits: RateLimits, csrf: CSRFProtect
    ) -> None:
        self.app = app
        self.limits = limits
        self.csrf = csrf
        self.policy = AccessPolicy(
            lambda key: authenticate.key(key, lambda: _before_looking_up(limits))
        )

    def authorize(self) -> Response | None:
        view = self.app.view_functions.get(request.endpoint or "")
        if view is None:
            return None  # no such route: Flask answers 404 or 405
        route = Route(
            declared_need(request.endpoint or "", view), page=getattr(view, "page", False)
        )
        facts = AccessRequest(
            route, request.method, request.headers.get("Authorization"), _signed_in
        )
        return self._carry_out(self.policy.decide(facts))

    def _carry_out(self, decision: Decision) -> Response | None:
        match decision:
            case Proceed(principal=None):
                return None
            case Proceed(principal=Principal() as principal, via=via, check_csrf=check_csrf):
                g.principal, g.via = principal, via
                structlog.contextvars.bind_contextvars(principal=principal.subject)
                if check_csrf:
                    self.csrf.protect()
                return None
            case Challenge(message=message, challenge=challenge):
                _count_anonymous(self.limits)
                response = error_response(401, message)
                response.headers["WWW-Authenticate"] = challenge
                return response
            case SignInFirst():
                _count_anonymous(self.limits)
                return redirect(url_for("access.sign_in", next=local_path(request.full_path)))
            case Refuse(principal=principal, reason=reason, page=page):
                return _refused(principal, reason, page)
            case Undeclared():
                log.error("route declares no permission; refused", endpoint=request.endpoint)
                return error_response(403, "this resource declares no permission; refused")
        raise AssertionError(f"undecided: {decision!r}")

    def count(self) -> None:
        _count(self.app, self.limits)


def _refused(principal: Principal, reason: str, page: bool) -> Response:
    g.principal = principal
    log.info("request forbidden", principal=principal.subject, reason=reason)
    if page:
        body = render_template("forbidden.html", principal=principal, reason=reason)
        return Response(body, status=403, mimetype="text/html")
    return error_response(403, reason)


def _count(app: Flask, limits: RateLimits) -> None:
    """After ``authorize``: each identity's requests against its limit; an anonymous
    request to a public view that declares a limit per address, against that."""
    principal: Principal | None = g.get("principal")
    if principal is not None:
        if request.endpoint == "access.sign_out":
            return  # whatever was spent, one may always leave
        refused = limits.hit(principal.subject, _text(principal.rate_limit))
    else:
        view = app.view_functions.get(request.endpoint or "")
        per_address = getattr(view, "per_address", None)
        if per_address is None:
            return  # nothing else an anonymous request reaches costs much
        refused = limits.hit(f"{request.endpoint}:{address()}", per_address)
    if refused is not None:
        raise refused.error()


def _text(limit: object | None) -> str | None:
    return None if limit is None else str(limit)


def _count_anonymous(limits: RateLimits) -> None:
    """A request that proves no identity counts against its address's limit."""
    refused = limits.hit(f"anonymous:{address()}", limits.anonymous)
    if refused is not None:
        raise refused.error(_ANONYMOUS)


def _before_looking_up(limits: RateLimits) -> None:
    """An address that spent its anonymous limit gets no more look-ups of keys until its
    window ends: without this, each made-up key would cost the store a round trip."""
    refused = limits.spent(f"anonymous:{address()}", limits.anonymous)
    if refused is not None:
        raise refused.error(_ANONYMOUS)


_ANONYMOUS = " by requests from this address without a valid credential"


def count_items(items: int, field: str) -> None:
    """A request that carries ``items`` (a batch) counts as that many requests against its
    identity's limit, so batching does not multiply a rate. It was counted once when it
    came; the rest now. One that does not fit what is left is refused whole (429) and
    spends nothing more; one larger than the limit itself never could: a 422 naming
    ``field``."""
    if items <= 1:
        return
    principal = current_principal()
    refused = rate_limits().hit(principal.subject, _text(principal.rate_limit), cost=items - 1)
    if refused is None:
        return
    if items > refused.amount:
        rule = f"at most {refused.amount} items under this identity's limit of {refused.limit}"
        raise ApiError.breaks_contract("request", [FieldError(field, rule)])
    raise refused.error(f" (a batch counts one per item: this one {items})")


def rate_limits() -> RateLimits:
    """The app's rate limits, for a view that counts more than its one request."""
    limits: RateLimits = current_app.extensions[RATE_LIMITS]
    return limits


def address() -> str:
    """The client's address: the peer's, or what the trusted proxies forwarded."""
    return request.remote_addr or "unknown"


def forbid_caching(response: Response) -> Response:
    """No cache, in a browser or on the way, keeps an answer; static files excepted."""
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, no host): where to go after
    signing in, never a redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    return target.rstrip("?") or "/"
