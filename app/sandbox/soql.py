"""A SOQL subset: parse, check against the schema, evaluate over a ``RecordStore``.

Supported: ``SELECT`` fields, relationship paths (``Account.Name``), parent-to-child
subqueries, ``COUNT()``, ``FROM`` one type, ``WHERE`` (AND/OR/NOT, parentheses,
``= != <> < > <= >=``, ``[NOT] IN``, ``LIKE``; string/number/boolean/null/date/
datetime literals and TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n),
``ORDER BY ... ASC|DESC [NULLS FIRST|LAST]``, ``LIMIT``, ``OFFSET``.

The syntax (tokens, parser) is in ``soql_syntax``, evaluation in ``soql_eval``; this
module resolves a parsed query against the schema and runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from revflow.sandbox.ids import is_valid_id, to18
from revflow.sandbox.records import RecordStore
from revflow.sandbox.schema import SOBJECTS, Field, SfError, SObjectType, sobject
from revflow.sandbox.soql_eval import rows, shape
from revflow.sandbox.soql_syntax import (
    BoolOp,
    Compare,
    FieldPath,
    Parser,
    Query,
    Token,
    query_error,
)

Lacks = Callable[[str, str], bool]  # (sobject, field) -> the org has no such field
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


def parse(text: str, lacks: Lacks | None = None, tooling: bool = False) -> Query:
    """Parse and resolve a query (raises SfError MALFORMED_QUERY / INVALID_FIELD / ...).

    ``lacks(sobject, field)`` names fields the org does not have (see ``SandboxOrg``);
    ``tooling``: a Tooling API query, which knows the tooling objects alone."""
    query = Parser(text).parse()
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
    found = rows(store, q, include_deleted=include_deleted)
    if q.count:
        return {"totalSize": len(found), "done": True, "records": []}
    records = [shape(store, q, r, version) for r in found]
    return {"totalSize": len(records), "done": True, "records": records}
