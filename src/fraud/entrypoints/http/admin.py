"""Administration: keys, users and the audit log, as an API and as a page, for admins.

What the use cases refuse (a broken request, a name taken, no such name) is answered
by the error handlers (422, 409, 404), as every domain error is."""

from __future__ import annotations

import flask
from dependency_injector.wiring import Provide, inject
from flask import render_template
from flask_smorest import Blueprint

from fraud.application.identity import (
    AddedAccount,
    AuditTrail,
    IssuedKey,
    ManageAccounts,
    ManageKeys,
)
from fraud.containers import Container
from fraud.domain.identity import (
    NAME_MAX_LENGTH,
    Account,
    AccountRequest,
    ApiKey,
    AuditEvent,
    KeyRequest,
    Permission,
)
from fraud.entrypoints.http.access import current_actor, requires
from fraud.entrypoints.http.admin_schemas import (
    AddedUserSchema,
    AuditEventSchema,
    AuditQuerySchema,
    IssuedKeySchema,
    KeyRequestSchema,
    KeySchema,
    UserRequestSchema,
    UserSchema,
)
from fraud.entrypoints.http.api import BAD_BODY, json_body
from fraud.entrypoints.http.openapi import NOT_JSON, TOO_LARGE, answers_also, request_body
from fraud.entrypoints.http.schemas import ErrorSchema

admin = Blueprint("admin", __name__, description="Keys, users and the audit log (admins)")
admin_pages = flask.Blueprint("admin_pages", __name__)

NAME = {
    "in": "path",
    "name": "name",
    "description": "the key's or user's name",
    "schema": {"type": "string", "minLength": 1, "maxLength": NAME_MAX_LENGTH},
}
REFUSED = {
    "status_code": 422,
    "schema": ErrorSchema,
    "description": "The request breaks the contract: one detail per field",
}
TAKEN = {
    "status_code": 409,
    "schema": ErrorSchema,
    "description": "The name is taken (revoked ones stay taken)",
}
UNKNOWN = {"status_code": 404, "schema": ErrorSchema, "description": "No live one of that name"}


# What creating a key or a user may answer instead: the name taken, a body that breaks the
# contract, is not JSON, cannot be read or is too large.
creation_refusals = answers_also(admin, TOO_LARGE, BAD_BODY, NOT_JSON, REFUSED, TAKEN)


@admin.get("/api/keys", tags=["admin"])
@admin.response(200, KeySchema(many=True), description="Every key, newest first")
@requires(Permission.ADMINISTER)
@inject
def list_keys(keys: ManageKeys = Provide[Container.manage_keys]) -> list[ApiKey]:
    """The keys systems call the API with, live and revoked."""
    return keys.list()


@admin.post("/api/keys", tags=["admin"])
@admin.doc(**request_body(KeyRequestSchema, "the new key's name, role and rate limit"))
@admin.response(201, IssuedKeySchema, description="The key, with its secret this once")
@creation_refusals
@requires(Permission.ADMINISTER)
@inject
def create_key(keys: ManageKeys = Provide[Container.manage_keys]) -> tuple[IssuedKey, int]:
    """Create a key; its secret is in this answer only (only its digest is stored)."""
    wanted = KeyRequest.parse(json_body())
    return keys.create(wanted.name, wanted.role, current_actor(), wanted.rate_limit), 201


@admin.delete("/api/keys/<name>", tags=["admin"], parameters=[NAME])
@admin.response(204, description="Revoked: it stops working within a second")
@admin.alt_response(**UNKNOWN)
@requires(Permission.ADMINISTER)
@inject
def revoke_key(name: str, keys: ManageKeys = Provide[Container.manage_keys]) -> tuple[str, int]:
    """Revoke a key."""
    keys.revoke(name, current_actor())
    return "", 204


@admin.get("/api/users", tags=["admin"])
@admin.response(200, UserSchema(many=True), description="Every user, newest first")
@requires(Permission.ADMINISTER)
@inject
def list_users(accounts: ManageAccounts = Provide[Container.manage_accounts]) -> list[Account]:
    """The people who sign in, live and revoked."""
    return accounts.list()


@admin.post("/api/users", tags=["admin"])
@admin.doc(**request_body(UserRequestSchema, "the new user's name, role and password"))
@admin.response(201, AddedUserSchema, description="The user; a generated password this once")
@creation_refusals
@requires(Permission.ADMINISTER)
@inject
def add_user(
    accounts: ManageAccounts = Provide[Container.manage_accounts],
) -> tuple[AddedAccount, int]:
    """Add a person who signs in."""
    wanted = AccountRequest.parse(json_body())
    return accounts.add(wanted.name, wanted.role, current_actor(), wanted.password), 201


@admin.delete("/api/users/<name>", tags=["admin"], parameters=[NAME])
@admin.response(204, description="Revoked, and signed out everywhere")
@admin.alt_response(**UNKNOWN)
@requires(Permission.ADMINISTER)
@inject
def revoke_user(
    name: str, accounts: ManageAccounts = Provide[Container.manage_accounts]
) -> tuple[str, int]:
    """Revoke a user; their sessions end."""
    accounts.revoke(name, current_actor())
    return "", 204


@admin.get("/api/audit", tags=["admin"])
@admin.arguments(AuditQuerySchema, location="query", as_kwargs=True)
@admin.response(200, AuditEventSchema(many=True), description="Events, newest first")
@admin.alt_response(422, schema=ErrorSchema, description="limit or before is out of range")
@requires(Permission.ADMINISTER)
@inject
def audit(
    limit: int, before: int | None, trail: AuditTrail = Provide[Container.audit_trail]
) -> list[AuditEvent]:
    """The audit log: keys and users created and revoked, sign-ins, labels."""
    return trail(limit, before)


@admin_pages.get("/admin")
@requires(Permission.ADMINISTER, page=True)
@inject
def admin_page(
    keys: ManageKeys = Provide[Container.manage_keys],
    accounts: ManageAccounts = Provide[Container.manage_accounts],
    trail: AuditTrail = Provide[Container.audit_trail],
) -> str:
    return render_template(
        "admin.html",
        keys=KeySchema(many=True).dump(keys.list()),
        users=UserSchema(many=True).dump(accounts.list()),
        events=AuditEventSchema(many=True).dump(trail(200)),
    )
