"""The list filter language: a tokenizer and a recursive-descent parser producing a small AST.

Grammar (keywords case-insensitive; attribute names case-sensitive, as in Temporal):

    query      := [expr] [GROUP BY NAME] [ORDER BY order ("," order)*]
    expr       := and_expr (OR and_expr)*
    and_expr   := primary (AND primary)*
    primary    := "(" expr ")" | predicate
    predicate  := NAME op value
                | NAME [NOT] IN "(" value ("," value)* ")"
                | NAME [NOT] BETWEEN value AND value
                | NAME STARTS_WITH value
                | NAME IS [NOT] NULL
    op         := "=" | "!=" | "<>" | ">" | ">=" | "<" | "<="
    value      := 'string' | "string" | number | TRUE | FALSE
    order      := NAME [ASC | DESC]

NAME is an identifier or a `back-quoted` name. GROUP is not reserved: it only means GROUP BY
where an operator could not follow (a custom attribute may still be called Group). Every error
carries the 0-based character position of the offending token so clients can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .attributes import VisibilityError

Value = str | int | float | bool
Op = Literal[
    "=",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "in",
    "not in",
    "between",
    "not between",
    "starts_with",
    "is null",
    "is not null",
]

_KEYWORDS = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "IN",
        "BETWEEN",
        "STARTS_WITH",
        "IS",
        "NULL",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "TRUE",
        "FALSE",
    }
)
_OPS = ("!=", "<>", ">=", "<=", "=", ">", "<", "(", ")", ",")
MAX_QUERY_LENGTH = 8192
MAX_IN_VALUES = 1000
MAX_DEPTH = 50  # nested parentheses; deeper is surely a mistake (and would exhaust the stack)


class QueryError(VisibilityError):
    """An invalid query; `position` is the 0-based offset of the offending token."""

    def __init__(self, message: str, *, position: int, token: str | None = None) -> None:
        where = f" at position {position}" + (f" (near {token!r})" if token else "")
        super().__init__(message + where)
        self.reason = message
        self.position = position
        self.token = token


@dataclass(frozen=True)
class Token:
    kind: Literal["name", "string", "number", "keyword", "op", "end"]
    text: str
    pos: int
    value: Value | None = None


@dataclass(frozen=True)
class Comparison:
    attribute: str
    op: Op
    values: tuple[Value, ...]
    pos: int  # of the attribute name, for type errors found later


@dataclass(frozen=True)
class BoolOp:
    op: Literal["and", "or"]
    items: tuple[Expr, ...]


Expr = Comparison | BoolOp


@dataclass(frozen=True)
class OrderBy:
    attribute: str
    descending: bool
    pos: int


@dataclass(frozen=True)
class GroupBy:
    attribute: str
    pos: int


@dataclass(frozen=True)
class Query:
    where: Expr | None
    order_by: tuple[OrderBy, ...]
    group_by: tuple[GroupBy, ...] = ()


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"query longer than {MAX_QUERY_LENGTH} characters", position=MAX_QUERY_LENGTH)
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "'\"":
            i = _string(text, i, tokens)
        elif c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise QueryError("unterminated `name`", position=i, token=text[i : i + 20])
            tokens.append(Token("name", text[i + 1 : end], i))
            i = end + 1
        elif c.isdigit() or (c in "-+." and i + 1 < n and (text[i + 1].isdigit() or text[i + 1] == ".")):
            i = _number(text, i, tokens)
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_."):
                j += 1
            word = text[i:j]
            upper = word.upper()
            if upper in _KEYWORDS:
                tokens.append(Token("keyword", upper, i))
            else:
                tokens.append(Token("name", word, i))
            i = j
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is None:
                raise QueryError(f"unexpected character {c!r}", position=i, token=c)
            tokens.append(Token("op", "!=" if op == "<>" else op, i))
            i += len(op)
    tokens.append(Token("end", "", n))
    return tokens


def _string(text: str, start: int, out: list[Token]) -> int:
    quote, i, chars = text[start], start + 1, []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            chars.append(text[i + 1])
            i += 2
        elif c == quote:
            if text.startswith(quote * 2, i):  # SQL-style doubled quote
                chars.append(quote)
                i += 2
                continue
            value = "".join(chars)
            out.append(Token("string", text[start : i + 1], start, value))
            return i + 1
        else:
            chars.append(c)
            i += 1
    raise QueryError("unterminated string literal", position=start, token=text[start : start + 20])


def _number(text: str, start: int, out: list[Token]) -> int:
    i = start + 1
    while i < len(text) and (text[i].isalnum() or text[i] in ".+-_"):
        if text[i] in "+-" and text[i - 1] not in "eE":
            break
        i += 1
    raw = text[start:i]
    try:
        value: Value = int(raw) if raw.lstrip("+-").isdigit() else float(raw)
    except ValueError:
        raise QueryError(f"invalid number {raw!r}", position=start, token=raw) from None
    out.append(Token("number", raw, start, value))
    return i


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        t = self.tok
        if t.kind == kind and (text is None or t.text == text):
            return self.advance()
        return None

    def expect(self, kind: str, text: str | None, what: str) -> Token:
        t = self.accept(kind, text)
        if t is None:
            raise self.error(f"expected {what}")
        return t

    def error(self, message: str) -> QueryError:
        t = self.tok
        if t.kind == "end":
            return QueryError(f"{message}, found the end of the query", position=t.pos)
        return QueryError(message, position=t.pos, token=t.text)

    def _at_group_by(self) -> bool:
        t = self.tok
        after = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        return (
            t.kind == "name"
            and t.text.upper() == "GROUP"
            and after is not None
            and after.kind == "keyword"
            and after.text == "BY"
        )

    def query(self) -> Query:
        where: Expr | None = None
        at_order = self.tok.kind == "keyword" and self.tok.text == "ORDER"
        if self.tok.kind != "end" and not at_order and not self._at_group_by():
            where = self.expr()
        group: list[GroupBy] = []
        if self._at_group_by():
            self.advance()
            self.advance()
            while True:
                name = self.expect("name", None, "a search attribute name to group by")
                group.append(GroupBy(name.text, name.pos))
                if not self.accept("op", ","):
                    break
        order: list[OrderBy] = []
        if self.accept("keyword", "ORDER"):
            self.expect("keyword", "BY", "BY after ORDER")
            while True:
                name = self.expect("name", None, "a search attribute name to order by")
                desc = False
                if self.accept("keyword", "DESC"):
                    desc = True
                else:
                    self.accept("keyword", "ASC")
                order.append(OrderBy(name.text, desc, name.pos))
                if not self.accept("op", ","):
                    break
        if self.tok.kind != "end":
            raise self.error("expected AND, OR, GROUP BY, ORDER BY or the end of the query")
        return Query(where, tuple(order), tuple(group))

    def expr(self) -> Expr:
        items = [self.and_expr()]
        while self.accept("keyword", "OR"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Expr:
        items = [self.primary()]
        while self.accept("keyword", "AND"):
            items.append(self.primary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def primary(self) -> Expr:
        if self.tok.kind == "op" and self.tok.text == "(":
            if self.depth >= MAX_DEPTH:
                raise self.error(f"parentheses nested deeper than {MAX_DEPTH}")
            self.advance()
            self.depth += 1
            inner = self.expr()
            self.expect("op", ")", "')'")
            self.depth -= 1
            return inner
        return self.predicate()

    def predicate(self) -> Comparison:
        if self.tok.kind != "name":
            raise self.error("expected a search attribute name")
        name = self.advance()
        attr, pos = name.text, name.pos
        t = self.tok
        if t.kind == "op" and t.text in ("=", "!=", ">", ">=", "<", "<="):
            self.advance()
            return Comparison(attr, t.text, (self.value(),), pos)  # type: ignore[arg-type]
        negated = self.accept("keyword", "NOT") is not None
        if self.accept("keyword", "IN"):
            self.expect("op", "(", "'(' after IN")
            values = [self.value()]
            while self.accept("op", ","):
                values.append(self.value())
                if len(values) > MAX_IN_VALUES:
                    raise self.error(f"IN takes at most {MAX_IN_VALUES} values")
            self.expect("op", ")", "')' or ',' in the IN list")
            return Comparison(attr, "not in" if negated else "in", tuple(values), pos)
        if self.accept("keyword", "BETWEEN"):
            low = self.value()
            self.expect("keyword", "AND", "AND between the BETWEEN bounds")
            high = self.value()
            return Comparison(attr, "not between" if negated else "between", (low, high), pos)
        if negated:
            raise self.error("expected IN or BETWEEN after NOT")
        if self.accept("keyword", "STARTS_WITH"):
            return Comparison(attr, "starts_with", (self.value(),), pos)
        if self.accept("keyword", "IS"):
            null_op: Op = "is not null" if self.accept("keyword", "NOT") else "is null"
            self.expect("keyword", "NULL", "NULL after IS")
            return Comparison(attr, null_op, (), pos)
        raise self.error(
            f"expected an operator after {attr!r} (=, !=, >, >=, <, <=, IN, BETWEEN, STARTS_WITH, IS NULL)"
        )

    def value(self) -> Value:
        t = self.tok
        if t.kind in ("string", "number"):
            self.advance()
            assert t.value is not None
            return t.value
        if t.kind == "keyword" and t.text in ("TRUE", "FALSE"):
            self.advance()
            return t.text == "TRUE"
        raise self.error("expected a value (a 'quoted string', a number, true or false)")


def parse(text: str) -> Query:
    """Parse a list filter; an empty or blank query lists everything."""
    return _Parser(tokenize(text)).query()
