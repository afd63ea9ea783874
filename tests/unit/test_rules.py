"""Analysts' rules: how their hits combine with the model's decision, and CEL expressions
compiled, refused with their position, and kept to the fields they are given."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fraud.adapters.cel.rules import CelRuleCompiler
from fraud.domain.assessment import Decision
from fraud.domain.features import FEATURE_NAMES, FeatureVector
from fraud.domain.rules import (
    InvalidExpression,
    InvalidRule,
    Rule,
    RuleAction,
    RuleHit,
    RuleMode,
    apply_rules,
)
from fraud.domain.transaction import Transaction

ACTIVE, SHADOW = RuleMode.ACTIVE, RuleMode.SHADOW


def hit(action: RuleAction, mode: RuleMode = ACTIVE, name: str = "r") -> RuleHit:
    return RuleHit(name, 1, action, mode, f"{name}: {action.value}")


@pytest.mark.parametrize(
    ("model", "actions", "decided"),
    [
        (Decision.APPROVE, [RuleAction.DECLINE], Decision.DECLINE),
        (Decision.DECLINE, [RuleAction.REVIEW], Decision.DECLINE),  # the most severe
        (Decision.DECLINE, [RuleAction.APPROVE], Decision.APPROVE),  # allow-list over model
        (Decision.REVIEW, [RuleAction.APPROVE, RuleAction.DECLINE], Decision.DECLINE),
        (Decision.DECLINE, [RuleAction.APPROVE, RuleAction.REVIEW], Decision.REVIEW),
        (Decision.REVIEW, [RuleAction.REASON], Decision.REVIEW),
        (Decision.APPROVE, [], Decision.APPROVE),
    ],
)
def test_the_decision_is_the_most_severe_and_an_allow_list_overrides_only_the_model(
    model: Decision, actions: list[RuleAction], decided: Decision
) -> None:
    hits = [hit(action, name=f"r{i}") for i, action in enumerate(actions)]
    assert apply_rules(model, ["model reason"], hits)[0] is decided


def test_rule_reasons_come_first_and_shadow_hits_change_nothing() -> None:
    hits = [
        hit(RuleAction.DECLINE, SHADOW, "shadowed"),
        hit(RuleAction.REASON, name="gift-cards"),
    ]
    decision, reasons = apply_rules(Decision.APPROVE, ["5 purchases in 10 minutes"], hits)
    assert decision is Decision.APPROVE
    assert reasons == ("gift-cards: reason", "5 purchases in 10 minutes")


def test_a_rule_with_a_bad_name_or_empty_fields_is_refused_field_by_field() -> None:
    with pytest.raises(InvalidRule) as refused:
        Rule("Big Spender!", " ", RuleAction.DECLINE, "")
    assert {error.field for error in refused.value.errors} == {"name", "expression", "reason"}


def transaction(**fields: object) -> Transaction:
    values: dict = {
        "transaction_id": "t1",
        "user_id": "ann",
        "amount": 600.0,
        "merchant": "Gift Cards Ltd",
        "timestamp": datetime(2026, 3, 1, 12, tzinfo=UTC),
        "merchant_type": "online",
        "device_type": "mobile",
        "location_match": True,
    }
    return Transaction(**(values | fields))


def features(**values: float) -> FeatureVector:
    return FeatureVector(tuple(values.get(name, 0.0) for name in FEATURE_NAMES))


GIFT_CARDS = Rule(
    "gift-cards",
    'tx.merchant_type == "online" && tx.amount > 500.0 && features.new_merchant == 1.0',
    RuleAction.DECLINE,
    "online purchase over 500 at a new merchant",
)


def test_a_compiled_rule_hits_the_transactions_its_expression_holds_for() -> None:
    rules = CelRuleCompiler().compile([GIFT_CARDS, GIFT_CARDS.__class__(
        "risky-score", "score >= 0.7", RuleAction.REVIEW, "score of 0.7 or more", RuleMode.SHADOW
    )])  # fmt: skip
    found = rules.evaluate(
        [transaction(), transaction(amount=20.0), transaction()],
        [features(new_merchant=1.0), features(new_merchant=1.0), features(new_merchant=0.0)],
        [0.9, 0.1, 0.2],
    ).hits
    assert [[h.name for h in hits] for hits in found] == [["gift-cards", "risky-score"], [], []]
    assert found[0][1].mode is RuleMode.SHADOW


@pytest.mark.parametrize(
    ("expression", "line", "column"),
    [("tx.amount >", 1, 12), ('tx.merchant_type == "online" &&\n  (tx.amount >', 2, 15)],
)
def test_an_expression_that_does_not_compile_is_refused_with_its_position(
    expression: str, line: int, column: int
) -> None:
    with pytest.raises(InvalidExpression) as refused:
        CelRuleCompiler().check(expression)
    assert (refused.value.error.line, refused.value.error.column) == (line, column)
    assert "Syntax error" in refused.value.error.message


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ('__import__("os").system("true")', "tx, features and score only"),
        ("open.read() == 1", "tx, features and score only"),
        ("features.no_such_feature > 1.0", "no field or feature 'no_such_feature'"),
        ("tx.amount + 1.0", "must be true or false"),
        ('tx.amount > "500"', "No such overload"),
    ],
)
def test_an_expression_reaches_nothing_but_the_fields_it_is_given(
    expression: str, says: str
) -> None:
    with pytest.raises(InvalidExpression, match=says):
        CelRuleCompiler().check(expression)


def test_a_rule_set_with_one_bad_rule_is_refused_naming_it() -> None:
    bad = Rule("broken", "tx.amount >", RuleAction.REVIEW, "never")
    with pytest.raises(InvalidExpression, match="rule 'broken'"):
        CelRuleCompiler().compile([GIFT_CARDS, bad])


def test_a_rule_set_hands_the_interpreter_only_what_its_expressions_read() -> None:
    from fraud.adapters.cel.rules import Needs

    needs = Needs.of(
        ["tx.amount > 5.0 && features.new_merchant == 1.0", "tx . merchant_type == 'gas'"]
    )
    assert needs.fields == {"amount", "merchant_type"}
    assert needs.features == {"new_merchant"}
    assert Needs.of(['"amount" in tx', "features.count_1h > 1.0"]).fields is None
    rules = CelRuleCompiler().compile(
        [
            Rule(
                "keyed",
                'tx["amount"] > 500.0 && "online" == tx.merchant_type',
                RuleAction.REVIEW,
                "r",
            )
        ]
    )
    assert [h.name for h in rules.evaluate([transaction()], [features()], [0.1]).hits[0]] == [
        "keyed"
    ]


def test_string_literals_are_not_read_as_code() -> None:
    from fraud.adapters.cel.rules import Needs, code_only, guards_of

    expression = 'tx.merchant == "a && b || tx.nickname" && tx.amount > 5.0'
    assert len(code_only(expression)) == len(expression)
    assert "nickname" not in code_only(expression)
    assert code_only(r"'it\'s' == tx.merchant") == r"'     ' == tx.merchant"
    assert Needs.of([expression]).fields == {"merchant", "amount"}
    assert [(g.operand, g.operator, g.literal) for g in guards_of(expression)] == [
        (("tx", "merchant"), "==", "a && b || tx.nickname"),
        (("tx", "amount"), ">", 5.0),
    ]
    CelRuleCompiler().check(expression)  # "tx.nickname" in a string names no field


@pytest.mark.parametrize(
    ("expression", "guards"),
    [
        ("tx.amount > 5.0 || score > 0.9", []),  # not a chain of &&: nothing is necessary
        ("score > 0.9 ? true : tx.amount > 5.0", []),
        ("(tx.amount > 5.0 || true) && score >= 0.5", [(("score", ""), ">=", 0.5)]),
        (
            '500 < tx.amount && "gas" != tx.merchant_type',
            [
                (("tx", "amount"), ">", 500.0),
                (("tx", "merchant_type"), "!=", "gas"),
            ],
        ),
        ('tx.amount == "5" && tx.merchant > 3', []),  # mismatched types: CEL decides
        ("features.count_1h >= 3 && !(score < 0.2)", [(("features", "count_1h"), ">=", 3.0)]),
    ],
)
def test_guards_are_the_conditions_every_hit_needs(expression: str, guards: list) -> None:
    from fraud.adapters.cel.rules import guards_of

    assert [(g.operand, g.operator, g.literal) for g in guards_of(expression)] == guards


def test_guards_change_no_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random rules of every shape over random transactions: the hits with guards are the
    hits of evaluating every rule on every transaction."""
    import random

    rng = random.Random(5)
    shapes = [
        'tx.merchant_type == "{kind}" && tx.amount > {amount}',
        "{amount}.0 <= tx.amount && features.new_merchant == 1.0",
        "score > 0.{digit} && features.count_1h >= {count}.0 || tx.location_match == 0",
        'tx.device_type != "{device}" && (score > 0.{digit} || tx.amount < {amount}.0)',
        'tx.merchant_type == "{kind}" && tx["amount"] >= {amount}.0 && score < 0.{digit}',
        "tx.location_match == {bit} && features.count_1h < {count}",
        'tx.merchant.startsWith("S") && tx.amount > {amount}.0',
    ]
    rules = [
        Rule(
            f"r{index}",
            rng.choice(shapes).format(
                kind=rng.choice(["online", "grocery", "gas"]),
                amount=rng.choice([10, 100, 500]),
                digit=rng.randrange(1, 9),
                count=rng.randrange(0, 4),
                device=rng.choice(["mobile", "desktop"]),
                bit=rng.randrange(2),
            ),
            RuleAction.REVIEW,
            f"reason {index}",
        )
        for index in range(40)
    ]
    transactions = [
        transaction(
            transaction_id=f"t{n}",
            amount=rng.choice([5.0, 50.0, 100.0, 499.0, 500.0, 501.0, 2000.0]),
            merchant=rng.choice(["Shop", "Sky Air", "Gas Co"]),
            merchant_type=rng.choice(["online", "grocery", "gas", "travel"]),
            device_type=rng.choice(["mobile", "desktop", "pos"]),
            location_match=rng.random() < 0.5,
        )
        for n in range(300)
    ]
    vectors = [
        features(new_merchant=float(rng.random() < 0.5), count_1h=float(rng.randrange(5)))
        for _ in transactions
    ]
    scores = [rng.random() for _ in transactions]
    guarded = CelRuleCompiler().compile(rules)
    assert any(guarded._guards)  # the shapes above do have guards
    with_guards = guarded.evaluate(transactions, vectors, scores).hits
    monkeypatch.setattr(guarded, "_guards", tuple(() for _ in rules))
    assert guarded.evaluate(transactions, vectors, scores).hits == with_guards
    assert sum(map(len, with_guards)) > 300  # and the rules do hit


