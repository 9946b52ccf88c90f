"""The Composite resource: subrequests in one transaction, ``@{ref.path}`` references."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import RecordStore
from revflow.sandbox.rest_base import NOT_FOUND, Ctx, Reply, error_reply
from revflow.sandbox.schema import SfError

MAX_COMPOSITE = 25
HALTED = "The transaction was rolled back since another operation in the same transaction failed."
_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")
Dispatch = Callable[[Ctx, str, str, Mapping[str, str], Any], Reply]


class Composite:
    """Runs a composite request's subrequests through the API's ``dispatch``."""

    def __init__(self, org: SandboxOrg, store: RecordStore, dispatch: Dispatch) -> None:
        self.org = org
        self.store = store
        self.dispatch = dispatch

    def composite(self, ctx: Ctx, q: Mapping[str, str], body: Any, *_: Any) -> Reply:
        subs = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subs, list) or not subs:
            raise SfError("JSON_PARSER_ERROR", "compositeRequest is required")
        if len(subs) > MAX_COMPOSITE:
            raise SfError(
                "LIMIT_EXCEEDED", f"Composite API supports at most {MAX_COMPOSITE} subrequests"
            )
        all_or_none = bool(body.get("allOrNone", False))
        done: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        halted = False
        for sub in subs:
            ref = str(sub.get("referenceId", "")) if isinstance(sub, dict) else ""
            if halted:
                out.append(_halted(ref))
                continue
            reply = self._subrequest(ctx, sub, done)
            out.append(
                {
                    "body": reply.body,
                    "httpHeaders": reply.headers or {},
                    "httpStatusCode": reply.status,
                    "referenceId": ref,
                }
            )
            if reply.status < 400:
                done[ref] = reply.body
            elif all_or_none:
                halted = True
                self.store.rollback_to(ctx.txn, (0, 0))
                out = [_halted(o["referenceId"]) if o is not out[-1] else o for o in out]
        return Reply(200, {"compositeResponse": out})

    def _subrequest(self, ctx: Ctx, sub: Any, done: dict[str, Any]) -> Reply:
        if not isinstance(sub, dict) or not {"method", "url", "referenceId"} <= sub.keys():
            return error_reply(SfError("INVALID_INPUT", "method, url and referenceId are required"))
        try:
            url = _substitute(sub["url"], done)
            body = _substitute(sub.get("body"), done)
        except KeyError as exc:
            return Reply(400, [{"errorCode": "PROCESSING_HALTED", "message": str(exc.args[0])}])
        parts = urlsplit(str(url))
        m = re.fullmatch(r"/services/data/v(?P<version>[\d.]+)(?P<path>/.*)?", parts.path)
        if m is None or m["version"] not in self.org.api_versions:
            return error_reply(NOT_FOUND)
        path = m["path"] or "/"
        if re.fullmatch(r"/composite/?", path):
            return error_reply(SfError("INVALID_INPUT", "Composite requests cannot be nested"))
        sub_ctx = Ctx(m["version"], ctx.session, ctx.txn, ctx.batch_size)
        return self.dispatch(
            sub_ctx, str(sub["method"]).upper(), path, dict(parse_qsl(parts.query)), body
        )


def _halted(ref: str) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": HALTED}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": ref,
    }


def _lookup(done: dict[str, Any], ref: str, path: str) -> Any:
    if ref not in done:
        raise KeyError
    value = done[ref]
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def _substitute(value: Any, done: dict[str, Any]) -> Any:
    """Replace ``@{ref.path}`` references with earlier subrequests' results."""
    if isinstance(value, dict):
        return {k: _substitute(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, done) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value

    def resolve(m: re.Match[str]) -> Any:
        try:
            return _lookup(done, m[1], m[2])
        except (KeyError, IndexError, TypeError, ValueError):
            raise KeyError(
                f"Invalid reference specified. No value for {m[2]} found in {m[1]}. "
                f"Provided {m[0]} as referenceId."
            ) from None

    whole = _REF_RE.fullmatch(value)
    if whole:
        return resolve(whole)
    return _REF_RE.sub(lambda m: str(resolve(m)), value)
