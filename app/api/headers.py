"""Security headers on every answer, errors and middleware refusals included.

The console (next) is served from Revflow itself with its own script and style files
and no inline script, so the Content Security Policy allows only this origin:
``default-src 'self'`` and nothing inline, no plugins, no framing (``frame-ancestors
'none'``, and ``X-Frame-Options: DENY`` for older browsers), forms post only here.
Strict-Transport-Security is sent on answers over HTTPS (TLS in Revflow, or a trusted
proxy's ``X-Forwarded-Proto: https``), never over plain HTTP where it means nothing.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # answers name orders, plans and people: no shared or browser cache keeps them
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """ASGI middleware: ``HEADERS`` on every HTTP answer (a route's own value wins)."""

    def __init__(self, app: ASGIApp, hsts_max_age_s: int = 0) -> None:
        self.app = app
        self.hsts = f"max-age={hsts_max_age_s}; includeSubDomains" if hsts_max_age_s else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"  # after the trusted proxy's X-Forwarded-Proto

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if https and self.hsts:
                    headers.setdefault("Strict-Transport-Security", self.hsts)
            await send(message)

        await self.app(scope, receive, with_headers)
