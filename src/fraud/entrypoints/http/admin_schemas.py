"""The JSON of the administration API: keys, users and the audit log."""

from __future__ import annotations

from dataclasses import fields as fields_of
from typing import Any

from marshmallow import INCLUDE, Schema, fields, pre_dump, validate

from fraud.application.identity import AddedAccount, IssuedKey
from fraud.domain.identity import (
    NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    RATE_RULE,
    AuditAction,
    Role,
)
from fraud.entrypoints.http.schemas import Instant, QueryInteger, Shape

ROLES = [role.value for role in Role]
_NAME = {"description": "letters, digits and . _ @ -", "maxLength": NAME_MAX_LENGTH}


class KeySchema(Shape):
    """A system's key, without its secret (shown once, when it was created)."""

    name = fields.String(required=True, metadata=_NAME)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    rate_limit = fields.String(
        required=True, allow_none=True, metadata={"description": "null: the service's default"}
    )
    created_at = Instant(required=True)
    created_by = fields.String(required=True)
    revoked_at = Instant(required=True, allow_none=True)


def _with_fields_of(item: Any, secret_name: str, secret: str | None) -> dict[str, Any]:
    """A new key's or user's own fields, and beside them what is shown this once."""
    return {field.name: getattr(item, field.name) for field in fields_of(item)} | {
        secret_name: secret
    }


class IssuedKeySchema(KeySchema):
    """The new key: its secret is in this answer and nowhere else, ever."""

    @pre_dump
    def _flatten(self, issued: IssuedKey, **_: Any) -> dict[str, Any]:
        return _with_fields_of(issued.key, "secret", issued.secret)

    key = fields.String(
        required=True,
        attribute="secret",
        metadata={"description": "send it as Authorization: Bearer KEY; store it now"},
    )


class KeyRequestSchema(Schema):
    """A new key for a system."""

    class Meta:
        unknown = INCLUDE
        examples = ({"name": "payments-gateway", "role": "submitter", "rate_limit": "600/second"},)

    name = fields.String(required=True, metadata=_NAME)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    rate_limit = fields.String(
        allow_none=True, metadata={"description": f"{RATE_RULE}; absent or null: the default"}
    )


class UserSchema(Shape):
    name = fields.String(required=True, metadata=_NAME)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    created_at = Instant(required=True)
    created_by = fields.String(required=True)
    revoked_at = Instant(required=True, allow_none=True)


class AddedUserSchema(UserSchema):
    """The new user; ``password`` only when it was generated, shown here and nowhere else."""

    password = fields.String(metadata={"description": "the generated password"})

    @pre_dump
    def _flatten(self, added: AddedAccount, **_: Any) -> dict[str, Any]:
        return _with_fields_of(added.account, "password", added.password)


class UserRequestSchema(Schema):
    """A new person who signs in; without a password, one is generated and answered once."""

    class Meta:
        unknown = INCLUDE
        examples = ({"name": "alice", "role": "analyst"},)

    name = fields.String(required=True, metadata=_NAME)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    password = fields.String(
        allow_none=True,
        validate=validate.Length(PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH),
        metadata={"description": "absent or null: one is generated and answered once"},
    )


class AuditEventSchema(Shape):
    id = fields.Integer(required=True)
    at = Instant(required=True)
    actor = fields.String(required=True, metadata={"description": "who: a user, key:NAME, cli:"})
    action = fields.String(
        required=True, validate=validate.OneOf([action.value for action in AuditAction])
    )
    target = fields.String(required=True)
    source = fields.String(required=True, metadata={"description": "from where: an address"})
    succeeded = fields.Boolean(required=True)
    detail = fields.String(required=True)


class AuditQuerySchema(Schema):
    """Which page of the audit log: the ``limit`` latest events before event ``before``."""

    limit = QueryInteger(
        load_default=100,
        validate=validate.Range(1, 1000, error="must be an integer from 1 to 1000"),
        error_messages={"invalid": "must be an integer from 1 to 1000"},
    )
    before = QueryInteger(
        load_default=None,
        validate=validate.Range(min=1, error="must be an event id (1 or more)"),
        error_messages={"invalid": "must be an event id (1 or more)"},
        metadata={"description": "an event id: page back from it"},
    )
