"""CEL's syntax, read into a tree that can be measured before the interpreter ever sees it.

The interpreter (cel-rust, behind ``common-expression-language``) offers no syntax tree and
no cost limit, and it cannot be interrupted: a 30 KB ``1+1+...`` overflowed its stack and
took the process down, and five nested comprehensions held the scoring thread for seconds.
So every expression is first read here, by a small parser of CEL's published grammar
(https://github.com/google/cel-spec/blob/master/doc/langdef.md#syntax), whose own depth is
bounded: brackets, calls and conditional branches count as nesting and the parser refuses
to go deeper than the limit, while chains (``a + b + c``, ``x.y.z``, ``!!a``) are read in
loops into flat nodes, so nothing here recurses more than the limit allows.

The tree is only measured (:mod:`fraud.adapters.cel.bounds`), never evaluated: where this
parser and the interpreter's differ on an exotic form, the interpreter still decides what
the expression means, and an expression either refuses stays refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fraud.domain.rules import ExpressionError, InvalidExpression

# Comprehension macros: receiver.macro(variable, ...): how many arguments each takes.
MACROS = {
    "all": (2,),
    "exists": (2,),
    "exists_one": (2,),
    "existsOne": (2,),
    "map": (2, 3),
    "filter": (2,),
}

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*)
    |(?P<string>(?:[rR][bB]?|[bB][rR]?)?(?:\"\"\"|'''|"|'))
    |(?P<number>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d+|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+[uU]?)
    |(?P<ident>[_a-zA-Z][_a-zA-Z0-9]*)
    |(?P<op>&&|\|\||==|!=|<=|>=|[<>!?:.,()\[\]{}+\-*/%])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # string, bytes, int, uint, double, ident, op, end
    text: str  # the operator or identifier; a literal's source
    at: int  # offset in the expression
    size: int = 0  # a string or bytes literal's length in characters (of its source)


def position(expression: str, offset: int) -> tuple[int, int]:
    """Line and column (from 1) of a character of the expression."""
    line = expression.count("\n", 0, offset) + 1
    return line, offset - (expression.rfind("\n", 0, offset) + 1) + 1


def refuse(expression: str, offset: int, message: str) -> InvalidExpression:
    line, column = position(expression, min(offset, len(expression)))
    return InvalidExpression(ExpressionError(message, line, column))


def tokens(expression: str) -> list[Token]:
    found: list[Token] = []
    at, end = 0, len(expression)
    while at < end:
        match = _TOKEN.match(expression, at)
        if match is None:
            raise refuse(expression, at, f"Syntax error: unexpected character {expression[at]!r}")
        kind = match.lastgroup
        if kind == "space":
            at = match.end()
            continue
        if kind == "string":
            token = _string(expression, at, match.group())
            found.append(token)
            at += len(token.text)
            continue
        text = match.group()
        if kind == "number":
            kind = _number_kind(text)
        found.append(Token(kind or "op", text, at))
        at = match.end()
    found.append(Token("end", "", end))
    return found


def _number_kind(text: str) -> str:
    if text[:2].lower() != "0x" and any(char in text for char in ".eE"):
        return "double"
    return "uint" if text[-1] in "uU" else "int"


def _string(expression: str, start: int, opening: str) -> Token:
    """A string or bytes literal from its prefix and opening quote to its closing quote."""
    prefix = opening.rstrip("\"'").lower()
    quote = opening[len(prefix) :]
    raw, is_bytes = "r" in prefix, "b" in prefix
    at, end = start + len(opening), len(expression)
    while at < end:
        if expression.startswith(quote, at):
            text = expression[start : at + len(quote)]
            size = at - start - len(opening)
            return Token("bytes" if is_bytes else "string", text, start, size)
        char = expression[at]
        if char == "\n" and len(quote) == 1:
            break
        at += 2 if char == "\\" and not raw else 1
    raise refuse(expression, start, "Syntax error: a string that is never closed")


@dataclass(slots=True)
class Node:
    """One node of the tree. ``kind`` is one of: literal (``literal``: its token kind),
    ident, list, map, struct, call (a function called without a receiver), unary (``ops``:
    the operators, applied right to left), chain (``ops[i]`` joins ``children[i]`` and
    ``children[i + 1]``, left to right, and stands at ``op_at[i]``), conditional (condition,
    then, else), postfix (``children[0]`` followed by ``steps``)."""

    kind: str
    at: int
    name: str = ""
    children: list[Node] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    literal: str = ""
    size: int = 0
    op_at: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Step:
    """What follows a primary: ``.name``, ``.name(args)`` (a method, or a macro) or
    ``[index]``."""

    kind: str  # select, method, index
    at: int
    name: str = ""
    args: list[Node] = field(default_factory=list)


_LEVELS = (("||",), ("&&",), ("<", "<=", ">", ">=", "==", "!=", "in"), ("+", "-"), ("*", "/", "%"))


class Parser:
    """CEL's grammar, precedence level by level; ``nesting`` counts brackets, calls and
    conditional branches, and going past ``limit`` is refused at the place it happens."""

    def __init__(self, expression: str, limit: int) -> None:
        self.expression = expression
        self.tokens = tokens(expression)
        self.at = 0
        self.limit = limit
        self.nesting = 0
        self.deepest = 0

    @classmethod
    def parse(cls, expression: str, limit: int) -> tuple[Node, int]:
        """The tree and how deep it nests."""
        parser = cls(expression, limit)
        tree = parser.expr()
        last = parser.peek()
        if last.kind != "end":
            raise parser.error(last, f"unexpected {last.text!r}")
        return tree, parser.deepest

    # --- tokens ---------------------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        if token.kind != "end":
            self.at += 1
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token.kind in ("op", "ident") and token.text == text:
            self.at += 1
            return True
        return False

    def expect(self, text: str) -> Token:
        token = self.peek()
        if not self.accept(text):
            found = "the end" if token.kind == "end" else repr(token.text)
            raise self.error(token, f"expected {text!r}, found {found}")
        return token

    def error(self, token: Token, message: str) -> InvalidExpression:
        return refuse(self.expression, token.at, f"Syntax error: {message}")

    def deeper(self, token: Token) -> None:
        self.nesting += 1
        self.deepest = max(self.deepest, self.nesting)
        if self.nesting > self.limit:
            raise refuse(
                self.expression,
                token.at,
                f"nested more than {self.limit} levels deep (brackets, calls and ?: branches)",
            )

    def shallower(self) -> None:
        self.nesting -= 1

    # --- grammar --------------------------------------------------------------------------

    def expr(self) -> Node:
        condition = self.level(0)
        question = self.peek()
        if not self.accept("?"):
            return condition
        self.deeper(question)
        then = self.level(0)
        self.expect(":")
        otherwise = self.expr()
        self.shallower()
        return Node("conditional", question.at, children=[condition, then, otherwise])

    def level(self, index: int) -> Node:
        if index == len(_LEVELS):
            return self.unary()
        first = self.level(index + 1)
        children, ops, op_at = [first], [], []
        while (token := self.peek()).kind in ("op", "ident") and token.text in _LEVELS[index]:
            self.take()
            ops.append(token.text)
            op_at.append(token.at)
            children.append(self.level(index + 1))
        if not ops:
            return first
        return Node("chain", first.at, children=children, ops=ops, op_at=op_at)

    def unary(self) -> Node:
        start = self.peek()
        ops = []
        while (token := self.peek()).kind == "op" and token.text in ("!", "-"):
            ops.append(self.take().text)
        operand = self.member()
        if not ops:
            return operand
        return Node("unary", start.at, children=[operand], ops=ops)

    def member(self) -> Node:
        primary = self.primary()
        steps: list[Step] = []
        while True:
            token = self.peek()
            if self.accept("."):
                name = self.take()
                if name.kind != "ident":
                    raise self.error(name, "expected a field or method name after '.'")
                if self.peek().text == "(" and self.peek().kind == "op":
                    steps.append(Step("method", name.at, name.text, self.arguments(")")))
                else:
                    steps.append(Step("select", name.at, name.text))
            elif token.kind == "op" and token.text == "[":
                self.take()
                self.deeper(token)
                index = self.expr()
                self.expect("]")
                self.shallower()
                steps.append(Step("index", token.at, args=[index]))
            else:
                break
        if not steps:
            return primary
        return Node("postfix", primary.at, children=[primary], steps=steps)

    def arguments(self, closing: str) -> list[Node]:
        """A parenthesised or bracketed list of expressions, the opening one next."""
        opening = self.take()
        self.deeper(opening)
        items: list[Node] = []
        while not self.accept(closing):
            items.append(self.expr())
            if not self.accept(","):
                self.expect(closing)
                break
        self.shallower()
        return items

    def primary(self) -> Node:
        token = self.peek()
        if token.kind in ("string", "bytes", "int", "uint", "double"):
            self.take()
            return Node("literal", token.at, literal=token.kind, name=token.text, size=token.size)
        if token.kind == "ident":
            self.take()
            if token.text in ("true", "false", "null"):
                return Node("literal", token.at, literal=token.text, name=token.text)
            if token.text == "in":
                raise self.error(token, "'in' needs a value on its left")
            if self.peek().kind == "op" and self.peek().text == "(":
                return Node("call", token.at, token.text, self.arguments(")"))
            if self.peek().kind == "op" and self.peek().text == "{":
                return Node("struct", token.at, token.text, self.entries())
            return Node("ident", token.at, token.text)
        if token.kind == "op" and token.text == ".":  # a name from the root: .tx
            self.take()
            return self.primary()
        if token.kind == "op" and token.text == "(":
            self.take()
            self.deeper(token)
            inner = self.expr()
            self.expect(")")
            self.shallower()
            return inner
        if token.kind == "op" and token.text == "[":
            items = self.arguments("]")
            return Node("list", token.at, children=items, size=len(items))
        if token.kind == "op" and token.text == "{":
            entries = self.entries()
            return Node("map", token.at, children=entries, size=len(entries) // 2)
        found = "the end" if token.kind == "end" else repr(token.text)
        raise self.error(token, f"expected a value, found {found}")

    def entries(self) -> list[Node]:
        """``{key: value, ...}``: keys and values, alternating."""
        opening = self.expect("{")
        self.deeper(opening)
        items: list[Node] = []
        while not self.accept("}"):
            items.append(self.expr())
            self.expect(":")
            items.append(self.expr())
            if not self.accept(","):
                self.expect("}")
                break
        self.shallower()
        return items
