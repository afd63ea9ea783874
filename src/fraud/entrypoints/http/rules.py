"""Analysts' rules: the API to write, check, try, backtest and switch them, and their page.

Reading rules needs ``read``; changing, checking, trying and backtesting them needs
``rules`` (analysts and admins). What the use cases refuse (a field that breaks its rule,
an expression that does not compile, a name taken or unknown) is answered by the error
handlers: 422 (with the expression error's position), 409, 404."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import flask
from dependency_injector.wiring import Provide, inject
from flask import render_template
from flask_smorest import Blueprint

from fraud.application.rule_health import RulesHealth
from fraud.application.rules import ManageRules, Trial, TryRules
from fraud.containers import Container
from fraud.domain.backtest import Backtest, BacktestRequest
from fraud.domain.errors import FieldError
from fraud.domain.identity import Permission
from fraud.domain.rules import (
    MAX_NAME_LENGTH,
    InvalidRule,
    Rule,
    RuleChange,
    RuleHealth,
    UnknownRule,
    diff,
    draft_rule,
    new_rule,
    request_object,
)
from fraud.entrypoints.http.access import current_actor, requires
from fraud.entrypoints.http.api import BAD_BODY, json_body
from fraud.entrypoints.http.openapi import (
    NOT_JSON,
    TOO_LARGE,
    UNAVAILABLE,
    answers_also,
    request_body,
)
from fraud.entrypoints.http.rules_schemas import (
    BacktestRequestSchema,
    BacktestSchema,
    CheckedSchema,
    ExpressionSchema,
    RuleChangeSchema,
    RuleDetailSchema,
    RuleRequestSchema,
    RuleUpdateSchema,
    RuleWithHealthSchema,
    TrialRequestSchema,
    TrialSchema,
)
from fraud.entrypoints.http.schemas import ErrorSchema

rules = Blueprint("rules", __name__, description="Analysts' rules: write, test, switch on")
rule_pages = flask.Blueprint("rule_pages", __name__)

NAME = {
    "in": "path",
    "name": "name",
    "description": "the rule's name",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
}
REFUSED = {
    "status_code": 422,
    "schema": ErrorSchema,
    "description": "A field breaks its rule, or the expression does not compile (the error "
    "and its position are in the answer)",
}
UNKNOWN = {"status_code": 404, "schema": ErrorSchema, "description": "No rule of that name"}
TAKEN = {"status_code": 409, "schema": ErrorSchema, "description": "The name is taken"}
RACED = {
    "status_code": 409,
    "schema": ErrorSchema,
    "description": "Another change to the rule came first: read it again",
}
# What a view reading a body may answer instead: too large, unreadable, not JSON, refused.
body_refusals = answers_also(rules, TOO_LARGE, BAD_BODY, NOT_JSON, REFUSED)


@rules.get("/api/rules", tags=["rules"])
@rules.response(200, RuleWithHealthSchema(many=True), description="Every rule, disabled ones too")
@rules.alt_response(**UNAVAILABLE)
@requires(Permission.READ)
@inject
def list_rules(
    manage: ManageRules = Provide[Container.manage_rules],
    health: RulesHealth = Provide[Container.rules_health],
) -> list[dict[str, Any]]:
    """The analysts' rules, by name, each with how it fared over the last hour: the
    transactions it was evaluated on, its errors and cut-offs, and a warning when either
    passes 1%."""
    return with_health(manage.rules(), health.last_hour())


def with_health(rules: list[Rule], health: Mapping[str, RuleHealth]) -> list[dict[str, Any]]:
    return [{**asdict(rule), "health": health.get(rule.name, RuleHealth())} for rule in rules]


@rules.post("/api/rules", tags=["rules"])
@rules.doc(**request_body(RuleRequestSchema, "the new rule"))
@rules.response(201, RuleChangeSchema, description="Added: scoring uses it within seconds")
@body_refusals
@rules.alt_response(**TAKEN)
@requires(Permission.RULES)
@inject
def add_rule(manage: ManageRules = Provide[Container.manage_rules]) -> tuple[RuleChange, int]:
    """Add a rule; it is compiled first, and refused with the error's position if it does not
    compile. Active, it decides the next transactions it hits; in shadow, it only records
    its hits."""
    return manage.add(new_rule(json_body()), current_actor()), 201


@rules.get("/api/rules/<name>", tags=["rules"], parameters=[NAME])
@rules.response(200, RuleDetailSchema, description="The rule, its health and its versions")
@rules.alt_response(**UNKNOWN)
@requires(Permission.READ)
@inject
def get_rule(
    name: str,
    manage: ManageRules = Provide[Container.manage_rules],
    health: RulesHealth = Provide[Container.rules_health],
) -> dict[str, Any]:
    """A rule with how it fared over the last hour and its history: every version, who made
    it, and what it changed."""
    rule = manage.get(name)
    return detail(rule, manage.history(name), health.last_hour().get(name, RuleHealth()))


def detail(rule: Rule, history: list[RuleChange], health: RuleHealth) -> dict[str, Any]:
    versions = []
    before: Rule | None = None
    for change in history:
        versions.append(
            {
                "rule": change.rule,
                "by": change.by,
                "at": change.at,
                "set_version": change.set_version,
                "changes": diff(before, change.rule),
            }
        )
        before = change.rule
    return {"rule": rule, "history": versions, "health": health}


@rules.patch("/api/rules/<name>", tags=["rules"], parameters=[NAME])
@rules.doc(**request_body(RuleUpdateSchema, "the fields to change"))
@rules.response(200, RuleChangeSchema, description="The rule's new version")
@body_refusals
@rules.alt_response(**UNKNOWN)
@rules.alt_response(**RACED)
@requires(Permission.RULES)
@inject
def change_rule(name: str, manage: ManageRules = Provide[Container.manage_rules]) -> RuleChange:
    """Change a rule's expression, action, reason or mode (active, shadow, disabled)."""
    return manage.change(name, json_body(), current_actor())


