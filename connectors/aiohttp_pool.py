"""POSTs over aiohttp's connection pool, for a connector that owns its pool (the webhook).

httpx's own pool (httpcore) walks every pooled connection, checking each for expiry
through anyio, on every request and on every response close, and httpx builds a
Request, merges cookies and headers and wraps the answer around that: measured with
32 callouts in flight, the httpx path cost about 1.4 ms of CPU per callout.  aiohttp
keeps idle connections per host in a queue and parses HTTP in C.

``AiohttpPool.post`` keeps what the webhook connector promises: redirects are not
followed, TLS uses httpx's default context (certifi, ``SSL_CERT_FILE``), idle
connections are reused for ``keepalive_s`` (httpx's 5 s), at most ``max_connections``
are open to the host, compressed answers are decoded, and failures are raised as the
httpx exceptions ``revflow.connectors.http_errors`` classifies: nothing sent (connect
refused or timed out, no pool slot in time, proxy refused) versus maybe sent (read or
write timeout, connection dropped).  Proxies are not read from the environment:
``direct_pool`` answers None when a proxy variable is set, and the connector keeps httpx.

httpx's ``timeout=t`` bounds four waits; here each maps to:

- pool (a free connection) and connect: ``ClientTimeout(connect=2t, sock_connect=t)``,
  aiohttp's ``connect`` covering the pool wait and the connect together;
- read: ``sock_read=t``, the wait for each piece of the answer;
- write: aiohttp has none (a peer that stops reading stalls the send for ever), so a
  body over ``WRITE_CHUNK`` is sent in chunks (``PacedBody``) and each must leave
  within ``t``, else the connection is dropped and ``httpx.WriteTimeout`` raised (maybe
  sent).  A smaller body never waits on the socket: aiohttp hands it over whole and
  the read timeout runs from there, as httpx's does once its write returns.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import httpx
from aiohttp.abc import AbstractStreamWriter

__all__ = ["WRITE_CHUNK", "AiohttpPool", "Answer", "PacedBody", "direct_pool", "env_proxy_set"]

# aiohttp waits for the socket to drain only once this much is unsent (its write limit)
WRITE_CHUNK = 64 * 1024

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy")
_DECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def env_proxy_set() -> bool:
    """True when the environment names a proxy that httpx would use (any case)."""
    return any(os.environ.get(v) or os.environ.get(v.upper()) for v in _PROXY_VARS)


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, its body read and decoded."""

    status: int
    headers: list[tuple[bytes, bytes]]
    content: bytes
    reason: str

    def as_httpx(self, method: str, url: str) -> httpx.Response:
        """The answer as an ``httpx.Response`` (for the shared error classification)."""
        # the body is already decoded: httpx must not decode it again
        kept = [(k, v) for k, v in self.headers if k.decode().lower() not in _DECODED]
        return httpx.Response(
            self.status,
            headers=kept,
            content=self.content,
            request=httpx.Request(method, url),
            extensions={"reason_phrase": self.reason.encode()},
        )


class AiohttpPool:
    """One ``aiohttp.ClientSession`` (made on first use, in the running loop)."""

    def __init__(self, *, max_connections: int = 100, keepalive_s: float = 5.0) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections}")
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            limit_per_host=self.max_connections,
            keepalive_timeout=self.keepalive_s,
            ssl=httpx.create_ssl_context(),
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # a webhook keeps no cookies
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """As httpx's ``timeout=seconds``: pool wait, connect, each read."""
        found = self._timeouts.get(seconds)
        if found is None:
            found = aiohttp.ClientTimeout(
                total=None,
                connect=2 * seconds,  # aiohttp's connect covers the pool wait and the connect
                sock_connect=seconds,
                sock_read=seconds,
            )
            if len(self._timeouts) < 64:  # a handful of distinct timeouts in practice
                self._timeouts[seconds] = found
        return found

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> Answer:
        session = self._session
        if session is None or session.closed:
            session = self._session = self._open()
        data = body if len(body) <= WRITE_CHUNK else PacedBody(body, timeout_s)
        try:
            async with session.post(
                url,
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout(timeout_s),
            ) as answer:
                content = await answer.read()
                return Answer(answer.status, list(answer.raw_headers), content, answer.reason or "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            if isinstance(data, PacedBody) and data.stalled:  # maybe sent
                raise httpx.WriteTimeout(f"send stalled for {timeout_s} s") from exc
            if isinstance(exc, aiohttp.ClientError):
                raise as_httpx(exc) from exc
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc  # not a ClientError

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class PacedBody(aiohttp.BytesPayload):
    """A large body sent in chunks, each within ``seconds`` (httpx's write timeout)."""

    def __init__(self, body: bytes, seconds: float) -> None:
        super().__init__(body)
        self.seconds = seconds
        self.stalled = False

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        view = memoryview(self._value)[:content_length]
        for start in range(0, len(view), WRITE_CHUNK):
            try:
                async with asyncio.timeout(self.seconds):
                    await writer.write(view[start : start + WRITE_CHUNK])
            except TimeoutError:
                self.stalled = True
                # close() would keep the socket until the peer reads what is queued
                transport = getattr(writer, "transport", None)
                if transport is not None:
                    transport.abort()
                raise


def as_httpx(exc: aiohttp.ClientError) -> httpx.TransportError:
    """The httpx exception for an aiohttp failure: was anything sent?"""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(text)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # pool slot or connect: not sent
        return httpx.ConnectTimeout(text)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: not sent
        return httpx.ConnectError(text)
    if isinstance(exc, aiohttp.SocketTimeoutError | aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(text)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):  # our URL is wrong
        return httpx.UnsupportedProtocol(text)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(text)
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed answer
        return httpx.RemoteProtocolError(text)
    return httpx.ReadError(text)  # reset or broken after sending


def direct_pool(max_connections: int = 100) -> AiohttpPool | None:
    """A pool for direct POSTs, or None when a proxy is set (httpx then reads it)."""
    return None if env_proxy_set() else AiohttpPool(max_connections=max_connections)
