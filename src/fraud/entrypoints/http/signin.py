"""Signing in and out: the password form of the built-in identity provider.

The views only ever see a :class:`~fraud.domain.identity.Principal`; how a person
proved who they are is this module's business. An OIDC provider would be another
blueprint whose callback ends the same way (``_open``): a server-side session
and ``login_user``; nothing else changes.
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
from fraud.domain.identity import NAME_MAX_LENGTH, PASSWORD_MAX_LENGTH
from fraud.entrypoints.http.access import (
    PUBLIC,
    SIGNED_IN,
    SessionUser,
    current_actor,
    local_path,
    requires,
)

access = Blueprint("access", __name__)
log = structlog.get_logger(__name__)


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
    if not form.validate_on_submit():
        return render_template("signin.html", form=form, refused=True), 400
    opened = signing_in(form.name.data, form.password.data, request.remote_addr or "unknown")
    if opened is None:
        return render_template("signin.html", form=form, refused=True), 401
    signed_in, token = opened
    session.clear()  # nothing from before signing in (its CSRF token) carries over
    session.permanent = True  # lasts PERMANENT_SESSION_LIFETIME, as the stored session does
    login_user(SessionUser(token, signed_in.principal))
    return redirect(target)


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
