"""`fraud models`: the model registry from the command line: list, show, register, promote,
roll back, challenge, and sign the archives registered before signing. Every change is audited as
``cli:<account>``; a change of role reaches the scoring workers within seconds, with no
restart."""

from __future__ import annotations

import json
import textwrap
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import click

from fraud.application.models import ManageModels, ModelEntry
from fraud.containers import Process
from fraud.domain.errors import ModelNotFound, ModelTampered, TransientFailure
from fraud.domain.registry import (
    DEFAULT_BUDGET_DAYS,
    REVIEW_BUDGET_REQUEST,
    RoleChange,
    RoleRefused,
    UnknownModel,
)
from fraud.domain.transaction import format_instant
from fraud.entrypoints.cli.access import table
from fraud.entrypoints.cli.context import (
    BadInput,
    CliContext,
    FullHelp,
    cli_actor,
    pass_context,
    refused_as_bad_input,
)
from fraud.entrypoints.cli.options import FieldOf, model_dir_option
from fraud.entrypoints.cli.replay import money

# The validation figures a list shows, in this order, by the card's metric names.
LISTED_METRICS = (("AP", "average_precision"), ("recall@1%FPR", "recall_at_1pct_fpr"))


def _manage(ctx: CliContext) -> ManageModels:
    manage: ManageModels = ctx.migrated().manage_models()
    return manage


def _refusals() -> AbstractContextManager[None]:
    return refused_as_bad_input(UnknownModel, RoleRefused, TransientFailure)


@click.group(cls=FullHelp)
def models() -> None:
    """The model registry: every trained model, the champion that decides and the challenger
    that scores in shadow (also on the dashboard and at /api/models)."""


def _figure(entry: ModelEntry, metric: str) -> str:
    value = entry.model.info.metrics.get(metric)
    return "" if value is None else f"{float(value):.4f}"


@models.command("list")
@pass_context
def list_models(ctx: CliContext) -> None:
    """Every registered model, newest first, with the role it holds (and "unsigned" for
    an archive registered before signing: `fraud models sign` signs it)."""
    rows = [
        (
            entry.model.version,
            entry.role.value if entry.role else "",
            format_instant(entry.model.registered_at),
            entry.model.registered_by,
            *(_figure(entry, metric) for _, metric in LISTED_METRICS),
            "" if entry.model.signed else "unsigned",
        )
        for entry in _manage(ctx).models()
    ]
    names = ("version", "role", "registered", "by", *(name for name, _ in LISTED_METRICS))
    table((*names, "archive"), rows)


@models.command("show")
@click.argument("version")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="The whole card as JSON: every metric, the training window, the baseline and the "
    "drift reference, with its role and who registered it.",
)
@pass_context
def show_model(ctx: CliContext, version: str, as_json: bool) -> None:
    """A model's card: what it was trained on, what it was judged on and how it did, the
    thresholds in force and its role (--json for all of it)."""
    with _refusals():
        entry = _manage(ctx).get(version)
    if not as_json:
        click.echo(summary(entry))
        return
    shown = {
        **entry.model.info.to_dict(),
        "role": entry.role.value if entry.role else None,
        "thresholds_in_force": {"review": entry.in_force.review, "decline": entry.in_force.decline},
        "review_budget": None
        if entry.thresholds is None or entry.thresholds.budget is None
        else entry.thresholds.budget.to_dict(),
        "registered_at": format_instant(entry.model.registered_at),
        "registered_by": entry.model.registered_by,
    }
    click.echo(json.dumps(shown, indent=2, sort_keys=True))


