"""`fraud rules`: the analysts' rules from the command line: list, show, add, update,
disable, backtest. Every change is audited as ``cli:<account>``, and reaches the scoring
workers within seconds."""

from __future__ import annotations

import json
import math
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import timedelta

import click

from fraud.containers import Container
from fraud.domain.backtest import Backtest, BacktestRequest
from fraud.domain.features import FEATURE_NAMES
from fraud.domain.reference import FEATURE_TYPE
from fraud.domain.requests import BrokenRequest
from fraud.domain.rules import (
    InvalidExpression,
    InvalidRule,
    NoVerdict,
    Rule,
    RuleAction,
    RuleChange,
    RuleConflict,
    RuleExists,
    RuleHealth,
    RuleMode,
    RuleOnError,
    UnknownRule,
    diff,
    new_rule,
)
from fraud.domain.transaction import CONTRACT, format_instant
from fraud.entrypoints.cli.access import table
from fraud.entrypoints.cli.context import (
    CliContext,
    FullHelp,
    cli_actor,
    pass_context,
    refused_as_bad_input,
)
from fraud.entrypoints.cli.options import Duration, progress

ACTIONS = click.Choice([action.value for action in RuleAction])
MODES = click.Choice([mode.value for mode in RuleMode])
ON_ERROR = click.Choice([choice.value for choice in RuleOnError])
ON_ERROR_HELP = (
    "When it cannot be evaluated on a transaction (an error, or the time budget): skip (no "
    "hit) or apply its action (a rule that must fail closed)."
)
BAR_WIDTH = 30


def _container(ctx: CliContext) -> Container:
    return ctx.migrated()


def _refusals() -> AbstractContextManager[None]:
    return refused_as_bad_input(
        InvalidRule,
        InvalidExpression,
        UnknownRule,
        RuleExists,
        RuleConflict,
        NoVerdict,
        BrokenRequest,
    )


@click.group(cls=FullHelp)
def rules() -> None:
    """Analysts' rules: CEL expressions that decide beside the model, changed without a
    deploy (also on the dashboard's rules page and at /api/rules)."""


@rules.command("list")
@pass_context
def list_rules(ctx: CliContext) -> None:
    """Every rule, disabled ones too, with its evaluations and errors over the last hour."""
    container = _container(ctx)
    health = container.rules_health().last_hour()
    rows = []
    for rule in container.manage_rules().rules():
        fared = health.get(rule.name, RuleHealth())
        rows.append(
            (
                rule.name,
                rule.mode.value,
                rule.action.value,
                str(rule.version),
                f"{fared.evaluated}/{fared.errors}/{fared.cut_off}"
                + (" !" if fared.warning else ""),
                rule.expression,
            )
        )
    table(("name", "mode", "action", "version", "evaluated/errors/cut off", "expression"), rows)


@rules.command("show")
@click.argument("name")
@pass_context
def show_rule(ctx: CliContext, name: str) -> None:
    """A rule and its history: every version, who made it, and what it changed."""
    container = _container(ctx)
    manage = container.manage_rules()
    with _refusals():
        rule, history = manage.get(name), manage.history(name)
    _say(rule)
    fared = container.rules_health().last_hour().get(name, RuleHealth())
    click.echo(
        f"  last hour:  {fared.evaluated} evaluated, {fared.errors} errors "
        f"({fared.error_rate:.2%}), {fared.cut_off} cut off by the time budget"
    )
    if fared.warning:
        click.echo(f"  warning:    it {fared.warning}")
    before: Rule | None = None
    for change in history:
        click.echo(
            f"\nversion {change.rule.version} by {change.by} at {format_instant(change.at)} "
            f"(rule set {change.set_version})"
        )
        for field in diff(before, change.rule):
            was = f"{field.before!r} -> " if before is not None else ""
            click.echo(f"  {field.field}: {was}{field.after!r}")
        before = change.rule


def _say(rule: Rule) -> None:
    click.echo(f"{rule.name} (version {rule.version}, {rule.mode.value}, {rule.action.value})")
    click.echo(f"  expression: {rule.expression}")
    click.echo(f"  reason:     {rule.reason}")
    click.echo(f"  on error:   {rule.on_error.value}")


def _changed(change: RuleChange, what: str) -> None:
    click.echo(
        f"rule {change.rule.name!r} {what}: version {change.rule.version}, "
        f"{change.rule.mode.value}; rule set version {change.set_version}",
        err=True,
    )


EXPRESSION_HELP = (
    "A CEL expression over tx (the transaction's fields), features (its behaviour features) "
    "and score; `fraud features` lists each with its type, unit and meaning."
)
# What an expression may read, listed under `fraud rules add --help`.
READABLE = (
    "An expression reads tx."
    + ", tx.".join(f"{field.name} ({field.type})" for field in CONTRACT)
    + "; features."
    + ", features.".join(FEATURE_NAMES)
    + f" (each a {FEATURE_TYPE}); and score (a double from 0 to 1). `fraud features` gives "
    "each one's unit and meaning."
)


