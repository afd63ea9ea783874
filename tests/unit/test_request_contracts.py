"""One contract per request, owned by the domain: the review budget and the backtest
requests are parsed by the domain (every broken field named at once, in the words the
client reads), the API document's schema for each is generated from the same fields, and
the command line parses its options through them too."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fraud.domain.backtest import BACKTEST_REQUEST, MAX_BACKTEST_DAYS, BacktestRequest
from fraud.domain.errors import FieldError
from fraud.domain.registry import (
    DEFAULT_BUDGET_DAYS,
    MAX_BUDGET_DAYS,
    MAX_REVIEWS_PER_DAY,
    ReviewBudgetRequest,
)
from fraud.domain.requests import BrokenRequest
from fraud.domain.rules import RuleAction
from fraud.entrypoints.cli.main import cli


def refused(parse, body) -> list[FieldError]:
    with pytest.raises(BrokenRequest) as broken:
        parse(body)
    return list(broken.value.errors)


def test_a_review_budget_takes_reviews_a_day_and_recent_days() -> None:
    assert ReviewBudgetRequest.parse({"per_day": 200}) == ReviewBudgetRequest(
        200.0, DEFAULT_BUDGET_DAYS
    )
    assert ReviewBudgetRequest.parse({"per_day": 2.5, "days": MAX_BUDGET_DAYS, "note": "x"}) == (
        ReviewBudgetRequest(2.5, MAX_BUDGET_DAYS)  # what else a body carries is left alone
    )


def test_a_review_budget_names_every_field_that_breaks_its_rule() -> None:
    per_day = "must be a number of reviews a day above 0 and below 10,000,000"
    days = f"must be a whole number of days from 1 to {MAX_BUDGET_DAYS}"
    assert refused(ReviewBudgetRequest.parse, {"per_day": 0, "days": 91}) == [
        FieldError("per_day", per_day),
        FieldError("days", days),
    ]
    assert refused(ReviewBudgetRequest.parse, {"days": 7.5}) == [
        FieldError("per_day", f"is required: it {per_day}"),
        FieldError("days", days),
    ]
    for per_day_value in (True, "200", MAX_REVIEWS_PER_DAY, float("nan"), -1):
        errors = refused(ReviewBudgetRequest.parse, {"per_day": per_day_value})
        assert [error.field for error in errors] == ["per_day"]
    assert refused(ReviewBudgetRequest.parse, [200]) == [
        FieldError("body", "must be a JSON object")
    ]


def test_a_null_breaks_its_fields_rule_where_leaving_the_field_out_takes_its_default() -> None:
    """The documented schema says a number, not a number or null: a client sending null
    meant something, and is told the rule rather than given the default silently."""
    days = f"must be a whole number of days from 1 to {MAX_BUDGET_DAYS}"
    assert refused(ReviewBudgetRequest.parse, {"per_day": 200, "days": None}) == [
        FieldError("days", days)
    ]
    assert BacktestRequest.parse({"all": True}) == BacktestRequest(30, every=True)
    assert [e.field for e in refused(BacktestRequest.parse, {"all": True, "days": None})] == [
        "days"
    ]


def test_a_backtest_names_all_the_rules_a_stored_one_or_a_draft() -> None:
    assert BacktestRequest.parse({"all": True}) == BacktestRequest(30, every=True)
    assert BacktestRequest.parse({"name": "corner", "days": 3}) == BacktestRequest(3, name="corner")
    drafted = BacktestRequest.parse({"expression": "tx.amount > 1.0", "action": "DECLINE"})
    assert drafted.draft is not None and drafted.name is None and not drafted.every
    assert drafted.draft.expression == "tx.amount > 1.0"
    assert drafted.draft.action is RuleAction.DECLINE


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, [("body", "must name a rule, give a draft's expression, or all")]),
        ({"all": True, "name": "x"}, [("all", "goes alone: the whole rule set, no name or draft")]),
        (
            {"name": "x", "action": "review"},
            [("action", "goes with an expression (a draft), not a name")],
        ),
        (
            {"name": "x", "days": MAX_BACKTEST_DAYS + 1, "when": "today"},
            [
                ("when", "is not one of name, expression, action, reason, all, days"),
                ("days", f"must be a whole number of days from 1 to {MAX_BACKTEST_DAYS}"),
            ],
        ),
        (
            {"expression": "x", "action": "block"},
            [("action", f"must be one of {', '.join(RuleAction)}")],
        ),
    ],
)
def test_a_backtest_request_is_refused_naming_each_broken_field(body, errors) -> None:
    assert refused(BacktestRequest.parse, body) == [FieldError(*error) for error in errors]


def test_the_documented_request_bodies_are_generated_from_the_domains_contracts(client) -> None:
    document = client.get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    budget = schemas["ReviewBudgetRequest"]["properties"]
    assert budget["days"]["maximum"] == MAX_BUDGET_DAYS and budget["days"]["default"] == 7
    assert budget["per_day"]["exclusiveMaximum"] == MAX_REVIEWS_PER_DAY
    assert schemas["ReviewBudgetRequest"]["required"] == ["per_day"]
    backtest = schemas["BacktestRequest"]["properties"]
    assert list(backtest) == list(BACKTEST_REQUEST.names)
    assert backtest["days"]["maximum"] == MAX_BACKTEST_DAYS
    assert backtest["action"]["enum"] == [action.value for action in RuleAction]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--review-budget", "0/day"], "above 0 and below 10,000,000"),
        (["--review-budget", "lots"], "must be a number of reviews a day"),
        (["--review-budget", "200/day", "--days", "91"], "whole number of days from 1 to 90"),
    ],
)
def test_the_command_line_refuses_a_budget_as_the_api_does(options, said) -> None:
    result = CliRunner().invoke(cli, ["models", "thresholds", "m1", *options])
    assert result.exit_code == 2, result.output
    assert said in result.output and "Traceback" not in result.output
