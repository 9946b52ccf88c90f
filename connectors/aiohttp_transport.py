"""An httpx transport over aiohttp's connection pool, for connectors that own their client.

httpx's own pool (httpcore) walks every pooled connection, checking each for expiry
through anyio, on every request and on every response close: with dozens of callouts
in flight that walk was the largest share of a webhook callout's CPU.  aiohttp keeps
idle connections per host in a queue and parses HTTP in C.

What httpx users rely on is kept: httpx still builds the request and reads the
response (headers, content decoding, ``Response.request``), redirects are not
followed, TLS uses httpx's default context (certifi, ``SSL_CERT_FILE``), idle
connections are reused for ``keepalive_s`` (httpx's 5 s), and aiohttp's failures are
raised as the httpx exceptions ``revflow.connectors.http_errors`` classifies: nothing
sent (connect refused or timed out, no pool slot in time, proxy refused) versus maybe
sent (read timeout, connection dropped).  Proxies are not read from the environment:
``client_for`` keeps httpx's own transport when a proxy variable is set.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import httpx

__all__ = ["AiohttpTransport", "client_for", "env_proxy_set"]

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy")
_OURS = frozenset({"host"})  # aiohttp writes Host from the URL itself
_V11 = aiohttp.HttpVersion11
_HTTP_VERSIONS = {aiohttp.HttpVersion10: b"HTTP/1.0", _V11: b"HTTP/1.1"}


def env_proxy_set() -> bool:
    """True when the environment names a proxy that httpx would use (any case)."""
    return any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARS)


def _seconds(value: Any) -> float | None:
    return float(value) if value is not None else None


class AiohttpTransport(httpx.AsyncBaseTransport):
    """``handle_async_request`` through one ``aiohttp.ClientSession`` (made on first use)."""

    def __init__(self, *, max_connections: int = 100, keepalive_s: float = 5.0) -> None:
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            keepalive_timeout=self.keepalive_s,
            ssl=httpx.create_ssl_context(),
        )
        # httpx decodes the body (Content-Encoding) and sets every header it sends,
        # cookies included: aiohttp adds nothing of its own
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None or session.closed:
            session = self._session = self._open()
        limits = request.extensions.get("timeout", {})
        connect, pool = _seconds(limits.get("connect")), _seconds(limits.get("pool"))
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's connect covers waiting for a pool slot and connecting
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=_seconds(limits.get("read")),
        )
        headers = [(k, v) for k, v in request.headers.multi_items() if k not in _OURS]
        body = await request.aread()
        try:
            async with session.request(
                request.method,
                str(request.url),
                data=body or None,
                headers=headers,
                allow_redirects=False,
                timeout=timeout,
            ) as answer:
                content = await answer.read()
                return httpx.Response(
                    answer.status,
                    headers=answer.raw_headers,
                    content=content,
                    request=request,
                    extensions={
                        "http_version": _HTTP_VERSIONS.get(answer.version or _V11, b"HTTP/1.1"),
                        "reason_phrase": (answer.reason or "").encode(),
                    },
                )
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc, request) from exc
        except TimeoutError as exc:  # not an aiohttp.ClientError: a read timeout
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _as_httpx(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception for an aiohttp failure: was anything sent?"""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(text, request=request)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # pool slot or connect: not sent
        return httpx.ConnectTimeout(text, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: not sent
        return httpx.ConnectError(text, request=request)
    if isinstance(exc, aiohttp.SocketTimeoutError | aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(text, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(text, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(text, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed answer
        return httpx.RemoteProtocolError(text, request=request)
    return httpx.ReadError(text, request=request)  # reset or broken after sending


def client_for(max_connections: int = 100) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` over ``AiohttpTransport``; httpx's own when a proxy is set."""
    if env_proxy_set():
        return httpx.AsyncClient(limits=httpx.Limits(max_connections=max_connections))
    return httpx.AsyncClient(transport=AiohttpTransport(max_connections=max_connections))
