"""Signing in and out: the password form of the built-in identity provider.

The views only ever see a :class:`~fraud.domain.identity.Principal`; how a person
proved who they are is this module's business. An OIDC provider would be another
blueprint whose callback ends the same way (``_open``): a server-side session
and ``login_user``; nothing else changes.

Guessing is throttled twice: attempts per address (one client), and attempts per
account name from anywhere (many clients, one victim), a sign-in that succeeds
starting the name's count afresh. A name held back answers alike whether or not
such an account exists (429, with Retry-After), so the lock tells nothing about it.
"""

from __future__ import annotations

import structlog
from dependency_injector.wiring import Provide, inject
from flask import Blueprint, Response, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from fraud.application.identity import Authenticate, SignIn
from fraud.containers import Container
from fraud.domain.identity import NAME_MAX_LENGTH, PASSWORD_MAX_LENGTH, digest
from fraud.entrypoints.http.access import (
    PUBLIC,
    SIGNED_IN,
    SessionUser,
    address,
    current_actor,
    local_path,
    rate_limits,
    requires,
)
from fraud.entrypoints.http.rate_limits import Refusal

access = Blueprint("access", __name__)
log = structlog.get_logger(__name__)

ADDRESS_LIMIT = "10/minute"  # attempts to sign in from one address
ACCOUNT_LIMIT = "5/15 minutes"  # attempts on one account name, from any address


class SignInForm(FlaskForm):  # type: ignore[misc]
    name = StringField("name", [DataRequired(), Length(max=NAME_MAX_LENGTH)])
    password = PasswordField("password", [DataRequired(), Length(max=PASSWORD_MAX_LENGTH)])


@access.route("/signin", methods=["GET", "POST"])
@requires(PUBLIC)
@inject
def sign_in(
    signing_in: SignIn = Provide[Container.sign_in],
) -> str | Response | tuple[str, int]:
    form = SignInForm()
    target = local_path(request.args.get("next")) or url_for("pages.index")
    if request.method == "GET":
        return render_template("signin.html", form=form, refused=False)
    limits = rate_limits()
    held_back = limits.hit(f"sign-in:{address()}", ADDRESS_LIMIT)
    if held_back is not None:
        return _held_back(form, held_back)
    if not form.validate_on_submit():
        return render_template("signin.html", form=form, refused=True), 400
    # By digest: any text a person types makes a valid key in every storage (Memcached's
    # refuse spaces), and no name is written into Redis.
    account = f"sign-in:account:{digest(form.name.data.casefold())}"
    held_back = limits.hit(account, ACCOUNT_LIMIT)
    if held_back is not None:
        return _held_back(form, held_back)
    opened = signing_in(form.name.data, form.password.data, address())
    if opened is None:
        return render_template("signin.html", form=form, refused=True), 401
    limits.clear(account, ACCOUNT_LIMIT)
    signed_in, token = opened
    session.clear()  # nothing from before signing in (its CSRF token) carries over
    session.permanent = True  # lasts PERMANENT_SESSION_LIFETIME, as the stored session does
    login_user(SessionUser(token, signed_in.principal))
    return redirect(target)


def _held_back(form: SignInForm, refused: Refusal) -> Response:
    """Too many attempts from this address or on this name: not even tried."""
    log.warning("sign-in refused: too many attempts", limit=refused.limit, address=address())
    page = render_template("signin.html", form=form, refused=True, retry_after=refused.retry_after)
    return Response(page, 429, {"Retry-After": str(refused.retry_after)}, mimetype="text/html")


@access.post("/signout")
@requires(SIGNED_IN)
@inject
def sign_out(
    signing_in: SignIn = Provide[Container.sign_in],
    authenticate: Authenticate = Provide[Container.authenticate],
) -> Response:
    if g.get("via") == "session":
        signing_in.sign_out(current_user.token, current_actor())
        authenticate.forget_session(current_user.token)
    logout_user()
    session.clear()
    return redirect(url_for("access.sign_in"))
