"""The field and feature reference is generated from the code: every contract field and
feature a rule can read, with a type, a unit and a meaning, worded for a person."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fraud.domain.features import FEATURE_NAMES, FEATURES, Unit
from fraud.domain.reference import duration, entries, markdown, shown
from fraud.domain.transaction import FIELDS
from fraud.entrypoints.cli.main import cli


def test_every_field_feature_and_the_score_is_listed_once_in_the_contracts_order() -> None:
    names = [entry.name for entry in entries()]
    assert names == [
        *(f"tx.{field}" for field in FIELDS),
        *(f"features.{feature}" for feature in FEATURE_NAMES),
        "score",
    ]


def test_each_entry_has_a_type_a_unit_where_it_has_one_and_a_meaning() -> None:
    for entry in entries():
        assert entry.type in {"string", "double", "int"}, entry
        assert entry.meaning, entry
        if entry.name.startswith("features.") or entry.type != "string":
            assert entry.unit, entry


def test_a_code_lists_its_words_by_code() -> None:
    (merchant_type,) = [e for e in entries() if e.name == "features.merchant_type"]
    assert merchant_type.unit.startswith("0 online, 1 retail")
    assert merchant_type.unit.endswith("7 other")


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("seconds_since_card_fraud", 7_776_000.0, "90 d"),
        ("seconds_since_previous", 5_400.0, "1.5 h"),
        ("seconds_since_previous", 42.0, "42 s"),
        ("merchant_type", 0.0, "online"),
        ("device_type", 1.0, "desktop"),
        ("location_mismatch", 1.0, "yes"),
        ("new_device", 0.0, "no"),
        ("amount", 1500.0, "1,500.00 USD"),
        ("amount_to_typical", 7.4, "7.40x"),
        ("merchant_fraud_share_7d", 0.125, "12.5%"),
        ("count_24h", 3.0, "3"),
    ],
)
def test_a_value_is_shown_in_words_and_units(name: str, value: float, words: str) -> None:
    assert shown(name, value, "USD") == words


def test_every_unit_is_used_and_worded() -> None:
    assert {feature.unit for feature in FEATURES} == set(Unit)
    assert duration(59) == "59 s" and duration(60) == "1 min" and duration(86_400 * 2.5) == "2.5 d"


def test_fraud_features_prints_the_reference_as_a_table_as_markdown_and_as_json() -> None:
    runner = CliRunner()
    table = runner.invoke(cli, ["features"], env={"COLUMNS": "120"})
    assert table.exit_code == 0, table.output
    for entry in entries():
        assert entry.name in table.output
    assert "seconds_since_card_fraud" in table.output and "seconds" in table.output

    as_markdown = runner.invoke(cli, ["features", "--format", "markdown"])
    assert as_markdown.output == markdown()

    as_json = json.loads(runner.invoke(cli, ["features", "--format", "json"]).output)
    assert as_json[0] == {
        "name": "tx.transaction_id",
        "type": "string",
        "unit": "",
        "meaning": "the client's idempotency key, or one made",
    }


def test_the_command_list_gives_each_command_its_whole_first_sentence() -> None:
    runner = CliRunner()
    for group in ([], ["rules"], ["models"], ["keys"], ["users"], ["topics"], ["dlq"], ["labels"]):
        shown_help = runner.invoke(cli, [*group, "--help"], env={"COLUMNS": "80"}).output
        commands = shown_help.split("Commands:")[1]
        assert "..." not in commands, shown_help
    listed = runner.invoke(cli, ["--help"], env={"COLUMNS": "80"}).output
    assert "register it (the first model registered becomes the champion;" in listed


def test_adding_a_rule_lists_what_its_expression_may_read() -> None:
    shown_help = CliRunner().invoke(cli, ["rules", "add", "--help"], env={"COLUMNS": "100"})
    words = " ".join(shown_help.output.split())
    assert "tx.amount (double)" in words and "tx.location_match (int)" in words
    for feature in FEATURE_NAMES:
        assert f"features.{feature}" in words
    assert "`fraud features` gives each one's unit and meaning" in words
