"""`fraud lists` and `fraud webhooks`: value lists (rules read them as ``lists.NAME``) and
signed event subscriptions, from the command line, as ``cli:<account>``."""

from __future__ import annotations

from contextlib import AbstractContextManager

import click

from fraud.containers import Container
from fraud.domain.lists import (
    LIST_FIELDS,
    InvalidListRequest,
    ListExists,
    ListFull,
    NewEntry,
    NewList,
    UnknownEntry,
    UnknownList,
)
from fraud.domain.transaction import format_instant
from fraud.domain.webhooks import (
    DeliveryStatus,
    EventType,
    InvalidWebhook,
    NewSubscription,
    UnknownSubscription,
)
from fraud.entrypoints.cli.access import table
from fraud.entrypoints.cli.context import (
    CliContext,
    FullHelp,
    cli_actor,
    pass_context,
    refused_as_bad_input,
)


def _container(ctx: CliContext) -> Container:
    return ctx.migrated()


def _refusals() -> AbstractContextManager[None]:
    return refused_as_bad_input(
        InvalidListRequest,
        ListExists,
        ListFull,
        UnknownList,
        UnknownEntry,
        InvalidWebhook,
        UnknownSubscription,
    )


@click.group(cls=FullHelp)
def lists() -> None:
    """Value lists rules read as lists.NAME (e.g. tx.user_id in lists.blocked_cards)."""


@lists.command("create")
@click.argument("name")
@click.option("--field", type=click.Choice(LIST_FIELDS), default="user_id", show_default=True)
@click.option("--description", default="")
@pass_context
def create_list(ctx: CliContext, name: str, field: str, description: str) -> None:
    """Make a list of values of one transaction field."""
    request = {"name": name, "field": field, "description": description}
    with _refusals():
        _container(ctx).manage_lists().create(NewList.parse(request), cli_actor())
    click.echo(f"list {name!r} of {field} made; rules read it as lists.{name}", err=True)


@lists.command("add")
@click.argument("name")
@click.argument("value")
@click.option("--reason", required=True, help="Why it is listed (audited).")
@click.option("--days", type=float, help="For how long [default: until removed].")
@pass_context
def add_entry(ctx: CliContext, name: str, value: str, reason: str, days: float | None) -> None:
    """Add a value to a list (in force on every worker within seconds)."""
    request: dict[str, object] = {"value": value, "reason": reason}
    if days is not None:
        request["days"] = days
    with _refusals():
        entry = _container(ctx).manage_lists().add(name, NewEntry.parse(request), cli_actor())
    until = (
        "until removed" if entry.expires_at is None else f"until {format_instant(entry.expires_at)}"
    )
    click.echo(f"{value} is on list {name} {until}", err=True)


@lists.command("remove")
@click.argument("name")
@click.argument("value")
@pass_context
def remove_entry(ctx: CliContext, name: str, value: str) -> None:
    """Remove a value from a list."""
    with _refusals():
        _container(ctx).manage_lists().remove(name, value, cli_actor())
    click.echo(f"{value} removed from list {name}", err=True)


@lists.command("show")
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@pass_context
def show_list(ctx: CliContext, name: str | None, limit: int) -> None:
    """Every list, or one list's entries, latest added first."""
    manage = _container(ctx).manage_lists()
    if name is None:
        rows = [(v.name, v.field, str(v.entries), v.description) for v in manage.lists()]
        table(("list", "field", "live entries", "description"), rows)
        return
    with _refusals():
        found, entries = manage.show(name, limit)
    click.echo(f"{found.name} ({found.field}): {found.entries} live entries")
    table(
        ("value", "expires", "added by", "added", "reason"),
        [
            (
                e.value,
                "never" if e.expires_at is None else format_instant(e.expires_at),
                e.added_by,
                format_instant(e.added_at),
                e.reason,
            )
            for e in entries
        ],
    )


# --- webhooks -----------------------------------------------------------------------------------


@click.group(cls=FullHelp)
def webhooks() -> None:
    """Signed events sent to other systems: subscriptions, their deliveries, replays."""


@webhooks.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    required=True,
    type=click.Choice([event.value for event in EventType]),
    help="An event to send (repeatable).",
)
@click.option("--description", default="")
@pass_context
def add_webhook(ctx: CliContext, url: str, events: tuple[str, ...], description: str) -> None:
    """Subscribe URL to events; its signing secret is printed this once (stdout)."""
    request = {"url": url, "events": list(events), "description": description}
    with _refusals():
        made = _container(ctx).manage_webhooks().add(NewSubscription.parse(request), cli_actor())
    click.echo(f"subscription {made.subscription.id}: {url}", err=True)
    click.echo("its signing secret, shown this once (store it now):", err=True)
    click.echo(made.secret)


@webhooks.command("list")
@pass_context
def list_webhooks(ctx: CliContext) -> None:
    """Every subscription, removed ones too."""
    rows = [
        (
            str(s.id),
            s.url,
            ", ".join(event.value for event in s.events),
            s.created_by,
            "" if s.removed_at is None else f"removed {format_instant(s.removed_at)}",
        )
        for s in _container(ctx).manage_webhooks().subscriptions()
    ]
    table(("id", "url", "events", "by", ""), rows)


@webhooks.command("remove")
@click.argument("subscription_id", type=int)
@pass_context
def remove_webhook(ctx: CliContext, subscription_id: int) -> None:
    """Stop sending to a subscription; its log stays."""
    with _refusals():
        _container(ctx).manage_webhooks().remove(subscription_id, cli_actor())
    click.echo(f"subscription {subscription_id} removed", err=True)


@webhooks.command("deliveries")
@click.argument("subscription_id", type=int)
@click.option("--status", type=click.Choice([status.value for status in DeliveryStatus]))
@click.option("--attempts", is_flag=True, help="The delivery log: every attempt instead.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@pass_context
def deliveries(
    ctx: CliContext, subscription_id: int, status: str | None, attempts: bool, limit: int
) -> None:
    """A subscription's deliveries (or, with --attempts, every attempt), newest first."""
    manage = _container(ctx).manage_webhooks()
    with _refusals():
        if attempts:
            log = manage.attempts(subscription_id, limit)
            rows = [
                (
                    format_instant(a.at),
                    a.event_id,
                    "" if a.status_code is None else str(a.status_code),
                    a.error or "",
                    f"{a.duration_ms:.1f} ms",
                )
                for a in log
            ]
            table(("at", "event", "status", "error", "took"), rows)
            return
        wanted = None if status is None else DeliveryStatus(status)
        found = manage.deliveries(subscription_id, wanted, limit)
    rows = [
        (
            str(d.id),
            d.event_type.value,
            d.event_id,
            d.status.value,
            str(d.attempts),
            d.last_error or "",
        )
        for d in found
    ]
    table(("delivery", "event", "id", "status", "attempts", "last error"), rows)


@webhooks.command("replay")
@click.argument("subscription_id", type=int)
@click.option("--delivery", "delivery_ids", type=int, multiple=True, help="Only these.")
@pass_context
def replay(ctx: CliContext, subscription_id: int, delivery_ids: tuple[int, ...]) -> None:
    """Send a subscription's failed deliveries again."""
    with _refusals():
        sent = (
            _container(ctx)
            .manage_webhooks()
            .replay(subscription_id, cli_actor(), list(delivery_ids))
        )
    click.echo(f"{sent} failed deliveries are sent again", err=True)