@rules.command("add", epilog=READABLE)
@click.option("--name", required=True, help="Lower-case letters, digits, - and _.")
@click.option("--expr", "expression", required=True, help=EXPRESSION_HELP)
@click.option("--action", type=ACTIONS, required=True)
@click.option("--reason", required=True, help="What the verdict says when it hits.")
@click.option("--mode", type=MODES, default=RuleMode.ACTIVE.value, show_default=True)
@click.option(
    "--on-error",
    type=ON_ERROR,
    default=RuleOnError.SKIP.value,
    show_default=True,
    help=ON_ERROR_HELP,
)
@pass_context
def add_rule(
    ctx: CliContext,
    name: str,
    expression: str,
    action: str,
    reason: str,
    mode: str,
    on_error: str,
) -> None:
    """Add a rule; it is measured and compiled first, and refused with the limit or error and
    its position if it cannot be used."""
    fields = {"name": name, "expression": expression, "action": action, "reason": reason}
    with _refusals():
        change = (
            _container(ctx)
            .manage_rules()
            .add(new_rule(fields | {"mode": mode, "on_error": on_error}), cli_actor())
        )
    _changed(change, "added")


@rules.command("update")
@click.argument("name")
@click.option("--expr", "expression", help="A new expression (see `fraud features`).")
@click.option("--action", type=ACTIONS)
@click.option("--reason")
@click.option("--mode", type=MODES)
@click.option("--on-error", type=ON_ERROR, help=ON_ERROR_HELP)
@pass_context
def update_rule(
    ctx: CliContext,
    name: str,
    expression: str | None,
    action: str | None,
    reason: str | None,
    mode: str | None,
    on_error: str | None,
) -> None:
    """Change a rule: each change is its next version."""
    given = {
        "expression": expression,
        "action": action,
        "reason": reason,
        "mode": mode,
        "on_error": on_error,
    }
    changes = {field: value for field, value in given.items() if value is not None}
    with _refusals():
        change = _container(ctx).manage_rules().change(name, changes, cli_actor())
    _changed(change, "changed")


@rules.command("disable")
@click.argument("name")
@pass_context
def disable_rule(ctx: CliContext, name: str) -> None:
    """Disable a rule: scoring stops using it within seconds; its history stays."""
    with _refusals():
        change = _container(ctx).manage_rules().disable(name, cli_actor())
    _changed(change, "disabled")


@rules.command("backtest")
@click.argument("name", required=False)
@click.option("--all", "every", is_flag=True, help="The whole rule set (active and shadow).")
@click.option("--expr", "expression", help="A draft instead of a stored rule (with --action).")
@click.option("--action", type=ACTIONS, default=RuleAction.REVIEW.value, show_default=True)
@click.option(
    "--since",
    type=Duration(),
    default="30d",
    show_default=True,
    help="How far back: the days it spans, today included.",
)
@click.option("--json", "as_json", is_flag=True, help="The result as one JSON object.")
@pass_context
def backtest(
    ctx: CliContext,
    name: str | None,
    every: bool,
    expression: str | None,
    action: str,
    since: timedelta,
    as_json: bool,
) -> None:
    """What a rule (or the rule set, or a draft) would have done to the stored verdicts:
    hits and decisions changed per day, reviews added, precision and recall on the labels
    known."""
    if sum((name is not None, every, expression is not None)) != 1:
        raise click.UsageError("give one of NAME, --all or --expr")
    container = _container(ctx)
    options = {
        "name": name,
        "all": every or None,
        "expression": expression,
        "action": action if expression is not None else None,
        "days": max(1, math.ceil(since / timedelta(days=1))),
    }
    given = {field: value for field, value in options.items() if value is not None}  # left out
    with _refusals():
        request = BacktestRequest.parse(given)  # what the API's body is held to, as the API
        tested = container.manage_rules().backtested(request)
        with progress(None, "backtest", bar=ctx.interactive) as advance:
            result = container.try_rules().backtest(tested, request.days, progress=advance)
    if as_json:
        click.echo(json.dumps(_as_json(result)))
        return
    _report(result)


def _as_json(result: Backtest) -> dict[str, object]:
    return {
        "rules": list(result.rules),
        "since": format_instant(result.since),
        "until": format_instant(result.until),
        "transactions": result.transactions,
        "hits": result.hits,
        "changed": result.changed,
        "reviews_added": result.reviews_added,
        "declines_added": result.declines_added,
        "labelled_hits": result.labelled_hits,
        "fraud_hits": result.fraud_hits,
        "labelled_fraud": result.labelled_fraud,
        "precision": result.precision,
        "recall": result.recall,
        "unevaluable": result.unevaluable,
        "days": [asdict(day) | {"day": day.day.isoformat()} for day in result.days],
    }


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _report(result: Backtest) -> None:
    """A table per day, with the hits drawn as bars, then the totals."""
    most = max((day.hits for day in result.days), default=0) or 1
    rows = [
        (
            day.day.isoformat(),
            str(day.transactions),
            str(day.hits),
            str(day.changed),
            str(day.reviews_added),
            str(day.declines_added),
            "█" * math.ceil(BAR_WIDTH * day.hits / most) if day.hits else "",
        )
        for day in result.days
    ]
    click.echo(f"backtest of {', '.join(result.rules) or 'no rules'}")
    table(("day", "verdicts", "hits", "changed", "reviews+", "declines+", "hits per day"), rows)
    click.echo(
        f"\n{result.transactions} verdicts, {result.hits} hits, {result.changed} decisions "
        f"changed, {result.reviews_added} reviews added, {result.declines_added} declines added"
    )
    click.echo(
        f"precision {_share(result.precision)} ({result.fraud_hits} of {result.labelled_hits} "
        f"labelled hits were fraud); recall {_share(result.recall)} ({result.fraud_hits} of "
        f"{result.labelled_fraud} labelled fraud hit)"
    )
    if result.unevaluable:
        click.echo(f"{result.unevaluable} verdicts had no features and were not evaluated")
