"""`fraud queues` and `fraud cases`: review queues (admins' settings) and working cases from
the command line, as ``cli:<account>``; the same as /api/queues and /api/cases."""

from __future__ import annotations

from contextlib import AbstractContextManager

import click

from fraud.application.cases import Ranked
from fraud.containers import Container
from fraud.domain.cases import (
    CaseStatus,
    CaseTaken,
    Disposition,
    InvalidCaseRequest,
    NoCaseWaiting,
    QueueExists,
    Resolution,
    UnknownCase,
    UnknownQueue,
    new_queue,
    parse_note,
)
from fraud.domain.lists import InvalidListRequest, ListFull, Listing, UnknownList
from fraud.domain.ports.cases import CaseFilter
from fraud.domain.rules import InvalidExpression
from fraud.domain.transaction import format_instant
from fraud.entrypoints.cli.access import table
from fraud.entrypoints.cli.context import (
    CliContext,
    FullHelp,
    cli_actor,
    pass_context,
    refused_as_bad_input,
)

STATUSES = click.Choice([status.value for status in CaseStatus])
DISPOSITIONS = click.Choice([disposition.value for disposition in Disposition])


def _container(ctx: CliContext) -> Container:
    return ctx.migrated()


def _refusals() -> AbstractContextManager[None]:
    return refused_as_bad_input(
        InvalidCaseRequest,
        InvalidExpression,
        InvalidListRequest,
        UnknownCase,
        UnknownQueue,
        UnknownList,
        CaseTaken,
        QueueExists,
        NoCaseWaiting,
        ListFull,
    )


# --- queues -------------------------------------------------------------------------------------


@click.group(cls=FullHelp)
def queues() -> None:
    """Review queues: where cases wait, routed by a CEL condition, with an SLA."""


@queues.command("list")
@pass_context
def list_queues(ctx: CliContext) -> None:
    """Every queue in routing order, its cases counted and those past its SLA."""
    container = _container(ctx)
    now = container.clock().now()
    rows = [
        (
            state.queue.name,
            f"{state.queue.sla.total_seconds() / 60:g} min",
            str(state.open),
            str(state.claimed),
            str(state.waiting),
            str(state.past_sla),
            state.warning(now) or "",
            state.queue.condition,
        )
        for state in container.work_cases().queue_states()
    ]
    table(("queue", "SLA", "open", "held", "waiting", "past SLA", "", "condition"), rows)


def _queue_fields(options: dict[str, object]) -> dict[str, object]:
    """The options given, by the names a queue's request takes."""
    named = {"declines": "include_declines"}
    return {named.get(k, k): value for k, value in options.items() if value is not None}


def _queue_options(command: click.Command) -> click.Command:
    for option in reversed(
        [
            click.option("--condition", help="CEL over tx, features, score, decision, rules."),
            click.option("--sla-minutes", type=click.FloatRange(min=0.05)),
            click.option("--declines/--no-declines", default=None, help="Declines open cases too."),
            click.option("--position", type=click.IntRange(0, 1_000_000), help="Lower first."),
            click.option("--description"),
        ]
    ):
        command = option(command)
    return command


@queues.command("add")
@click.argument("name")
@_queue_options
@pass_context
def add_queue(ctx: CliContext, name: str, **fields: object) -> None:
    """Add a queue; its condition is checked like a rule's."""
    with _refusals():
        queue = (
            _container(ctx)
            .manage_queues()
            .add(
                new_queue({"name": name, **_queue_fields(fields)}),
                cli_actor(),
            )
        )
    click.echo(f"queue {queue.name!r} added", err=True)


@queues.command("update")
@click.argument("name")
@_queue_options
@pass_context
def update_queue(ctx: CliContext, name: str, **fields: object) -> None:
    """Change a queue: each change is its next version."""
    with _refusals():
        queue = (
            _container(ctx)
            .manage_queues()
            .change(
                name,
                _queue_fields(fields),
                cli_actor(),
            )
        )
    click.echo(f"queue {queue.name!r} changed: version {queue.version}", err=True)


# --- cases --------------------------------------------------------------------------------------


@click.group(cls=FullHelp)
def cases() -> None:
    """Review cases: list, show, claim (or the next), note, resolve, list a case's card."""


def _rows(cases: list[Ranked]) -> list[tuple[str, ...]]:
    return [
        (
            str(r.case.id),
            r.case.status.value,
            r.case.queue,
            f"{r.priority:.3f}",
            r.case.user_id,
            f"{r.case.amount:,.2f} {r.case.currency}",
            f"{r.case.fraud_score:.3f}",
            r.case.assignee or "",
            format_instant(r.due_at),
        )
        for r in cases
    ]


HEADER = ("case", "status", "queue", "priority", "card", "amount", "score", "held by", "SLA due")


