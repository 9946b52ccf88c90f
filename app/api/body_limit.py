"""Refuse request bodies over ``api_max_body_bytes`` before anything parses them.

A declared ``Content-Length`` over the limit is answered 413 at once, unread.  A body
without one (chunked) is counted as it streams in; once it passes the limit the read
raises a 413 ``HTTPException``, which the API turns into the same answer.
"""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from revflow.metrics import API_BODIES_REFUSED

log = logging.getLogger(__name__)


def _too_large(limit: int) -> str:
    return f"request body is larger than {limit} bytes (REVFLOW_API_MAX_BODY_BYTES)"


class BodyLimit:
    """ASGI middleware: at most ``max_bytes`` of request body per request."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            self._refused(scope, int(declared))
            body = json.dumps({"detail": _too_large(self.max_bytes)}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    self._refused(scope, seen)
                    raise HTTPException(413, _too_large(self.max_bytes))
            return message

        await self.app(scope, counted, send)

    def _refused(self, scope: Scope, size: int) -> None:
        API_BODIES_REFUSED.inc()
        log.warning(
            "request body refused as too large",
            extra={"path": scope.get("path"), "bytes": size, "limit": self.max_bytes},
        )
