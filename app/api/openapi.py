"""Bad requests and the OpenAPI document: what the API answers is what it documents.

FastAPI validates path, query and body against the declared parameters and models.
Revflow answers a malformed URL (a path or query parameter) with 400 and a body of
the wrong shape with 422, both as ``Problem`` (``{"detail": "where: what"}``), not
FastAPI's list of errors.  ``document`` rewrites the generated OpenAPI document to
say so, and adds the answers routes give because of what runs before them: 413 for a
body over the limit (``BodyLimit``), 429 past the per-identity rate limit on every
route that needs an identity (``revflow.security.ratelimit``).  ``tests/api/
test_openapi.py`` holds the API to it with schemathesis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

URL_PARTS = {"path", "query", "header", "cookie"}
PROBLEM_REF = "#/components/schemas/Problem"
FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# answered by middleware before any route runs; documented on every operation
TOO_LARGE = "request body larger than REVFLOW_API_MAX_BODY_BYTES"
TOO_MANY = "too many requests from this identity; `Retry-After` says when to try again"


def problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": PROBLEM_REF}}},
    }


async def invalid_request(_req: Request, exc: RequestValidationError) -> JSONResponse:
    """400 for a bad path or query parameter, 422 for a bad body; the first error named.

    A parameter's value is quoted (shortened) in the message; a body's never is (it may
    hold customer data or a secret).
    """
    first = exc.errors()[0] if exc.errors() else {}
    loc = tuple(first.get("loc", ()))
    where = ".".join(str(p) for p in loc)
    msg = first.get("msg", "invalid request")
    if loc[:1] and loc[0] in URL_PARTS:
        value = first.get("input")
        quoted = f"{str(value)[:40]!r} is not valid: " if isinstance(value, str) else ""
        return JSONResponse({"detail": f"{where}: {quoted}{msg}"}, 400)
    return JSONResponse({"detail": f"{where}: {msg}"}, 422)


def document(api: FastAPI, *, rate_limited: bool) -> dict[str, Any]:
    """The OpenAPI document of ``api`` with the answers it really gives."""
    if api.openapi_schema is None:
        doc = get_openapi(
            title=api.title,
            version=api.version,
            summary=api.summary,
            description=api.description,
            routes=api.routes,
        )
        for op in _operations(doc):
            _fix_answers(op, rate_limited=rate_limited and "security" in op)
        schemas = doc.get("components", {}).get("schemas", {})
        for name in FASTAPI_ERRORS:
            schemas.pop(name, None)
        api.openapi_schema = doc
    return api.openapi_schema


def _operations(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in doc.get("paths", {}).values():
        for method, op in item.items():
            if method in METHODS:
                yield op


def _fix_answers(op: dict[str, Any], *, rate_limited: bool) -> None:
    answers: dict[str, Any] = op.setdefault("responses", {})
    has_params = any(p.get("in") in URL_PARTS for p in op.get("parameters", []))
    has_body = "requestBody" in op
    generated = answers.get("422", {})
    if FASTAPI_ERRORS[0] in str(generated):
        del answers["422"]
    if has_params:
        answers.setdefault("400", problem("a path or query parameter is not valid"))
    if has_body:
        answers.setdefault("400", problem("the body cannot be parsed (not JSON, not UTF-8)"))
        answers.setdefault("422", problem("the body is not of the documented shape"))
        answers.setdefault("413", problem(TOO_LARGE))
    if rate_limited:
        answers.setdefault("429", problem(TOO_MANY))
    for status, answer in answers.items():
        _problems_are_json(status, answer)


def _problems_are_json(status: str, answer: dict[str, Any]) -> None:
    """An error is always ``Problem`` as JSON, also where the route's own answer is not
    (FastAPI gives ``/metrics``' 401 its ``text/plain``)."""
    content = answer.get("content", {})
    if not status.startswith(("4", "5")) or "application/json" in content:
        return
    if any(PROBLEM_REF in str(media) for media in content.values()):
        answer["content"] = {"application/json": {"schema": {"$ref": PROBLEM_REF}}}
