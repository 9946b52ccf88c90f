"""Revflow's Streaming API (CometD) source, built on aiosfstream-ng.

* ``TokenAuthenticator`` plugs any OAuth flow (JWT bearer, client credentials) in
  through an async ``fetch_token()`` that returns the token response JSON.
* ``CometdSource`` subscribes to channels and yields raw Bayeux event messages.
  Every (re)subscribe, including the automatic ones after a ``403::Unknown client``
  re-handshake, starts right after the replay id Revflow last recorded durably
  (``get_replay``); the library itself never stores a replay id.
* An expired/invalid stored replay id never silently becomes the tip: by default
  ``messages()`` raises ``ReplayIdExpired``; with a fallback policy it resubscribes
  with -2 (or -1) and first yields a *replay gap* marker (see ``replay_gap``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from http import HTTPStatus
from types import TracebackType
from typing import Any

import aiohttp
from aiocometd_ng.constants import MetaChannel, TransportState
from aiocometd_ng.typing import Headers, JsonObject, Payload
from aiocometd_ng.utils import get_error_code
from aiosfstream_ng import Client, ReplayMarkerStoragePolicy
from aiosfstream_ng.auth import AuthenticatorBase
from aiosfstream_ng.exceptions import ClientInvalidOperation, ServerError
from aiosfstream_ng.replay import ReplayMarker, ReplayMarkerStorage, ReplayOption

from revflow.ingest.errors import ReplayIdExpired

LOGGER = logging.getLogger(__name__)

FetchToken = Callable[[], Awaitable[dict[str, Any]]]
GetReplay = Callable[[str], Awaitable[int | None]]
REPLAY_GAP_KEY = "revflow.replayGap"


class TokenRequestFailed(Exception):
    """Raised by a ``fetch_token`` callable when the token endpoint refused."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


class ReplayFallback(Enum):
    """What to do when the stored replay id is rejected."""

    RAISE = "raise"  # raise ReplayIdExpired from messages(); the caller decides
    ALL_EVENTS = ReplayOption.ALL_EVENTS  # resubscribe with -2 (caller must de-duplicate)
    NEW_EVENTS = ReplayOption.NEW_EVENTS  # resubscribe with -1 (caller must reconcile)


@dataclass(frozen=True)
class ReplayGap:
    """A marker: events after ``replay_id`` on ``channel`` may have been lost."""

    channel: str
    replay_id: int | None
    fallback: int
    error: str


def replay_gap(message: dict[str, Any]) -> ReplayGap | None:
    """The ``ReplayGap`` carried by a marker message from ``messages()``, else None."""
    gap = message.get(REPLAY_GAP_KEY)
    return gap if isinstance(gap, ReplayGap) else None


def is_replay_rejection(message: JsonObject) -> bool:
    """True for a failed ``/meta/subscribe`` reply that rejects the replay id."""
    error = str(message.get("error") or "")
    return (
        message.get("channel") == MetaChannel.SUBSCRIBE
        and not message.get("successful", True)
        and error.startswith("400:")
        and "replayId" in error
    )


class TokenAuthenticator(AuthenticatorBase):
    """Authenticates with whatever OAuth flow ``fetch_token`` implements."""

    def __init__(self, fetch_token: FetchToken) -> None:
        super().__init__()
        self._fetch_token = fetch_token

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._fetch_token!r})"

    async def _authenticate(self) -> tuple[int, JsonObject]:
        try:
            token = dict(await self._fetch_token())
        except TokenRequestFailed as failure:
            return failure.status, failure.body
        token.setdefault("token_type", "Bearer")
        return HTTPStatus.OK, token


