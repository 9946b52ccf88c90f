"""SOQL's syntax: tokens, the parsed query's shape and the parser (see ``soql``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from revflow.sandbox.schema import Field, SfError, SObjectType
from revflow.sandbox.shapes import parse_datetime

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),.:])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_DATE_FUNCS = {"TODAY": (0, 1), "YESTERDAY": (-1, 0), "TOMORROW": (1, 2)}


@dataclass
class Token:
    kind: str
    text: str
    pos: int
    value: Any = None
    like: str | None = None  # regex for LIKE patterns


@dataclass
class FieldPath:
    names: list[str]
    pos: int
    steps: list[Field] = field(default_factory=list)  # resolved references, then the field
    owner: SObjectType | None = None  # type that holds the final field


@dataclass
class Compare:
    path: FieldPath
    op: str  # = != < > <= >= IN NOTIN LIKE
    values: list[Token]
    members: frozenset[Any] | None = None  # [NOT] IN's literals, once resolved (no ranges)


@dataclass
class BoolOp:
    op: str  # AND / OR / NOT
    parts: list[Any]


@dataclass
class Query:
    sobject: str
    fields: list[FieldPath | Query]
    pos: int
    count: bool = False
    where: Any = None
    order: list[tuple[FieldPath, bool, bool]] = field(default_factory=list)  # path, desc, nulls1st
    limit: int | None = None
    offset: int = 0
    type: SObjectType | None = None
    child_fk: str | None = None  # for subqueries: the child's reference to the parent


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.i = 0

    def error(self, pos: int, message: str, code: str = "MALFORMED_QUERY") -> SfError:
        return query_error(self.text, pos, message, code)

    def _tokenize(self, text: str) -> list[Token]:
        tokens: list[Token] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if not m:
                raise self.error(pos, f"unexpected token: '{text[pos]}'")
            kind = m.lastgroup or ""
            if kind != "ws":
                tokens.append(self._literal(Token(kind, m.group(), pos)))
            pos = m.end()
        tokens.append(Token("eof", "<EOF>", len(text)))
        return tokens

    def _literal(self, tok: Token) -> Token:
        if tok.kind == "string":
            value, like, i, raw = "", "", 1, tok.text
            while i < len(raw) - 1:
                char = raw[i]
                if char == "\\":
                    nxt = raw[i + 1]
                    if nxt in "%_":
                        value, like = value + nxt, like + re.escape(nxt)
                    elif nxt in _ESCAPES:
                        value += _ESCAPES[nxt]
                        like += re.escape(_ESCAPES[nxt])
                    else:
                        raise self.error(tok.pos + i, f"Invalid string literal {raw}")
                    i += 2
                    continue
                value += char
                like += ".*" if char == "%" else "." if char == "_" else re.escape(char)
                i += 1
            tok.value, tok.like = value, like
        elif tok.kind == "number":
            tok.value = float(tok.text)
        elif tok.kind == "datetime":
            try:
                tok.value = parse_datetime(tok.text)
            except ValueError:
                raise self.error(tok.pos, f"line 1:{tok.pos} no viable alternative") from None
        elif tok.kind == "date":
            try:
                tok.value = date.fromisoformat(tok.text)
            except ValueError:
                raise self.error(tok.pos, f"unexpected token: '{tok.text}'") from None
        return tok

    # -- token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.upper() in words

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.unexpected()
        return self.take()

    def expect(self, text: str) -> Token:
        if self.tok.text != text:
            raise self.unexpected()
        return self.take()

    def unexpected(self) -> SfError:
        return self.error(self.tok.pos, f"unexpected token: '{self.tok.text}'")

    # -- grammar
    def parse(self) -> Query:
        query = self.query(sub=False)
        if self.tok.kind != "eof":
            raise self.unexpected()
        return query

    def query(self, sub: bool) -> Query:
        start = self.expect_kw("SELECT").pos
        fields: list[FieldPath | Query] = []
        count = False
        while True:
            if self.is_kw("COUNT") and self.tokens[self.i + 1].text == "(" and not sub:
                self.i += 2
                self.expect(")")
                count = True
            elif self.tok.text == "(" and not sub:
                self.take()
                fields.append(self.query(sub=True))
                self.expect(")")
            else:
                fields.append(self.path())
            if self.tok.text != ",":
                break
            self.take()
        if count and fields:
            raise self.error(start, "COUNT() may not be combined with other fields")
        self.expect_kw("FROM")
        if self.tok.kind != "ident":
            raise self.unexpected()
        name = self.take()
        query = Query(name.text, fields, name.pos, count=count)
        if self.is_kw("WHERE"):
            self.take()
            query.where = self.disjunction()
        if self.is_kw("ORDER"):
            self.take()
            self.expect_kw("BY")
            query.order = self.order_list()
        if self.is_kw("LIMIT"):
            self.take()
            query.limit = self.integer()
        if self.is_kw("OFFSET"):
            self.take()
            query.offset = self.integer()
        return query

    def integer(self) -> int:
        tok = self.take()
        if tok.kind != "number" or not tok.text.isdigit():
            self.i -= 1
            raise self.unexpected()
        return int(tok.text)

    def path(self) -> FieldPath:
        if self.tok.kind != "ident":
            raise self.unexpected()
        first = self.take()
        names = [first.text]
        while self.tok.text == ".":
            self.take()
            if self.tok.kind != "ident":
                raise self.unexpected()
            names.append(self.take().text)
        return FieldPath(names, first.pos)

    def order_list(self) -> list[tuple[FieldPath, bool, bool]]:
        out = []
        while True:
            path = self.path()
            desc = False
            if self.is_kw("ASC", "DESC"):
                desc = self.take().text.upper() == "DESC"
            nulls_first = not desc
            if self.is_kw("NULLS"):
                self.take()
                if not self.is_kw("FIRST", "LAST"):
                    raise self.unexpected()
                nulls_first = self.take().text.upper() == "FIRST"
            out.append((path, desc, nulls_first))
            if self.tok.text != ",":
                return out
            self.take()

    def disjunction(self) -> Any:
        parts = [self.conjunction()]
        while self.is_kw("OR"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else BoolOp("OR", parts)

    def conjunction(self) -> Any:
        parts = [self.negation()]
        while self.is_kw("AND"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else BoolOp("AND", parts)

    def negation(self) -> Any:
        if self.is_kw("NOT"):
            self.take()
            return BoolOp("NOT", [self.negation()])
        if self.tok.text == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Compare:
        path = self.path()
        if self.tok.kind == "op":
            op = self.take().text
            return Compare(path, "!=" if op == "<>" else op, [self.value()])
        if self.is_kw("LIKE"):
            self.take()
            value = self.value()
            if value.kind != "string":
                raise self.error(value.pos, f"unexpected token: '{value.text}'")
            return Compare(path, "LIKE", [value])
        op = "IN"
        if self.is_kw("NOT"):
            self.take()
            op = "NOTIN"
        if self.is_kw("IN"):
            self.take()
            self.expect("(")
            values = [self.value()]
            while self.tok.text == ",":
                self.take()
                values.append(self.value())
            self.expect(")")
            return Compare(path, op, values)
        raise self.unexpected()

    def value(self) -> Token:
        tok = self.tok
        if tok.kind in ("string", "number", "date", "datetime"):
            return self.take()
        if tok.kind == "ident":
            word = tok.text.upper()
            if word in ("TRUE", "FALSE", "NULL"):
                self.take()
                tok.kind, tok.value = "literal", {"TRUE": True, "FALSE": False, "NULL": None}[word]
                return tok
            if word in _DATE_FUNCS:
                self.take()
                lo, hi = _DATE_FUNCS[word]
                tok.kind, tok.value = "daterange", (lo, hi)
                return tok
            if word in ("LAST_N_DAYS", "NEXT_N_DAYS"):
                self.take()
                self.expect(":")
                n = self.integer()
                tok.kind = "daterange"
                tok.value = (-n, 1) if word == "LAST_N_DAYS" else (1, n + 1)
                return tok
        raise self.unexpected()


def query_error(text: str, pos: int, message: str, code: str = "MALFORMED_QUERY") -> SfError:
    """An error message in Salesforce's style, pointing at the offending column."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    return SfError(
        code, f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{message}"
    )