class CountingRules:
    """The rules' read side over an in-memory store, counting what it is asked."""

    def __init__(self) -> None:
        from fraud.adapters.memory.repository import InMemoryStore

        self.store = InMemoryStore()
        self.asked: list[str] = []
        self.down = False

    def add(self, rule: Rule) -> None:
        with self.store() as uow:
            uow.rules.save(rule, "alice", datetime(2026, 12, 3, tzinfo=UTC))
            uow.commit()

    def rule_set_version(self) -> int:
        return self._ask("version", self.store.rule_set_version)

    def rule_set(self):
        return self._ask("set", self.store.rule_set)

    def _ask(self, what: str, answer):
        from fraud.domain.errors import TransientFailure

        self.asked.append(what)
        if self.down:
            raise TransientFailure("database is locked")
        return answer()


def test_live_rules_look_at_the_version_once_a_second_and_compile_only_a_new_set() -> None:
    from fraud.application.rules import LiveRules
    from fraud.domain.errors import TransientFailure

    queries, now = CountingRules(), [100.0]
    live = LiveRules(queries, CelRuleCompiler(), refresh_s=1.0, monotonic=lambda: now[0])
    queries.down = True
    with pytest.raises(TransientFailure):  # never decide without knowing the rules in force
        live.current()
    queries.down = False
    assert live.current().version == 0 and queries.asked[-1] == "set"

    queries.add(GIFT_CARDS)
    queries.asked.clear()
    now[0] += 0.5
    assert live.current().version == 0 and queries.asked == []  # not looked at yet
    now[0] += 0.6
    loaded = live.current()
    assert loaded.version == 1 and [r.name for r in loaded.compiled.rules] == ["gift-cards"]
    now[0] += 1.1
    assert live.current() is loaded and queries.asked == ["version", "set", "version"]

    queries.down = True  # storage away: the set in hand stays
    now[0] += 1.1
    assert live.current() is loaded


def test_a_stored_rule_that_no_longer_compiles_is_left_out_of_the_set() -> None:
    from fraud.application.rules import LiveRules

    queries = CountingRules()
    queries.add(GIFT_CARDS)
    queries.add(Rule("broken", "tx.amount >", RuleAction.REVIEW, "never"))
    live = LiveRules(queries, CelRuleCompiler())
    assert [rule.name for rule in live.current().compiled.rules] == ["gift-cards"]