class _DurableReplay(ReplayMarkerStorage):
    """Replay storage that reads Revflow's durable replay ids and never writes."""

    def __init__(self, get_replay: GetReplay, default: int) -> None:
        super().__init__()
        self._get_replay = get_replay
        self._default = default
        self.fallbacks: dict[str, tuple[int | None, int]] = {}  # channel -> (rejected, use)
        self.sent: dict[str, int] = {}
        self.failures: deque[JsonObject] = deque()  # failed subscribe replies
        self.wakeup = asyncio.Event()
        self.on_handshake: Callable[[], None] | None = None

    async def stored(self, channel: str) -> int | None:
        """The replay id Revflow last recorded durably for ``channel``."""
        return await self._get_replay(channel)

    async def get_replay_marker(self, subscription: str) -> ReplayMarker | None:
        replay_id = await self._get_replay(subscription)
        return None if replay_id is None else ReplayMarker(date="", replay_id=replay_id)

    async def set_replay_marker(self, subscription: str, replay_marker: ReplayMarker) -> None:
        """No-op: Revflow records replay ids in its own database transaction."""

    async def get_replay_id(self, subscription: str) -> int:
        stored = await self._get_replay(subscription)
        fallback = self.fallbacks.get(subscription)
        if fallback is not None:
            if stored == fallback[0]:
                replay_id = fallback[1]  # still the rejected id: keep using the fallback
            else:
                del self.fallbacks[subscription]
                replay_id = self._default if stored is None else stored
        else:
            replay_id = self._default if stored is None else stored
        self.sent[subscription] = replay_id
        return replay_id

    async def incoming(self, payload: Payload, headers: Headers | None = None) -> None:
        # aiocometd drops a subscription silently when a resubscribe (sent with the
        # connect after a re-handshake) fails: notice it here for messages().
        for message in payload:
            channel = message.get("channel")
            failed = not message.get("successful", True)
            if channel == MetaChannel.HANDSHAKE and not failed and self.on_handshake:
                self.on_handshake()
            # 401/403 end in a re-handshake, and on_handshake restores the channels
            elif (
                channel == MetaChannel.SUBSCRIBE
                and failed
                and get_error_code(message.get("error")) not in (401, 403)
            ):
                self.failures.append(message)
                self.wakeup.set()


class _Client(Client):
    """aiosfstream client with a configurable API version and an IP-safe cookie jar."""

    def __init__(self, authenticator: AuthenticatorBase, api_version: str, **kwargs: Any) -> None:
        super().__init__(authenticator, **kwargs)
        self.api_version = api_version

    def get_cometd_url(self, instance_url: str) -> str:  # type: ignore[override]
        return f"{instance_url.rstrip('/')}/cometd/{self.api_version}"

    async def _get_http_session(self) -> aiohttp.ClientSession:
        # the default jar drops cookies from IP hosts (127.0.0.1); BAYEUX_BROWSER is required
        if self._http_session is None:
            self._http_session = aiohttp.ClientSession(
                json_serialize=self._json_dumps, cookie_jar=aiohttp.CookieJar(unsafe=True)
            )
        return self._http_session

    async def close(self) -> None:
        # aiocometd's done-callback re-raises the CancelledError of the long poll it
        # cancels on close, which asyncio logs as an error: detach it first
        transport = getattr(self, "_transport", None)
        task = getattr(transport, "_connect_task", None)
        if task is not None and not task.done():
            task.remove_done_callback(transport._connect_done)  # type: ignore[union-attr]
        await super().close()

    async def _wait_connection_timeout(self, timeout: int | float) -> None:  # noqa: ASYNC109
        # aiocometd-ng passes loop= to asyncio.wait_for, a TypeError on Python >= 3.10
        assert self._transport is not None
        while True:
            await self._transport.wait_for_state(TransportState.CONNECTING)
            try:
                await asyncio.wait_for(
                    self._transport.wait_for_state(TransportState.CONNECTED), timeout
                )
            except TimeoutError:
                break


