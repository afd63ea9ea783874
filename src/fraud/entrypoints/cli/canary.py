"""`fraud models canary`: the share of cards the challenger decides, raised a step at a time
or rolled back, every step audited; with no option, where the canary stands and its history."""

from __future__ import annotations

import click

from fraud.domain.canary import share_text
from fraud.domain.errors import TransientFailure
from fraud.domain.registry import RoleRefused
from fraud.domain.transaction import format_instant
from fraud.entrypoints.cli.access import table
from fraud.entrypoints.cli.context import (
    CliContext,
    cli_actor,
    pass_context,
    refused_as_bad_input,
)


@click.command("canary")
@click.option(
    "--raise", "raise_step", is_flag=True, help="Raise the share a step: 1%, 10%, 50%, 100%."
)
@click.option(
    "--share",
    type=click.FloatRange(0, 100),
    default=None,
    help="The percentage of cards the challenger decides (0: every card to the champion).",
)
@click.option("--rollback", is_flag=True, help="Every card back to the champion.")
@pass_context
def canary(ctx: CliContext, raise_step: bool, share: float | None, rollback: bool) -> None:
    """Have the challenger decide a share of the cards (a card by a stable hash of its
    user_id, so it always sees one model); the record stage rolls it back by itself when its
    decline or error rate strays from the champion's."""
    if sum((raise_step, share is not None, rollback)) > 1:
        raise click.UsageError("give one of --raise, --share and --rollback")
    manage = ctx.migrated().manage_canary()
    by = cli_actor()
    with refused_as_bad_input(RoleRefused, TransientFailure):
        if raise_step:
            step = manage.raise_share(by)
        elif share is not None:
            step = manage.set_share(share / 100, by)
        elif rollback:
            step = manage.roll_back(by)
        else:
            step = None
    if step is not None:
        click.echo(f"{step.version} decides {share_text(step.share)} of cards from the next batch")
        return
    now = manage()
    click.echo(
        f"champion {now.champion or '-'}, challenger {now.challenger or '-'} deciding "
        f"{share_text(now.share)} of cards"
    )
    rows = [
        (str(s.id), format_instant(s.at), s.version, share_text(s.share), s.by, s.reason)
        for s in now.history
    ]
    if rows:
        table(("step", "at", "challenger", "share", "by", "why"), rows)