def summary(entry: ModelEntry) -> str:
    """A model's card for a person, in a dozen labelled lines."""
    info, registered = entry.model.info, entry.model
    metrics = info.metrics
    role = entry.role.value if entry.role else "no role"
    unsigned = "" if registered.signed else "  (unsigned: `fraud models sign` signs it)"
    span = ""
    if info.trained_from and info.trained_until:
        span = f" from {info.trained_from[:10]} to {info.trained_until[:10]}"
    lines = [
        f"model {info.version}  {role}{unsigned}",
        _line(
            "registered",
            f"{_when(format_instant(registered.registered_at))} by {registered.registered_by}",
        ),
        _line("trained", f"{_when(info.trained_at)} on {info.training_rows:,} transactions{span}"),
    ]
    if "rows" in metrics:
        frauds, rows = int(metrics["frauds"]), int(metrics["rows"])
        lines.append(
            _line(
                "judged on",
                f"{info.judged_on or 'its validation data'}: {rows:,} transactions, "
                f"{frauds:,} frauds ({frauds / max(rows, 1):.2%})",
            )
        )
    for label, name in (
        ("average precision", "average_precision"),
        ("ROC-AUC", "roc_auc"),
        ("recall at 1% FPR", "recall_at_1pct_fpr"),
    ):
        if name in metrics:
            lines.append(_line(label, f"{float(metrics[name]):.4f}"))
    lines += _at_review_budget(metrics)
    in_force = entry.in_force
    thresholds = f"review >= {in_force.review:.4f}, decline >= {in_force.decline:.4f}"
    review_fpr = metrics.get("review_threshold_fpr")
    decline_fpr = metrics.get("decline_threshold_fpr")
    if entry.thresholds is None and review_fpr is not None and decline_fpr is not None:
        thresholds += (
            f" (each flags {review_fpr:.1%} and {decline_fpr:.1%} of the legitimate "
            "transactions it was judged on)"
        )
    lines.append(_line("thresholds", thresholds))
    budget = entry.thresholds.budget if entry.thresholds is not None else None
    if budget is not None:
        lines.append(
            _line(
                "review budget",
                f"{budget.per_day:g} a day, about {budget.expected_reviews_per_day:.0f} a day "
                "expected",
            )
        )
    lines += [
        _line("features", f"{len(info.feature_names)} (`fraud features` lists them)"),
        _line("data fingerprint", info.data_fingerprint[:16] or "none"),
        f"the whole card: fraud models show {info.version} --json",
    ]
    return "\n".join(lines)


def _at_review_budget(metrics: dict[str, Any]) -> list[str]:
    """What a team reviewing the card's top N scores a day found, as the dashboard's model
    panel gives it (older cards have no such figures)."""
    if "precision_at_budget" not in metrics:
        return []
    return [
        _line(
            "at review budget",
            f"{float(metrics['review_budget_per_day']):,.0f} reviews/day: precision "
            f"{float(metrics['precision_at_budget']):.3f}, "
            f"recall {float(metrics['recall_at_budget']):.3f}",
        ),
        _line("fraud money caught", money(metrics.get("fraud_money_caught") or {})),
        _line("fraud money missed", money(metrics.get("fraud_money_missed") or {})),
    ]


LABEL_WIDTH = 19  # "fraud money caught" and a space


def _line(label: str, text: str) -> str:
    """A labelled line of the summary, wrapped under its text."""
    return textwrap.fill(
        text,
        width=100,
        initial_indent=f"  {label:<{LABEL_WIDTH}}",
        subsequent_indent=" " * (LABEL_WIDTH + 2),
    )


def _when(iso: str) -> str:
    """An ISO 8601 instant to the second, for a person: 2026-12-06 03:52:36 UTC."""
    return iso.replace("T", " ")[:19] + " UTC"


def _changed(change: RoleChange) -> None:
    click.echo(
        f"{change.role.value}: {change.previous or 'none'} -> {change.version or 'none'}; "
        "the scoring workers take it within seconds",
        err=True,
    )


@models.command("register")
@model_dir_option
@pass_context
def register(ctx: CliContext, model_dir: Path | None) -> None:
    """Register the model saved in the model directory: one trained on another machine, or
    before this registry existed. It becomes the champion when the registry has none, else a
    candidate to promote; its archive is signed with the archive key. A model registered
    already keeps its role, which the command says."""
    container = ctx.open(Process(model_dir=model_dir, migrate=True, interactive=ctx.interactive))
    with refused_as_bad_input(ModelNotFound, TransientFailure):
        registration = container.register_model().adopt(container.model_store(), cli_actor())
    if registration is None:
        raise BadInput(
            f"no model in {container.config.model_dir()}: `fraud train --model-dir DIR` makes one"
        )
    version = registration.model.info.version
    roles = container.model_queries().roles()
    if registration.champion:
        role = "the champion (the registry had none)"
    elif version == roles.champion:
        role = "the champion"
    elif version == roles.challenger:
        role = "the challenger"
    else:
        role = f"a candidate: `fraud models promote {version}` puts it in charge"
    click.echo(f"model {version} is registered: {role}")


