"""A SOQL subset: parse, check against the schema, evaluate over a ``RecordStore``.

Supported: ``SELECT`` fields, relationship paths (``Account.Name``), parent-to-child
subqueries, ``COUNT()``, ``FROM`` one type, ``WHERE`` (AND/OR/NOT, parentheses,
``= != <> < > <= >=``, ``[NOT] IN``, ``LIKE``; string/number/boolean/null/date/
datetime literals and TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n),
``ORDER BY ... ASC|DESC [NULLS FIRST|LAST]``, ``LIMIT``, ``OFFSET``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from revflow.sandbox.ids import is_valid_id, to18
from revflow.sandbox.records import RecordStore, parse_datetime, record_attributes, rest_value
from revflow.sandbox.schema import SOBJECTS, Field, SfError, SObjectType, sobject

Lacks = Callable[[str, str], bool]  # (sobject, field) -> the org has no such field

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
_NO_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom "
    "field, be sure to append the '__c' after the custom field name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)
_NO_RELATION = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a "
    "custom relationship, be sure to append the '__r' after the custom relationship name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)


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


class _Parser:
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


# ---- resolution against the schema ------------------------------------------------
class _Resolver:
    def __init__(self, text: str, lacks: Lacks | None = None) -> None:
        self.text = text
        self.lacks = lacks or (lambda _t, _f: False)

    def query(self, q: Query, t: SObjectType) -> None:
        q.type = t
        for item in q.fields:
            if isinstance(item, Query):
                self.subquery(item, t)
            else:
                self.path(item, t)
        if q.where is not None:
            self.condition(q.where, t)
        for path, _, _ in q.order:
            self.path(path, t)

    def subquery(self, sub: Query, parent: SObjectType) -> None:
        found = parent.child(sub.sobject)
        if found is None:
            raise query_error(
                self.text,
                sub.pos,
                f"Didn't understand relationship '{sub.sobject}' in FROM part of query call. If "
                "you are attempting to use a custom relationship, be sure to append the '__r' "
                "after the custom relationship name. Please reference your WSDL or the describe "
                "call for the appropriate names.",
                "INVALID_TYPE",
            )
        rel, (child_type, fk) = found
        sub.sobject = rel
        sub.child_fk = fk
        self.query(sub, SOBJECTS[child_type])

    def path(self, p: FieldPath, t: SObjectType) -> None:
        current = t
        steps: list[Field] = []
        for name in p.names[:-1]:
            ref = current.relationship(name)
            if (
                ref is None
                or ref.reference_to not in SOBJECTS
                or self.lacks(current.name, ref.name)
            ):
                raise query_error(self.text, p.pos, _NO_RELATION.format(name=name), "INVALID_FIELD")
            steps.append(ref)
            current = SOBJECTS[ref.reference_to or ""]
        last = current.field(p.names[-1])
        if last is None or self.lacks(current.name, last.name):
            raise query_error(
                self.text,
                p.pos,
                _NO_COLUMN.format(name=p.names[-1], entity=current.name),
                "INVALID_FIELD",
            )
        p.steps, p.owner = [*steps, last], current

    def condition(self, cond: Any, t: SObjectType) -> None:
        if isinstance(cond, BoolOp):
            for part in cond.parts:
                self.condition(part, t)
            return
        self.path(cond.path, t)
        f = cond.path.steps[-1]
        for tok in cond.values:
            self.check_value(cond, f, tok)

    def check_value(self, cond: Compare, f: Field, tok: Token) -> None:
        def bad(kind: str, quoted: bool) -> SfError:
            hint = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
            return query_error(
                self.text,
                tok.pos,
                f"value of filter criterion for field '{f.name}' must be of type {kind} and {hint}",
                "INVALID_QUERY_FILTER_OPERATOR",
            )

        if tok.kind == "literal" and tok.value is None:
            if cond.op not in ("=", "!=", "IN", "NOTIN"):
                raise bad(f.type, False)
            return
        if cond.op == "LIKE" and f.type not in (
            "string",
            "textarea",
            "url",
            "picklist",
            "id",
            "reference",
        ):
            raise query_error(
                self.text,
                cond.path.pos,
                f"invalid operator on field {f.name}",
                "INVALID_QUERY_FILTER_OPERATOR",
            )
        if f.type in ("id", "reference"):
            if tok.kind != "string":
                raise bad("id", True)
            if cond.op != "LIKE":
                if not is_valid_id(tok.value):
                    raise query_error(
                        self.text,
                        tok.pos,
                        f"invalid ID field: {tok.value}",
                        "INVALID_QUERY_FILTER_OPERATOR",
                    )
                tok.value = to18(tok.value)
        elif f.type in ("string", "textarea", "url", "picklist"):
            if tok.kind != "string":
                raise bad("string", True)
        elif f.type in ("double", "currency", "percent"):
            if tok.kind != "number":
                raise bad("double", False)
        elif f.type == "boolean":
            if tok.kind != "literal":
                raise bad("boolean", False)
        elif f.type == "date":
            if tok.kind not in ("date", "daterange"):
                raise bad("date", False)
        elif f.type == "datetime":
            if tok.kind not in ("datetime", "daterange"):
                raise bad("dateTime", False)
        else:
            raise query_error(
                self.text, cond.path.pos, f"field '{f.name}' can not be filtered", "INVALID_FIELD"
            )


# ---- evaluation -------------------------------------------------------------------
def _follow(store: RecordStore, record: dict[str, Any] | None, path: FieldPath) -> Any:
    """The value at a resolved path (None if a parent is missing)."""
    for ref in path.steps[:-1]:
        if record is None:
            return None
        parent_id = record.get(ref.name)
        record = store.table(ref.reference_to or "").get(parent_id) if parent_id else None
        if record is not None and record.get("IsDeleted"):
            record = None
    if record is None or path.owner is None:
        return None
    return rest_value(path.owner, path.steps[-1].name, record)


def _today() -> date:
    return datetime.now(UTC).date()


def _typed(f: Field, value: Any) -> Any:
    if value is None:
        return None
    if f.type == "datetime":
        return parse_datetime(value)
    if f.type == "date":
        return date.fromisoformat(value)
    if f.type in ("string", "textarea", "url", "picklist"):
        return str(value).casefold()
    return value


def _literal(f: Field, tok: Token) -> Any:
    if tok.kind == "string" and f.type not in ("id", "reference"):
        return tok.value.casefold()
    return tok.value


def _compare(f: Field, actual: Any, op: str, tok: Token) -> bool:
    if tok.kind == "daterange":
        lo_days, hi_days = tok.value
        lo_d, hi_d = _today() + timedelta(lo_days), _today() + timedelta(hi_days)
        if actual is None:
            return op == "!="
        lo: Any = lo_d
        hi: Any = hi_d
        if f.type == "datetime":
            lo = datetime(lo_d.year, lo_d.month, lo_d.day, tzinfo=UTC)
            hi = datetime(hi_d.year, hi_d.month, hi_d.day, tzinfo=UTC)
        inside = lo <= actual < hi
        return {
            "=": inside,
            "!=": not inside,
            "<": actual < lo,
            "<=": actual < hi,
            ">": actual >= hi,
            ">=": actual >= lo,
        }[op]
    expected = _literal(f, tok)
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    if actual is None or expected is None:
        return False
    if op == "LIKE":
        return re.fullmatch(tok.like or "", str(actual), re.IGNORECASE | re.DOTALL) is not None
    return {
        "<": actual < expected,
        ">": actual > expected,
        "<=": actual <= expected,
        ">=": actual >= expected,
    }[op]


def _matches(store: RecordStore, record: dict[str, Any], cond: Any) -> bool:
    if isinstance(cond, BoolOp):
        if cond.op == "AND":
            return all(_matches(store, record, c) for c in cond.parts)
        if cond.op == "OR":
            return any(_matches(store, record, c) for c in cond.parts)
        return not _matches(store, record, cond.parts[0])
    f = cond.path.steps[-1]
    actual = _typed(f, _follow(store, record, cond.path))
    if cond.op in ("IN", "NOTIN"):
        if cond.members is None and all(tok.kind != "daterange" for tok in cond.values):
            cond.members = frozenset(_literal(f, tok) for tok in cond.values)
        if cond.members is not None:  # what comparing each with '=' answers, in O(1)
            hit = actual in cond.members
        else:
            hit = any(_compare(f, actual, "=", tok) for tok in cond.values)
        return hit if cond.op == "IN" else not hit
    return _compare(f, actual, cond.op, cond.values[0])


def _sort(store: RecordStore, rows: list[dict[str, Any]], q: Query) -> list[dict[str, Any]]:
    if not q.order:
        return sorted(rows, key=lambda r: r["Id"])

    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for path, desc, nulls_first in q.order:
            f = path.steps[-1]
            va, vb = _typed(f, _follow(store, a, path)), _typed(f, _follow(store, b, path))
            if va == vb:
                continue
            if va is None or vb is None:
                return (-1 if va is None else 1) * (1 if nulls_first else -1)
            result = -1 if va < vb else 1
            return -result if desc else result
        return 0

    return sorted(rows, key=functools.cmp_to_key(cmp))


def _shape(store: RecordStore, q: Query, record: dict[str, Any], version: str) -> dict[str, Any]:
    assert q.type is not None
    out: dict[str, Any] = {"attributes": record_attributes(q.type.name, record["Id"], version)}
    for item in q.fields:
        if isinstance(item, Query):
            children = _rows(store, item, parent_id=record["Id"])
            shaped = [_shape(store, item, c, version) for c in children]
            out[item.sobject] = (
                {"totalSize": len(shaped), "done": True, "records": shaped} if shaped else None
            )
            continue
        target = out
        current: dict[str, Any] | None = record
        for ref in item.steps[:-1]:
            rel = ref.relationship_name or ""
            parent_id = current.get(ref.name) if current else None
            parent = store.table(ref.reference_to or "").get(parent_id) if parent_id else None
            if parent is None or parent.get("IsDeleted"):
                target[rel] = None
                break
            if not isinstance(target.get(rel), dict):
                target[rel] = {
                    "attributes": record_attributes(ref.reference_to or "", parent["Id"], version)
                }
            target, current = target[rel], parent
        else:
            assert item.owner is not None and current is not None
            target[item.steps[-1].name] = rest_value(item.owner, item.steps[-1].name, current)
    return out


def _id_keys(cond: Any) -> list[Any] | None:
    """The ids a condition limits rows to (``Id = x``, ``Id IN (...)``, either ANDed
    with anything), or None when it does not: the rows then come from a scan."""
    if isinstance(cond, Compare):
        steps = cond.path.steps
        if cond.op in ("=", "IN") and len(steps) == 1 and steps[0].name == "Id":
            return [tok.value for tok in cond.values]
        return None
    if isinstance(cond, BoolOp) and cond.op == "AND":
        for part in cond.parts:
            keys = _id_keys(part)
            if keys is not None:
                return keys
    return None


def _candidates(store: RecordStore, q: Query, parent_id: str | None) -> Any:
    """A superset of the rows ``q`` selects, in table order, without a scan when an
    index answers: a subquery's children by parent, ``Id`` by the table's own key."""
    assert q.type is not None
    if parent_id is not None:
        return store.org.indexes.children(q.type.name, q.child_fk or "", parent_id)
    table = store.table(q.type.name)
    keys = _id_keys(q.where)
    if keys is None:
        return table.values()
    # ids increase as records are created, so Id order is the table's order
    found = {k: table[k] for k in keys if isinstance(k, str) and k in table}
    return [found[k] for k in sorted(found)]


def _rows(
    store: RecordStore, q: Query, parent_id: str | None = None, include_deleted: bool = False
) -> list[dict[str, Any]]:
    assert q.type is not None
    rows = [
        r
        for r in _candidates(store, q, parent_id)
        if (include_deleted or not r.get("IsDeleted"))
        and (q.where is None or _matches(store, r, q.where))
    ]
    rows = _sort(store, rows, q)[q.offset :]
    return rows if q.limit is None else rows[: q.limit]


def parse(text: str, lacks: Lacks | None = None, tooling: bool = False) -> Query:
    """Parse and resolve a query (raises SfError MALFORMED_QUERY / INVALID_FIELD / ...).

    ``lacks(sobject, field)`` names fields the org does not have (see ``SandboxOrg``);
    ``tooling``: a Tooling API query, which knows the tooling objects alone."""
    query = _Parser(text).parse()
    t = sobject(query.sobject)
    if t is None or t.tooling != tooling:
        raise query_error(
            text,
            query.pos,
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
            "INVALID_TYPE",
        )
    _Resolver(text, lacks).query(query, t)
    return query


def run_query(
    store: RecordStore,
    text: str,
    version: str = "62.0",
    include_deleted: bool = False,
    tooling: bool = False,
) -> dict[str, Any]:
    """Evaluate a query; the REST result shape with every record (no paging)."""
    q = parse(text, store.org.lacks, tooling)
    rows = _rows(store, q, include_deleted=include_deleted)
    if q.count:
        return {"totalSize": len(rows), "done": True, "records": []}
    records = [_shape(store, q, r, version) for r in rows]
    return {"totalSize": len(records), "done": True, "records": records}
