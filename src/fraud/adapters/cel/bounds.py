r"""What a rule's expression may cost, in the worst case, before it is ever run.

Measured on the tree :mod:`fraud.adapters.cel.syntax` reads, against
:class:`~fraud.domain.rules.ExpressionLimits`, in the spirit of cel-go's cost estimator:

* **Names.** Only ``tx``, ``features``, ``score`` (a queue's condition also ``decision``
  and ``rules``), the variables comprehensions bind and CEL's type names; only the functions
  of the interpreter's standard library listed in :data:`FUNCTIONS` (a name the interpreter
  lacks would fail on every transaction). A rule may read a list as ``X in lists.NAME``, and
  only so, naming a list that exists: a membership costs one step whatever the list's size
  (the rule is rewritten into a look-up, :mod:`fraud.adapters.cel.rules`).
* **Sizes.** Every value has an upper bound on its size: a literal's own, a transaction
  field's by the contract (a merchant is at most 128 characters), a map's number of keys,
  the sum of what ``+`` joins, a ``map`` or ``filter`` as large as its range.
* **Cost** counts interpreter steps on the worst input: one per operation, a comprehension's
  body once per element of its range (so nested ones multiply; ``map`` and ``filter`` also
  copy their growing result at each element), ``in`` and equality on a list once per
  element, a ``matches`` a compile of its pattern at every call (the interpreter does not
  cache them: 8 µs for a short ASCII pattern, 230 µs for one ``\w``). Both sides of ``&&``,
  ``||`` and ``?:`` are counted, whatever the sample says: the rule that stalled scoring was
  cheap on the sample (``tx.amount > 100.0 && ...`` with an amount of 10).

A step took at most about 0.3 µs on this project's 2-core machine (``benchmarks/
rule_bounds.py`` times each family of expressions against its bound), so at the default cap
one evaluation stays near a millisecond; the score stage's run-time budget
(:mod:`fraud.adapters.cel.rules`) bounds what the rules of a batch add up to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fraud.adapters.cel.syntax import MACROS, Node, Parser, Step, refuse
from fraud.domain.features import FEATURE_NAMES
from fraud.domain.rules import ExpressionLimits, InvalidExpression
from fraud.domain.transaction import MAX_CATEGORY_LENGTH, MAX_ID_LENGTH, MAX_MERCHANT_LENGTH

# What a regular expression costs at each call, however small: the interpreter compiles it.
PATTERN_COST = 100

FUNCTIONS = frozenset(
    {
        # conversions
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "bool",
        "dyn",
        "type",
        "timestamp",
        "duration",
        # size and strings
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        # parts of a timestamp or a duration
        "getFullYear",
        "getMonth",
        "getDayOfYear",
        "getDayOfMonth",
        "getDate",
        "getDayOfWeek",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
        # optional values
        "of",
        "none",
        "ofNonZeroValue",
        "hasValue",
        "value",
        "orValue",
        "or",
        # a field's presence
        "has",
    }
)
TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)
ROOTS = ("tx", "features", "score")


@dataclass(frozen=True, slots=True)
class Shape:
    """An upper bound on a value's size: characters of a string or bytes, elements of a list,
    keys of a map (0: a scalar); ``element`` bounds what a comprehension over it binds."""

    size: int = 0
    element: Shape | None = None


SCALAR = Shape()
_KEY = Shape(max(map(len, FEATURE_NAMES)))
# The transaction's fields as rules see them (Transaction.to_dict), by the contract's bounds.
_FIELDS: Mapping[str, Shape] = {
    "transaction_id": Shape(MAX_ID_LENGTH),
    "user_id": Shape(MAX_ID_LENGTH),
    "amount": SCALAR,
    "currency": Shape(3),
    "merchant": Shape(MAX_MERCHANT_LENGTH),
    "timestamp": Shape(40),
    "merchant_type": Shape(MAX_CATEGORY_LENGTH),
    "device_type": Shape(MAX_CATEGORY_LENGTH),
    "location_match": SCALAR,
}
_ROOT_SHAPES: Mapping[str, Shape] = {
    "tx": Shape(len(_FIELDS), _KEY),
    "features": Shape(len(FEATURE_NAMES), _KEY),
    "score": SCALAR,
}


@dataclass(frozen=True, slots=True)
class Names:
    """The names an expression may read (each with the shape of its value), and the lists
    it may test membership of (None: ``lists`` is no name here)."""

    roots: Mapping[str, Shape]
    described: str
    lists: frozenset[str] | None = None

    def reading_lists(self, lists: frozenset[str]) -> Names:
        return Names(self.roots, self.described, lists)


RULE_NAMES = Names(_ROOT_SHAPES, "tx, features and score")
LISTS = "lists"
# What a membership costs: a call into the look-up, whatever the list holds.
MEMBERSHIP_COST = 2


@dataclass(frozen=True, slots=True)
class Membership:
    """``X in lists.NAME`` where it is written: X from ``start`` to ``in_at`` (the ``in``),
    the list read up to ``end``."""

    start: int
    in_at: int
    end: int
    name: str


@dataclass(frozen=True, slots=True)
class Measure:
    """What an expression was found to need, every figure within its limit."""

    nesting: int
    comprehensions: int
    comprehension_nesting: int
    cost: int
    patterns: tuple[str, ...]  # the regular expressions it compiles at every call
    memberships: tuple[Membership, ...] = ()  # where it tests membership of a list


def measure(expression: str, limits: ExpressionLimits, names: Names = RULE_NAMES) -> Measure:
    """The expression's measure; InvalidExpression, naming the limit and where it is
    broken, for one that breaks any."""
    if len(expression) > limits.length:
        raise refuse(expression, limits.length, f"longer than {limits.length} characters")
    tree, nesting = Parser.parse(expression, limits.nesting)
    walk = _Walk(expression, limits, names)
    cost, _ = walk.node(tree, {}, 0)
    if cost > limits.cost:
        where, worst = walk.costliest or (tree, cost)
        raise refuse(
            expression,
            where.at,
            f"may cost up to {cost:,} steps a transaction, more than the {limits.cost:,} "
            f"allowed (this part alone {worst:,}; a comprehension costs its body once per "
            "element of its range, and nested ones multiply)",
        )
    return Measure(
        nesting,
        walk.comprehensions,
        walk.deepest,
        cost,
        tuple(walk.patterns),
        tuple(walk.memberships),
    )


@dataclass(slots=True)
class _Walk:
    """One pass over the tree: cost and shape of every node, comprehensions counted."""

    expression: str
    limits: ExpressionLimits
    names: Names
    memberships: list[Membership] = field(default_factory=list)
    comprehensions: int = 0
    deepest: int = 0
    patterns: list[str] = field(default_factory=list)
    costliest: tuple[Node, int] | None = None  # the most costly comprehension

    def fail(self, at: int, message: str) -> InvalidExpression:
        return refuse(self.expression, at, message)

    def node(self, node: Node, scope: Mapping[str, Shape], depth: int) -> tuple[int, Shape]:
        """The node's cost and shape; ``depth``: the comprehensions it is inside."""
        kind = node.kind
        if kind == "literal":
            return 1, self.literal(node)
        if kind == "ident":
            return 1, self.ident(node, scope)
        if kind in ("list", "map", "struct"):
            return self.collection(node, scope, depth)
        if kind == "call":
            return self.call(node, None, node.children, scope, depth)
        if kind == "unary":
            cost, shape = self.node(node.children[0], scope, depth)
            return cost + len(node.ops), SCALAR
        if kind == "chain":
            return self.chain(node, scope, depth)
        if kind == "conditional":
            parts = [self.node(child, scope, depth) for child in node.children]
            shape = max(parts[1][1], parts[2][1], key=lambda s: s.size)
            return sum(cost for cost, _ in parts), shape
        assert kind == "postfix", kind
        cost, shape = self.node(node.children[0], scope, depth)
        root = node.children[0].name if node.children[0].kind == "ident" else None
        for step in node.steps:
            added, shape = self.step(step, shape, root, scope, depth)
            cost += added
            root = None
        return cost, shape

    def literal(self, node: Node) -> Shape:
        if node.literal in ("string", "bytes"):
            if node.size > self.limits.literal_length:
                raise self.fail(
                    node.at,
                    f"a {node.literal} literal of {node.size:,} characters: at most "
                    f"{self.limits.literal_length:,}",
                )
            return Shape(node.size)
        return SCALAR

    def ident(self, node: Node, scope: Mapping[str, Shape]) -> Shape:
        if node.name in scope:
            return scope[node.name]
        if node.name in self.names.roots:
            return self.names.roots[node.name]
        if node.name in TYPE_NAMES or node.name == "optional":
            return SCALAR
        if node.name == LISTS and self.names.lists is not None:
            raise self.fail(
                node.at,
                "a list is read only as the right side of in: X in lists.NAME "
                "(e.g. tx.user_id in lists.blocked_cards)",
            )
        raise self.fail(
            node.at,
            f"unknown name {node.name!r}: an expression may use {self.names.described} only "
            "(and the variables its comprehensions name)",
        )

    def membership(self, node: Node, at: int, scope: Mapping[str, Shape]) -> bool:
        """Whether the chain's ``in`` at ``at`` tests membership of a list (recorded, once the
        list's name is checked), rather than of a value it reads."""
        operand = node.children[at + 1]
        if (
            self.names.lists is None
            or LISTS in scope
            or operand.kind != "postfix"
            or operand.children[0].kind != "ident"
            or operand.children[0].name != LISTS
            or len(operand.steps) != 1
            or operand.steps[0].kind != "select"
        ):
            return False
        step = operand.steps[0]
        if step.name not in self.names.lists:
            known = ", ".join(sorted(self.names.lists)) or "none yet"
            raise self.fail(step.at, f"no list named {step.name!r} (lists: {known})")
        self.memberships.append(
            Membership(node.at, node.op_at[at], step.at + len(step.name), step.name)
        )
        return True

    def collection(self, node: Node, scope: Mapping[str, Shape], depth: int) -> tuple[int, Shape]:
        if node.size > self.limits.literal_elements:
            raise self.fail(
                node.at,
                f"a {node.kind} literal of {node.size:,} elements: at most "
                f"{self.limits.literal_elements:,}",
            )
        parts = [self.node(child, scope, depth) for child in node.children]
        cost = 1 + sum(part_cost for part_cost, _ in parts)
        if node.kind == "map":  # elements are keys: every other child, from the first
            parts = parts[::2]
        element = max((shape for _, shape in parts), key=lambda s: s.size, default=SCALAR)
        return cost, Shape(node.size, element)

    def chain(self, node: Node, scope: Mapping[str, Shape], depth: int) -> tuple[int, Shape]:
        cost, shape = self.node(node.children[0], scope, depth)
        for at, (op, operand) in enumerate(zip(node.ops, node.children[1:], strict=True)):
            if op == "in" and self.membership(node, at, scope):
                cost += MEMBERSHIP_COST
                shape = SCALAR
                continue
            added, right = self.node(operand, scope, depth)
            cost += added + 1
            if op in ("==", "!=", "+"):
                cost += (shape.size + right.size) // 8
            elif op == "in":
                cost += right.size
            if op == "+":
                element = max(shape.element, right.element, key=_size_of)
                shape = Shape(shape.size + right.size, element)
            else:
                shape = SCALAR
        return cost, shape

    def step(
        self,
        step: Step,
        shape: Shape,
        root: str | None,
        scope: Mapping[str, Shape],
        depth: int,
    ) -> tuple[int, Shape]:
        if step.kind == "select":
            if root == "tx" and "tx" not in scope:
                return 1, _FIELDS.get(step.name, SCALAR)
            if root == "features" and "features" not in scope:
                return 1, SCALAR
            return 1, shape.element or _unknown(self.limits)
        if step.kind == "index":
            cost, _ = self.node(step.args[0], scope, depth)
            if root == "features" and "features" not in scope:
                return cost + 1, SCALAR
            if root == "tx" and "tx" not in scope:
                return cost + 1, Shape(MAX_MERCHANT_LENGTH)
            return cost + 1, shape.element or _unknown(self.limits)
        if step.name in MACROS:
            return self.comprehension(step, shape, scope, depth)
        return self.call(step, shape, step.args, scope, depth)

    def call(
        self,
        where: Node | Step,
        receiver: Shape | None,
        args: list[Node],
        scope: Mapping[str, Shape],
        depth: int,
    ) -> tuple[int, Shape]:
        name = where.name
        if name not in FUNCTIONS:
            raise self.fail(
                where.at,
                f"no function named {name!r}: an expression may use {self.names.described} "
                f"only, and call {', '.join(sorted(FUNCTIONS))}",
            )
        parts = [self.node(arg, scope, depth) for arg in args]
        cost = 1 + sum(part_cost for part_cost, _ in parts)
        shapes = ([receiver] if receiver is not None else []) + [shape for _, shape in parts]
        if name == "matches":
            pattern = args[-1] if args else None
            if pattern is None or pattern.kind != "literal" or pattern.literal != "string":
                raise self.fail(where.at, "matches needs its pattern written as a string literal")
            if pattern.size > self.limits.pattern_length:
                raise self.fail(
                    pattern.at,
                    f"a pattern of {pattern.size} characters: at most {self.limits.pattern_length}",
                )
            self.patterns.append(pattern.name)
            cost += pattern_cost(pattern.name)
        elif name in ("contains", "startsWith", "endsWith"):
            cost += sum(shape.size for shape in shapes) // 16
        if name in ("string", "bytes"):
            return cost + _size_of(shapes[0] if shapes else None) // 16, Shape(
                max(64, _size_of(shapes[0] if shapes else None))
            )
        if name == "dyn" and shapes:
            return cost, shapes[0]
        return cost, SCALAR

    def comprehension(
        self, step: Step, shape: Shape, scope: Mapping[str, Shape], depth: int
    ) -> tuple[int, Shape]:
        arities = MACROS[step.name]
        if len(step.args) not in arities or step.args[0].kind != "ident":
            raise self.fail(
                step.at,
                f"{step.name} takes a variable name and "
                f"{' or '.join(str(n - 1) for n in arities)} expression(s)",
            )
        self.comprehensions += 1
        if self.comprehensions > self.limits.comprehensions:
            raise self.fail(step.at, f"more than {self.limits.comprehensions} comprehensions")
        inside = depth + 1
        self.deepest = max(self.deepest, inside)
        if inside > self.limits.comprehension_nesting:
            raise self.fail(
                step.at,
                f"comprehensions nested {inside} deep: at most {self.limits.comprehension_nesting}",
            )
        elements = shape.size if shape.size else self.limits.literal_elements
        bound = {**scope, step.args[0].name: shape.element or _unknown(self.limits)}
        parts = [self.node(arg, bound, inside) for arg in step.args[1:]]
        body = sum(part_cost for part_cost, _ in parts)
        # map and filter append to their result by copying it (measured: twice the range,
        # four times the time), so each element costs a quarter of the range more.
        accumulate = 2 + elements // 4 if step.name in ("map", "filter") else 1
        cost = 1 + elements * (body + accumulate)
        if self.costliest is None or cost > self.costliest[1]:
            self.costliest = (Node("postfix", step.at), cost)
        if step.name == "map":
            return cost, Shape(elements, parts[-1][1])
        if step.name == "filter":
            return cost, Shape(elements, shape.element)
        return cost, SCALAR