@models.command("promote")
@click.argument("version")
@pass_context
def promote(ctx: CliContext, version: str) -> None:
    """Make VERSION the champion: it decides every transaction from the next batch on."""
    with _refusals():
        _changed(_manage(ctx).promote(version, cli_actor()))


@models.command("rollback")
@pass_context
def rollback(ctx: CliContext) -> None:
    """Give the champion's role back to the model that held it before the current one."""
    with _refusals():
        _changed(_manage(ctx).rollback(cli_actor()))


@models.command("challenge")
@click.argument("version", required=False)
@click.option("--stop", is_flag=True, help="End the challenge: no model scores in shadow.")
@pass_context
def challenge(ctx: CliContext, version: str | None, stop: bool) -> None:
    """Make VERSION the challenger: it scores every transaction beside the champion, its
    scores are kept as versions of each verdict, and it decides nothing."""
    if stop == (version is not None):
        raise click.UsageError("give a VERSION to challenge, or --stop")
    with _refusals():
        manage = _manage(ctx)
        _changed(
            manage.end_challenge(cli_actor())
            if version is None
            else manage.challenge(version, cli_actor())
        )


@models.command("history")
@pass_context
def history(ctx: CliContext) -> None:
    """Every change of champion and challenger, oldest first."""
    rows = [
        (
            str(change.id),
            format_instant(change.at),
            change.role.value,
            change.previous or "",
            change.version or "",
            change.by,
        )
        for change in _manage(ctx).history()
    ]
    table(("change", "at", "role", "from", "to", "by"), rows)


@models.command("thresholds")
@click.argument("version")
@click.option(
    "--review-budget",
    "per_day",
    type=FieldOf(REVIEW_BUDGET_REQUEST.field("per_day"), suffix="/day"),
    required=True,
    metavar="N/day",
    help="How many reviews a day the team can handle, e.g. 200/day.",
)
@click.option(
    "--days",
    type=FieldOf(REVIEW_BUDGET_REQUEST.field("days")),
    default=DEFAULT_BUDGET_DAYS,
    show_default=True,
    help="Work it out on the scores of this many recent days.",
)
@pass_context
def thresholds(ctx: CliContext, version: str, per_day: float, days: int) -> None:
    """Set VERSION's review threshold from a review budget, on its recent scores, and put it
    in force (the scoring workers take it within seconds)."""
    with _refusals():
        change = ctx.migrated().set_review_budget()(version, per_day, cli_actor(), days)
    budget = change.budget
    assert budget is not None
    precision = (
        "unknown (nothing it would send is labelled yet)"
        if budget.expected_precision is None
        else f"{budget.expected_precision:.3f} on {budget.labelled} labelled"
    )
    click.echo(
        f"{version}: review >= {change.thresholds.review:.6f}, decline >= "
        f"{change.thresholds.decline:.6f}\n"
        f"  about {budget.expected_reviews_per_day:.1f} reviews a day at the last {days} days' "
        f"volume ({budget.volume_per_day:.1f} a day); expected precision {precision}"
    )


@models.command("sign")
@click.argument("versions", nargs=-1, metavar="[VERSION]...")
@click.option("--all", "every", is_flag=True, help="Every registered model's archive.")
@pass_context
def sign(ctx: CliContext, versions: tuple[str, ...], every: bool) -> None:
    """Sign, with the archive key (FRAUD_ARCHIVE_KEY), the archives of models registered
    before archives were signed: no worker loads an unsigned one. Run it once after the
    upgrade, as an admin who holds the key; each archive signed is audited with its
    SHA-256. A signature is never replaced: if an archive named (or, with --all, any)
    does not match its signature (altered, or signed with another key), nothing is signed."""
    if every == bool(versions):
        raise click.UsageError("give the VERSION(s) to sign, or --all")
    try:
        with refused_as_bad_input(UnknownModel, TransientFailure):
            done = ctx.migrated().sign_archives()(None if every else versions, cli_actor())
    except ModelTampered as refused:
        raise BadInput(f"nothing was signed: {refused}") from None
    for version in done.signed:
        click.echo(f"{version}: signed")
    for version in done.already if versions else ():
        click.echo(f"{version}: signed already")
    click.echo(
        f"signed {len(done.signed)} archive(s); {len(done.already)} already signed hold "
        "their signature",
        err=True,
    )