class CometdSource:
    """Subscribes to Streaming API channels and yields raw Bayeux event messages."""

    def __init__(
        self,
        authenticator: AuthenticatorBase,
        api_version: str,
        channels: list[str],
        get_replay: GetReplay,
        replay_fallback: ReplayFallback = ReplayFallback.RAISE,
        *,
        default_replay: int = ReplayOption.NEW_EVENTS,
        connection_timeout: float = 30.0,
        max_pending_count: int = 1000,
    ) -> None:
        self.authenticator = authenticator
        self.api_version = api_version
        self.channels = list(channels)
        self.replay_fallback = replay_fallback
        self._storage = _DurableReplay(get_replay, int(default_replay))
        self._connection_timeout = connection_timeout
        self._max_pending_count = max_pending_count
        self._client: _Client | None = None
        self._markers: deque[dict[str, Any]] = deque()
        self._subscribed = False

    @property
    def client(self) -> Client | None:
        """The underlying aiosfstream client while open."""
        return self._client

    @property
    def client_id(self) -> str | None:
        """The Bayeux clientId of the current session (changes on re-handshake)."""
        transport = getattr(self._client, "_transport", None)
        return getattr(transport, "client_id", None)

    async def open(self) -> None:
        """Authenticate, handshake and subscribe to every channel."""
        if self._client is not None:
            raise ClientInvalidOperation("CometdSource is already open")
        client = _Client(
            self.authenticator,
            self.api_version,
            replay=self._storage,
            replay_fallback=None,
            replay_storage_policy=ReplayMarkerStoragePolicy.MANUAL,
            connection_timeout=self._connection_timeout,
            max_pending_count=self._max_pending_count,
        )
        self._client = client
        self._subscribed = False
        self._storage.on_handshake = self._restore_subscriptions
        try:
            await client.open()
            for channel in self.channels:
                await self._subscribe(channel)
            self._subscribed = True
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def __aenter__(self) -> CometdSource:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Yield event messages (and replay-gap markers) until the source closes.

        Raises ``ReplayIdExpired`` under ``ReplayFallback.RAISE``; aiosfstream's
        ``ServerError``/``TransportTimeoutError`` when the server ends the session
        (e.g. ``401::Authentication invalid``) or stays unreachable.
        """
        receiving: asyncio.Future[JsonObject] | None = None
        try:
            while (client := self._client) is not None:
                if self._storage.failures:
                    await self._handle_failure(self._storage.failures.popleft())
                if self._markers:
                    yield self._markers.popleft()
                    continue
                if receiving is None and client.pending_count:
                    yield await client.receive()  # fast path, no extra tasks
                    continue
                receiving = receiving or asyncio.ensure_future(client.receive())
                self._storage.wakeup.clear()
                woken = asyncio.ensure_future(self._storage.wakeup.wait())
                try:
                    waiters: set[asyncio.Future[Any]] = {receiving, woken}
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    woken.cancel()
                if receiving.done():
                    done, receiving = receiving, None
                    try:
                        message = done.result()
                    except ClientInvalidOperation:
                        return  # closed and drained
                    yield message
        finally:
            if receiving is not None:
                receiving.cancel()

    async def _subscribe(self, channel: str) -> None:
        assert self._client is not None
        try:
            await self._client.subscribe(channel)
        except ServerError as error:
            failures = self._storage.failures
            self._storage.failures = deque(f for f in failures if f.get("subscription") != channel)
            await self._handle_failure(error.response or {"subscription": channel})

    def _restore_subscriptions(self) -> None:
        """After a re-handshake make sure every channel is resubscribed with the connect."""
        if self._client is not None and self._subscribed:
            self._client.subscriptions.update(self.channels)

    async def _handle_failure(self, response: JsonObject) -> None:
        channel = str(response.get("subscription"))
        if not is_replay_rejection(response):
            raise ServerError("Subscribe request failed.", response)
        error = str(response.get("error"))
        rejected = self._storage.sent.get(channel)
        if self.replay_fallback is ReplayFallback.RAISE:
            raise ReplayIdExpired(channel, rejected, error)
        fallback = int(self.replay_fallback.value)
        LOGGER.warning(
            "replay id %s for %s rejected; resubscribing with %s", rejected, channel, fallback
        )
        stored = await self._storage.stored(channel)
        self._storage.fallbacks[channel] = (stored, fallback)
        gap = ReplayGap(channel=channel, replay_id=rejected, fallback=fallback, error=error)
        self._markers.append({"channel": channel, REPLAY_GAP_KEY: gap})
        assert self._client is not None
        await self._client.subscribe(channel)
