"""`fraud keys`, `fraud users`, `fraud audit`: identities and the record of what they did.

A secret (a new key, a generated password) goes to standard output alone, once,
so a script can capture it (``KEY=$(fraud keys create ...)``); what is said about
it goes to standard error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path

import click
import structlog

from fraud.containers import Container
from fraud.domain.errors import IdentityConflict, InvalidIdentity, UnknownIdentity
from fraud.domain.identity import PASSWORD_MIN_LENGTH, RATE_RULE, RateLimit, Role
from fraud.domain.transaction import format_instant
from fraud.entrypoints.cli.context import (
    BadInput,
    CannotStart,
    CliContext,
    FullHelp,
    cli_actor,
    pass_context,
    refused_as_bad_input,
)
from fraud.owner_only import UnsafePath, refuse_unsafe, write_owner_only

ROLES = click.Choice([role.value for role in Role])
log = structlog.get_logger("fraud.cli")


def _container(ctx: CliContext) -> Container:
    return ctx.migrated()


def _refusals() -> AbstractContextManager[None]:
    return refused_as_bad_input(InvalidIdentity, IdentityConflict, UnknownIdentity)


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def _when(instant: datetime | None) -> str:
    return "" if instant is None else format_instant(instant)


# --- keys ------------------------------------------------------------------------------


@click.group(cls=FullHelp)
def keys() -> None:
    """API keys: how systems authenticate (Authorization: Bearer KEY)."""


def _rate_limit(_: click.Context, __: click.Parameter, value: str | None) -> RateLimit | None:
    if value is None:
        return None
    try:
        return RateLimit.parse("--rate-limit", value)
    except InvalidIdentity:
        raise click.BadParameter(RATE_RULE) from None


@keys.command("create")
@click.option("--name", required=True, help="Who uses it: a system's name.")
@click.option("--role", type=ROLES, required=True)
@click.option(
    "--rate-limit",
    callback=_rate_limit,
    help="Requests per period for this key, e.g. 600/second (default: FRAUD_RATE_LIMIT).",
)
@pass_context
def create_key(ctx: CliContext, name: str, role: str, rate_limit: RateLimit | None) -> None:
    """Create a key and print it, once: only its digest is kept."""
    with _refusals():
        issued = _container(ctx).manage_keys().create(name, Role(role), cli_actor(), rate_limit)
    limit = str(issued.key.rate_limit or ctx.settings.rate_limit)
    click.echo(
        f"key {name!r} created (role {role}, limit {limit}); it is shown only now:", err=True
    )
    click.echo(issued.secret)


@keys.command("list")
@pass_context
def list_keys(ctx: CliContext) -> None:
    """Every key, newest first, without secrets."""
    rows = [
        (
            key.name,
            key.role.value,
            str(key.rate_limit or "default"),
            _when(key.created_at),
            key.created_by,
            _when(key.revoked_at) or "live",
        )
        for key in _container(ctx).manage_keys().list()
    ]
    table(("name", "role", "rate limit", "created", "by", "revoked"), rows)


@keys.command("revoke")
@click.argument("name")
@pass_context
def revoke_key(ctx: CliContext, name: str) -> None:
    """Revoke a key: it stops working within a second."""
    with _refusals():
        _container(ctx).manage_keys().revoke(name, cli_actor())
    click.echo(f"key {name!r} revoked")


# --- users -----------------------------------------------------------------------------


@click.group(cls=FullHelp)
def users() -> None:
    """People who sign in to the dashboard."""


def _password(generate: bool, from_stdin: bool) -> str | None:
    """The password to set: None to generate one; one line of standard input; or typed
    twice at the terminal, unseen."""
    if generate:
        return None
    if from_stdin:
        return click.get_text_stream("stdin").readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise BadInput(
            "no terminal to type the password on: pass it as one line of standard input "
            "with --password-stdin, or --generate-password"
        )
    return str(
        click.prompt(
            f"password (at least {PASSWORD_MIN_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
            err=True,
        )
    )


def password_options(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option(
        "--password-stdin",
        "from_stdin",
        is_flag=True,
        help="Read the password from one line of standard input (for scripts).",
    )(command)
    return click.option(
        "--generate-password",
        "generate",
        is_flag=True,
        help="Generate the password and print it once, instead of asking for one.",
    )(command)


@users.command("add")
@click.argument("name")
@click.option("--role", type=ROLES, required=True)
@password_options
@pass_context
def add_user(ctx: CliContext, name: str, role: str, generate: bool, from_stdin: bool) -> None:
    """Add a person; the password is typed (twice), read from standard input, or generated
    and printed once."""
    password = _password(generate, from_stdin)
    with _refusals():
        added = _container(ctx).manage_accounts().add(name, Role(role), cli_actor(), password)
    click.echo(f"user {name!r} added (role {role})", err=True)
    if added.password is not None:
        click.echo("their password, shown only now:", err=True)
        click.echo(added.password)


@users.command("password")
@click.argument("name")
@password_options
@pass_context
def set_password(ctx: CliContext, name: str, generate: bool, from_stdin: bool) -> None:
    """Set a new password; the person is signed out everywhere."""
    password = _password(generate, from_stdin)
    with _refusals():
        generated = _container(ctx).manage_accounts().set_password(name, cli_actor(), password)
    click.echo(f"password of {name!r} set; their sessions are closed", err=True)
    if generated is not None:
        click.echo(generated)


@users.command("list")
@pass_context
def list_users(ctx: CliContext) -> None:
    """Every user, newest first."""
    rows = [
        (
            account.name,
            account.role.value,
            _when(account.created_at),
            account.created_by,
            _when(account.revoked_at) or "live",
        )
        for account in _container(ctx).manage_accounts().list()
    ]
    table(("name", "role", "created", "by", "revoked"), rows)


@users.command("revoke")
@click.argument("name")
@pass_context
def revoke_user(ctx: CliContext, name: str) -> None:
    """Revoke a person: they cannot sign in, and their sessions end."""
    with _refusals():
        _container(ctx).manage_accounts().revoke(name, cli_actor())
    click.echo(f"user {name!r} revoked")


# --- audit -----------------------------------------------------------------------------


@click.group(cls=FullHelp)
def audit() -> None:
    """The audit log: keys and users created and revoked, sign-ins, labels."""


@audit.command("list")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--before", type=click.IntRange(min=1), help="Page back from this event id.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_context
def list_audit(ctx: CliContext, limit: int, before: int | None, as_json: bool) -> None:
    """The latest events, newest first."""
    events = _container(ctx).audit_trail()(limit, before)
    if as_json:
        for event in events:
            record = {
                "id": event.id,
                "at": format_instant(event.at),
                "actor": event.actor,
                "action": event.action.value,
                "target": event.target,
                "source": event.source,
                "succeeded": event.succeeded,
                "detail": event.detail,
            }
            click.echo(json.dumps(record))
        return
    rows = [
        (
            str(event.id),
            _when(event.at),
            event.actor,
            event.action.value,
            event.target,
            event.source,
            "yes" if event.succeeded else "NO",
            event.detail,
        )
        for event in events
    ]
    table(("id", "when", "who", "did", "to", "from", "allowed", "detail"), rows)


# --- the first start -------------------------------------------------------------------


def first_run(ctx: CliContext, container: Container, url: str) -> None:
    """On a store with no users yet: create the administrator and a submitter key and show
    them once: on the terminal, or, without one (a service manager collecting the output as
    logs), in a file only this account can read, whose path the log names. A path that
    could hand the secrets to someone else (a symbolic link, a shared folder) stops the
    start before anything is made."""
    file = None if ctx.interactive else Path(ctx.settings.first_run_file)
    if file is not None and not container.manage_accounts().list():
        with _unsafe_file_stops_the_start():
            refuse_unsafe(file)
    created = container.first_run()()
    if created is None:
        return
    password = created.administrator.password
    key = created.submitter
    text = "\n".join(
        [
            "First start: an administrator and a key to submit transactions with were made.",
            "They are shown only now; keep them somewhere safe.",
            f"  sign in at {url}/signin as {created.administrator.account.name!r}",
            f"    password: {password}",
            f"  key {key.key.name!r} (role {key.key.role}):",
            f"    {key.secret}",
            f'  use it as: curl -H "Authorization: Bearer $KEY" {url}/transaction/ID',
            "More: fraud users add NAME --role ROLE; fraud keys create --name NAME --role ROLE",
            "",
        ]
    )
    if file is None:
        click.echo(text, err=True)
        return
    # Swapped in since the check above: the secrets exist now, so say how to replace them.
    with _unsafe_file_stops_the_start(
        f"The administrator {created.administrator.account.name!r} and the key "
        f"{key.key.name!r} were made, but their secrets were shown to no one: give new ones "
        f"with `fraud users password {created.administrator.account.name} "
        f"--generate-password` and `fraud keys revoke {key.key.name}`."
    ):
        write_owner_only(file, text)
    log.warning(
        "first start: an administrator and a submitter key were created; their secrets are "
        "in the file named, readable by this account only: read it, then delete it",
        path=str(file.resolve()),
    )


@contextmanager
def _unsafe_file_stops_the_start(then: str = "Nothing was made.") -> Iterator[None]:
    try:
        yield
    except UnsafePath as unsafe:
        raise CannotStart(
            f"the first start's credentials were not written: {unsafe}. Set "
            f"FRAUD_FIRST_RUN_FILE to a path of this account's own, or make that one safe. "
            f"{then}"
        ) from None
