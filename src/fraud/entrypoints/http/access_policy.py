"""Whether a request may reach its view, decided from its facts alone: what the view
declared it needs, the credential sent, the signed-in session, the method. No Flask here:
:mod:`fraud.entrypoints.http.access` gathers the facts from the request and carries the
decision out (the 401, the redirect, the 403 page, the CSRF check), and a test asks the
policy directly.

The rules, in the order they apply:

* A route that declares nothing is refused for everybody, so a new endpoint cannot ship
  unprotected; a public one proceeds without asking who is there.
* ``Authorization: Bearer KEY`` is that key's, and only that: a malformed header or an
  unknown or revoked key is a 401 even with a session cookie. Without the header, the
  signed-in session's; without either, nobody: a 401 with the ``Bearer`` challenge, or
  for a page, the sign-in page.
* An identity without the permission the route needs is refused (403).
* A state-changing request that a session (a cookie, which a browser sends by itself)
  authenticates must carry the page's CSRF token; one with a key need not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from fraud.domain.identity import Permission, Principal

PUBLIC = "public"  # anybody: /health, the sign-in page, static files
SIGNED_IN = "signed_in"  # any identity, whatever its role: signing out
Need = Permission | str
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = 'Bearer realm="fraud"'
NO_CREDENTIAL = "authentication required: send Authorization: Bearer KEY, or sign in"


class Via(StrEnum):
    """How the request proved who it is."""

    KEY = "key"
    SESSION = "session"


@dataclass(frozen=True, slots=True)
class Route:
    """What a view declared: what it needs (None: nothing, so it is refused), and whether
    it is a page for people (an anonymous visitor is sent to sign in, not answered 401)."""

    need: Need | None
    page: bool = False


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """The facts of a request the policy decides on. ``signed_in`` gives the session's
    principal (None: no session); it is asked only when no key was sent, as reading a
    session costs a look-up."""

    route: Route
    method: str
    authorization: str | None
    signed_in: Callable[[], Principal | None]


@dataclass(frozen=True, slots=True)
class Proceed:
    """On to the view: as ``principal`` (None on a public route, where nobody is asked),
    after the CSRF token is checked if ``check_csrf``."""

    principal: Principal | None = None
    via: Via | None = None
    check_csrf: bool = False


@dataclass(frozen=True, slots=True)
class Undeclared:
    """The route declares no permission: refused for everybody (403)."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """No identity proved: 401, with ``challenge`` in ``WWW-Authenticate``."""

    message: str
    challenge: str = REALM


@dataclass(frozen=True, slots=True)
class SignInFirst:
    """No identity proved on a page: the visitor is sent to sign in."""

    message: str


@dataclass(frozen=True, slots=True)
class Refuse:
    """An identity without the permission the route needs: 403."""

    principal: Principal
    reason: str
    page: bool


Decision = Proceed | Undeclared | Challenge | SignInFirst | Refuse


class AccessPolicy:
    """Decides every request; ``look_up_key`` gives a key's principal (None: unknown or
    revoked), and may raise to refuse the look-up itself (an address out of attempts)."""

    def __init__(self, look_up_key: Callable[[str], Principal | None]) -> None:
        self.look_up_key = look_up_key

    def decide(self, request: AccessRequest) -> Decision:
        need = request.route.need
        if need is None:
            return Undeclared()
        if need == PUBLIC:
            return Proceed()
        identified = self._identify(request)
        if isinstance(identified, Challenge):
            return SignInFirst(identified.message) if request.route.page else identified
        principal, via = identified
        if isinstance(need, Permission) and not principal.may(need):
            reason = f"the {principal.role} role may not do this (needs {need})"
            return Refuse(principal, reason, request.route.page)
        check_csrf = via is Via.SESSION and request.method not in SAFE_METHODS
        return Proceed(principal, via, check_csrf)

    def _identify(self, request: AccessRequest) -> tuple[Principal, Via] | Challenge:
        header = request.authorization
        if header is None:
            principal = request.signed_in()
            return Challenge(NO_CREDENTIAL) if principal is None else (principal, Via.SESSION)
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return Challenge(
                "the Authorization header must be: Bearer KEY", f'{REALM}, error="invalid_request"'
            )
        principal = self.look_up_key(key.strip())
        if principal is None:
            return Challenge("unknown or revoked key", f'{REALM}, error="invalid_token"')
        return principal, Via.KEY