@cases.command("list")
@click.option("--queue", help="A queue's open cases by priority, then those held or waiting.")
@click.option("--status", type=STATUSES)
@click.option("--card", "user_id")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@pass_context
def list_cases(
    ctx: CliContext, queue: str | None, status: str | None, user_id: str | None, limit: int
) -> None:
    """Cases: a queue's in priority order, or any by status and card, newest first."""
    work = _container(ctx).work_cases()
    with _refusals():
        if queue is not None and status is None and user_id is None:
            view = work.queue(queue)
            table(HEADER, _rows([*view.ranked, *view.held][:limit]))
            return
    statuses = () if status is None else (CaseStatus(status),)
    found = work.cases(CaseFilter(queue, statuses, None, user_id, limit))
    rows = [
        (
            str(c.id),
            c.status.value,
            c.queue,
            c.user_id,
            f"{c.amount:,.2f} {c.currency}",
            c.assignee or "",
        )
        for c in found
    ]
    table(("case", "status", "queue", "card", "amount", "held by"), rows)


@cases.command("show")
@click.argument("case_id", type=int)
@pass_context
def show_case(ctx: CliContext, case_id: int) -> None:
    """A case: its transaction, reasons, notes, history, the card's other open cases."""
    with _refusals():
        detail = _container(ctx).work_cases().detail(case_id)
    case = detail.case.case
    click.echo(
        f"case {case.id} ({case.status.value}) in {case.queue}: {case.decision.value} of "
        f"{case.transaction_id}, card {case.user_id}, {case.amount:,.2f} {case.currency} at "
        f"{case.merchant}, score {case.fraud_score:.3f}"
    )
    click.echo(
        f"  priority {detail.case.priority:.3f}; SLA due {format_instant(detail.case.due_at)}"
    )
    if case.assignee:
        click.echo(f"  held by {case.assignee}")
    if case.disposition:
        click.echo(f"  disposition: {case.disposition.value} by {case.resolved_by}")
    if detail.record is not None and detail.record.assessment is not None:
        for reason in detail.record.assessment.reasons:
            click.echo(f"  why: {reason}")
    for note in detail.notes:
        click.echo(f"  note ({note.by}, {format_instant(note.at)}): {note.text}")
    for event in detail.history:
        click.echo(f"  {format_instant(event.at)} {event.by}: {event.action.value} {event.detail}")
    for other in detail.card_cases:
        click.echo(f"  the card's case {other.id}: {other.status.value}")


@cases.command("claim")
@click.argument("case_id", type=int, required=False)
@click.option("--next", "queue", help="Claim the next case of this queue instead.")
@pass_context
def claim_case(ctx: CliContext, case_id: int | None, queue: str | None) -> None:
    """Claim a case (or, with --next QUEUE, the queue's case of highest priority)."""
    if (case_id is None) == (queue is None):
        raise click.UsageError("name a CASE_ID, or a queue with --next")
    work = _container(ctx).work_cases()
    with _refusals():
        case = (
            work.claim_next(queue, cli_actor()) if queue else work.claim(case_id or 0, cli_actor())
        )
    click.echo(f"case {case.id} held by {case.assignee} ({case.transaction_id})")


@cases.command("note")
@click.argument("case_id", type=int)
@click.argument("text")
@pass_context
def note_case(ctx: CliContext, case_id: int, text: str) -> None:
    """Add a note to a case."""
    with _refusals():
        _container(ctx).work_cases().note(case_id, parse_note({"text": text}), cli_actor())
    click.echo(f"case {case_id} noted", err=True)


@cases.command("resolve")
@click.argument("case_id", type=int)
@click.argument("disposition", type=DISPOSITIONS)
@click.option("--note", help="A note with it.")
@click.option("--whole-card", is_flag=True, help="The card's other cases the same way.")
@pass_context
def resolve_case(
    ctx: CliContext, case_id: int, disposition: str, note: str | None, whole_card: bool
) -> None:
    """Dispose of a case: fraud or not_fraud is the transaction's label; needs_info waits."""
    body: dict[str, object] = {"disposition": disposition, "whole_card": whole_card}
    if note is not None:
        body["note"] = note
    with _refusals():
        changed = _container(ctx).work_cases().resolve(case_id, Resolution.parse(body), cli_actor())
    for case in changed:
        click.echo(f"case {case.id}: {case.status.value} ({disposition}) {case.transaction_id}")


@cases.command("list-card")
@click.argument("case_id", type=int)
@click.option("--list", "list_name", required=True, help="The list (its field says which value).")
@click.option("--days", type=click.FloatRange(0.001, 3650), help="For how long [default: ever].")
@click.option("--reason", required=True)
@pass_context
def list_card(
    ctx: CliContext, case_id: int, list_name: str, days: float | None, reason: str
) -> None:
    """Add the case's card (or merchant, by the list's field) to a list: block it."""
    body: dict[str, object] = {"list": list_name, "reason": reason}
    if days is not None:
        body["days"] = days
    with _refusals():
        entry = _container(ctx).work_cases().list_value(case_id, Listing.parse(body), cli_actor())
    until = (
        "until removed" if entry.expires_at is None else f"until {format_instant(entry.expires_at)}"
    )
    click.echo(f"{entry.value} is on list {list_name} {until}")
