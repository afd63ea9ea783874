"""Who is asking and whether they may: every request passes here before its view.

* **Declared, or refused.** A view names what it needs with :func:`requires` (a
  permission, or :data:`PUBLIC`, or :data:`SIGNED_IN`); a route that declares
  nothing is refused for everybody, so a new endpoint cannot ship unprotected.
  The declaration is also written into the OpenAPI document (``x-permission``,
  ``x-roles``, ``security``).
* **Who.** A request with ``Authorization: Bearer KEY`` is that key's, and only
  that (a bad key is 401 even with a session cookie); otherwise the signed-in
  session's (Flask-Login, the cookie naming a server-side session that signing
  out deletes); otherwise nobody.
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
from datetime import timedelta
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
from fraud.entrypoints.http.errors import ApiError, error_response
from fraud.entrypoints.http.rate_limits import RateLimits

log = structlog.get_logger(__name__)

PUBLIC = "public"  # anybody: /health, the sign-in page, static files
SIGNED_IN = "signed_in"  # any identity, whatever its role: signing out
Need = Permission | str

# Routes Flask or a library adds, which cannot carry a decorator of ours.
LIBRARY_ROUTES: dict[str, Need] = {
    "static": PUBLIC,
    "api-docs.openapi_json": Permission.DOCS,
}
RATE_LIMITS = "fraud.rate_limits"  # where the app keeps its RateLimits
SESSION_COOKIE = "fraud_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = 'Bearer realm="fraud"'
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


class Unauthorized(Exception):
    """No identity, or a credential that is not one: 401."""

    def __init__(self, message: str, challenge: str = REALM) -> None:
        super().__init__(message)
        self.message = message
        self.challenge = challenge


class Forbidden(Exception):
    """An identity without the permission: 403."""


def install_access(
    app: Flask,
    authenticate: Authenticate,
    *,
    secret_key: str,
    default_limit: str,
    anonymous_limit: str,
    limit_storage: str,
    session_hours: float,
    trusted_proxies: int,
) -> RateLimits:
    """Everything above, on ``app``, in the order the hooks must run: authenticate and
    authorize, then count the request against its identity's limit."""
    limits = app.extensions[RATE_LIMITS] = RateLimits(
        default_limit, limit_storage, anonymous=anonymous_limit
    )
    if trusted_proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies, x_host=trusted_proxies
        )
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, for cookie-authenticated requests only
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
    csrf = CSRFProtect(app)
    logins = LoginManager(app, add_context_processor=False)  # pages read g.principal
    logins.session_protection = "strong"  # a cookie replayed from elsewhere is dropped

    @logins.user_loader
    def load_session(token: str) -> SessionUser | None:
        principal = authenticate.session(token)
        return None if principal is None else SessionUser(token, principal)

    @app.before_request
    def authorize() -> Response | None:
        view = app.view_functions.get(request.endpoint or "")
        if view is None:
            return None  # no such route: Flask answers 404 or 405
        need = getattr(view, "required", None) or LIBRARY_ROUTES.get(request.endpoint or "")
        if need is None:
            log.error("route declares no permission; refused", endpoint=request.endpoint)
            return error_response(403, "this resource declares no permission; refused")
        if need == PUBLIC:
            return None
        try:
            principal = _identify(authenticate, limits)
            if principal is None:
                raise Unauthorized(
                    "authentication required: send Authorization: Bearer KEY, or sign in"
                )
            g.principal = principal
            if isinstance(need, Permission) and not principal.may(need):
                raise Forbidden(f"the {principal.role} role may not do this (needs {need})")
        except Unauthorized as refused:
            _count_anonymous(limits)
            if getattr(view, "page", False):
                return redirect(url_for("access.sign_in", next=local_path(request.full_path)))
            response = error_response(401, refused.message)
            response.headers["WWW-Authenticate"] = refused.challenge
            return response
        except Forbidden as refused:
            log.info("request forbidden", principal=principal.subject, need=str(need))
            if getattr(view, "page", False):
                page = render_template("forbidden.html", principal=principal, reason=refused)
                return Response(page, status=403, mimetype="text/html")
            return error_response(403, str(refused))
        structlog.contextvars.bind_contextvars(principal=principal.subject)
        if g.via == "session" and request.method not in SAFE_METHODS:
            csrf.protect()
        return None

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError) -> Response:
        log.info("request refused: CSRF", reason=error.description)
        return error_response(403, f"refused: {error.description} (a cross-site request?)")

    @app.before_request
    def count() -> None:
        _count(app, limits)

    app.after_request(forbid_caching)
    return limits


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


def _identify(authenticate: Authenticate, limits: RateLimits) -> Principal | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized(
                "the Authorization header must be: Bearer KEY",
                f'{REALM}, error="invalid_request"',
            )
        principal = authenticate.key(key.strip(), lambda: _before_looking_up(limits))
        if principal is None:
            raise Unauthorized("unknown or revoked key", f'{REALM}, error="invalid_token"')
        g.via = "key"
        return principal
    if current_user.is_authenticated:
        g.via = "session"
        return current_user.principal  # type: ignore[no-any-return]
    return None


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, no host): where to go after
    signing in, never a redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return None
    return target.rstrip("?") or "/"
