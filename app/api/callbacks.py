"""Inbound ERP callbacks: ``POST /api/callbacks/{source}``, signed as Standard Webhooks.

An ERP reports what happened to an order (shipped, delivered, invoice paid, ...)::

    POST /api/callbacks/sap
    webhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W
    webhook-timestamp: 1735689600
    webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=

    {"type": "shipped", "correlation_key": "SO-4711", "data": {"tracking": "1Z..."}}

The signature is checked against ``callbacks.secrets`` (or ``callbacks.source_secrets
[source]``) and the timestamp must be within ``callbacks.tolerance_s`` of now.  The
callback is stored as a ``Signal(source="callback", name=type)`` with the
``webhook-id`` as its dedupe key; a plan step waiting on ``correlation_key`` picks it up.

Answers: 202 ``{"status": "accepted", "signal_id": n}``; 200 ``{"status": "duplicate"}``
for a ``webhook-id`` seen before (the sender may stop retrying); 401 bad or stale
signature; 400 unreadable body; 413 body too large; 422 body of the wrong shape;
503 callbacks not configured or the database unavailable.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from revflow.api.schemas import Problem
from revflow.config import CallbackSettings
from revflow.connectors.signing import SignatureError, verify
from revflow.db.database import Database
from revflow.ingest.callbacks import Callback, record_callback
from revflow.metrics import CALLBACKS_REJECTED

__all__ = ["CallbackIn", "callbacks_router"]

log = logging.getLogger(__name__)

SOURCE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,31}$")
# declared in the OpenAPI document; FastAPI answers 400 for another name
Source = Annotated[str, Path(pattern=SOURCE.pattern, examples=["netsuite"])]
MAX_KEY = 200  # Signal.dedupe_key / correlation_key / name column widths


class CallbackIn(BaseModel):
    """The body of a callback; fields other than these are ignored."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(min_length=1, max_length=MAX_KEY, pattern=r"^[A-Za-z0-9_.:\-]+$")
    correlation_key: str = Field(min_length=1, max_length=MAX_KEY)
    data: dict[str, Any] = Field(default_factory=dict)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _rejected(source: str, reason: str, status: int, detail: str, request: Request) -> JSONResponse:
    """Count and log a refused callback (never its body: it may hold customer data)."""
    CALLBACKS_REJECTED.labels(source=source, reason=reason).inc()
    log.warning(
        "callback rejected",
        extra={
            "source": source,
            "reason": reason,
            "status": status,
            "detail": detail,
            "webhook_id": request.headers.get("webhook-id", "")[:MAX_KEY],
            "content_length": request.headers.get("content-length"),
            "client": request.client.host if request.client else None,
        },
    )
    return _problem(status, detail)


def _signature_reason(exc: SignatureError) -> str:
    text = str(exc)
    if "too old" in text or "too new" in text:
        return "stale"
    return "missing_headers" if text.startswith("missing") else "signature"


def callbacks_router(db: Database, settings: CallbackSettings | None = None) -> APIRouter:
    cfg = settings or CallbackSettings()
    router = APIRouter(tags=["callbacks"])

    @router.post(
        "/api/callbacks/{source}",
        status_code=202,
        responses={
            200: {"description": "a delivery with this webhook-id was already recorded"},
            400: {"model": Problem},
            401: {"model": Problem},
            413: {"model": Problem},
            422: {"model": Problem},
            503: {"model": Problem},
        },
    )
    async def receive_callback(source: Source, request: Request) -> JSONResponse:
        """Record a signed ERP callback as a signal for the plan step waiting on its key."""
        secrets = cfg.secrets_for(source)
        if not secrets:
            detail = f"no callback secrets configured for source {source!r}"
            return _rejected(source, "unconfigured", 503, detail, request)

        body = await _read_body(request, cfg.max_body_bytes)
        if body is None:
            detail = f"body is larger than {cfg.max_body_bytes} bytes"
            return _rejected(source, "oversized", 413, detail, request)
        try:
            webhook_id = verify(body, request.headers, secrets, tolerance_s=cfg.tolerance_s)
        except SignatureError as exc:
            reason = _signature_reason(exc)
            return _rejected(source, reason, 401, f"signature rejected: {exc}", request)
        if len(webhook_id) > MAX_KEY:
            detail = f"webhook-id is longer than {MAX_KEY} characters"
            return _rejected(source, "webhook_id", 400, detail, request)

        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _rejected(source, "unreadable", 400, f"body is not JSON: {exc}", request)
        if not isinstance(raw, dict):
            return _rejected(source, "unreadable", 400, "body must be a JSON object", request)
        try:
            parsed = CallbackIn.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "body"
            detail = f"{where}: {first.get('msg', 'invalid')}"
            return _rejected(source, "invalid", 422, detail, request)

        callback = Callback(
            webhook_id=webhook_id,
            source=source,
            type=parsed.type,
            correlation_key=parsed.correlation_key,
            data=parsed.data,
        )
        try:
            async with db.write() as s:
                signal_id = await record_callback(s, callback)
        except SQLAlchemyError as exc:
            log.warning("callback %s from %s not stored: %r", webhook_id, source, exc)
            return _problem(503, f"database unavailable: {type(exc).__name__}")
        if signal_id is None:
            log.info("callback %s from %s is a duplicate", webhook_id, source)
            return JSONResponse({"status": "duplicate", "webhook_id": webhook_id}, 200)
        log.info(
            "callback %s from %s: %s for %s",
            webhook_id,
            source,
            callback.type,
            callback.correlation_key,
        )
        return JSONResponse(
            {"status": "accepted", "webhook_id": webhook_id, "signal_id": signal_id}, 202
        )

    return router


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or ``None`` once it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