@rules.delete("/api/rules/<name>", tags=["rules"], parameters=[NAME])
@rules.response(200, RuleChangeSchema, description="Disabled; its history stays")
@rules.alt_response(**UNKNOWN)
@rules.alt_response(**RACED)
@rules.alt_response(**REFUSED)
@requires(Permission.RULES)
@inject
def disable_rule(name: str, manage: ManageRules = Provide[Container.manage_rules]) -> RuleChange:
    """Disable a rule: scoring stops using it within seconds; it can be switched on again."""
    return manage.disable(name, current_actor())


@rules.post("/api/rules/check", tags=["rules"])
@rules.doc(**request_body(ExpressionSchema, "the expression"))
@rules.response(200, CheckedSchema, description="It compiles and may be used")
@body_refusals
@requires(Permission.RULES)
@inject
def check_expression(
    manage: ManageRules = Provide[Container.manage_rules],
) -> dict[str, bool]:
    """Check an expression: 422 with the error's message and position if it cannot be used."""
    manage.check(_text(request_object(json_body()), "expression"))
    return {"valid": True}


@rules.post("/api/rules/try", tags=["rules"])
@rules.doc(**request_body(TrialRequestSchema, "the draft rule and the transaction"))
@rules.response(200, TrialSchema, description="Whether it hits, and what it would decide")
@body_refusals
@rules.alt_response(404, schema=ErrorSchema, description="No scored transaction of that id")
@requires(Permission.RULES)
@inject
def try_rule(trials: TryRules = Provide[Container.try_rules]) -> Trial:
    """Try a draft rule on one stored transaction, as if it were active."""
    body = request_object(json_body())
    transaction_id = _text(body, "transaction_id")
    return trials.on(_draft(body, ("transaction_id",)), transaction_id)


@rules.post("/api/rules/backtest", tags=["rules"])
@rules.doc(**request_body(BacktestRequestSchema, "what to backtest, over how many days"))
@rules.response(200, BacktestSchema, description="What it would have done, day by day")
@body_refusals
@rules.alt_response(**UNKNOWN)
@rules.alt_response(**UNAVAILABLE)
@requires(Permission.RULES)
@inject
def backtest(
    manage: ManageRules = Provide[Container.manage_rules],
    trials: TryRules = Provide[Container.try_rules],
) -> Backtest:
    """Backtest a rule, a draft or the whole rule set on the verdicts of the last days.

    Each verdict is evaluated again with the rules counted as active: hits per day, the
    decisions they would change, the reviews they would add, and their precision and recall
    on the labels known."""
    request = BacktestRequest.parse(json_body())
    return trials.backtest(manage.backtested(request), request.days)


def _text(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidRule([FieldError(field, "is required: a non-empty string")])
    return value


def _draft(body: Mapping[str, Any], besides: tuple[str, ...]) -> Rule:
    return draft_rule({key: value for key, value in body.items() if key not in besides})


@rule_pages.get("/dashboard/rules")
@requires(Permission.READ, page=True)
@inject
def rules_page(
    manage: ManageRules = Provide[Container.manage_rules],
    health: RulesHealth = Provide[Container.rules_health],
) -> str:
    listed = with_health(manage.rules(), health.last_hour())
    return render_template("rules.html", rules=RuleWithHealthSchema(many=True).dump(listed))


@rule_pages.get("/dashboard/rules/<name>")
@requires(Permission.READ, page=True)
@inject
def rule_page(
    name: str,
    manage: ManageRules = Provide[Container.manage_rules],
    health: RulesHealth = Provide[Container.rules_health],
) -> tuple[str, int]:
    try:
        rule = manage.get(name)
        fared = health.last_hour().get(name, RuleHealth())
        item = RuleDetailSchema().dump(detail(rule, manage.history(name), fared))
    except UnknownRule:
        return render_template("missing.html", rule=name), 404
    return render_template("rule.html", item=item), 200