def _size_of(shape: Shape | None) -> int:
    return 0 if shape is None else shape.size


def _unknown(limits: ExpressionLimits) -> Shape:
    """A value nothing bounds better: as large as the largest literal."""
    return Shape(limits.literal_elements, Shape(limits.literal_length))


# --- regular expressions ------------------------------------------------------------------------

# What compiling a pattern costs the interpreter, in steps, by what it holds (measured on
# this project's machine, ``benchmarks/rule_bounds.py``): its Unicode classes dominate (one
# ``\w`` costs more than a hundred plain characters), and a counted repetition repeats the
# cost of what it repeats.
_CLASS_COST = {"w": 1_000, "W": 1_000, "p": 1_000, "P": 1_000, "b": 1_000, "B": 1_000}
_CLASS_COST |= {"d": 120, "D": 120, "s": 120, "S": 120}
_ANY_COST = 20  # '.': any Unicode character
_CHARACTER_COST = 2
_CASE_FOLDING_COST = 400  # (?i)


def pattern_cost(pattern: str) -> int:
    """Steps to compile ``pattern`` (its source as written in the expression, quotes and
    all): a deterministic upper estimate, so a rule is refused or accepted the same way on
    every machine and at every load."""
    body = pattern
    while body and body[0].isalpha():  # a prefix: r, R
        body = body[1:]
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    body = body[len(quote) : len(body) - len(quote)]
    raw = pattern[: len(pattern) - len(body) - 2 * len(quote)].lower() == "r"
    if not raw:  # the regex escapes are written doubled in a non-raw literal: "\\w"
        body = body.replace("\\\\", "\\")
    stack: list[int] = [0]  # the cost of each open group so far
    last = 0  # the cost of the last atom, which a repetition repeats
    at = 0
    total_flags = 0
    while at < len(body):
        char = body[at]
        if char == "\\" and at + 1 < len(body):
            letter = body[at + 1]
            last = _CLASS_COST.get(letter, _CHARACTER_COST)
            at += 2
            if letter in "pP" and at < len(body) and body[at] == "{":
                at = body.find("}", at) + 1 or len(body)
            stack[-1] += last
            continue
        if char == "[":
            end = _class_end(body, at)
            inside = body[at + 1 : end]
            last = max(
                _CHARACTER_COST,
                sum(
                    _CLASS_COST.get(inside[i + 1], 0)
                    for i, c in enumerate(inside[:-1])
                    if c == "\\"
                ),
            )
            stack[-1] += last
            at = end + 1
            continue
        if char == "(":
            if body.startswith("(?", at) and "i" in body[at + 2 : body.find(")", at) + 1 or at + 2]:
                total_flags += _CASE_FOLDING_COST
            stack.append(0)
            at += 1
            continue
        if char == ")" and len(stack) > 1:
            last = stack.pop()
            stack[-1] += last
            at += 1
            continue
        if char == "{" and (end := body.find("}", at)) > at:
            counts = [int(n) for n in body[at + 1 : end].split(",") if n.strip().isdigit()]
            if counts:
                repeated = max(counts) + (1 if body[end - 1] == "," else 0)
                stack[-1] += last * (repeated - 1)
                last *= repeated
            at = end + 1
            continue
        last = _ANY_COST if char == "." else _CHARACTER_COST
        stack[-1] += last
        at += 1
    return PATTERN_COST + sum(stack) + total_flags


def _class_end(body: str, start: int) -> int:
    """Where a bracketed class that opens at ``start`` closes (its last character if never)."""
    at = start + 1
    if at < len(body) and body[at] == "^":
        at += 1
    if at < len(body) and body[at] == "]":
        at += 1
    while at < len(body) and body[at] != "]":
        at += 2 if body[at] == "\\" else 1
    return min(at, len(body) - 1)
