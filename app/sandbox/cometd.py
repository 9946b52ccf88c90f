"""The sandbox org's Streaming API: Bayeux/CometD long polling at ``POST /cometd/{version}``.

Follows the wire-facts sheet §1 and §6: handshake (``ext.replay``), the
``BAYEUX_BROWSER`` session cookie, bearer auth, ``/meta/connect`` long polls that
answer with events first and then the connect reply, subscribe with the replay
extension (-1 tip, -2 all retained, N after N), unsubscribe, disconnect, the
40 s reconnect timeout, and the ``403::Unknown client`` and ``drop_connection``
fault switches (a dropped long poll loses no events: they are sent again).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import random
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from aiohttp import web

from revflow.sandbox.cometd_messages import (
    BROWSER_COOKIE,
    CONNECT_ADVICE,
    HANDSHAKE_ADVICE,
    MIN_API_VERSION,
    MULTI_CLIENT_ADVICE,
    NONE_ADVICE,
    REPLAY_INVALID,
    REPLAY_NOT_IN_MAP,
    Message,
    bayeux_error,
    bayeux_reply,
    event_message,
)
from revflow.sandbox.events import StoredEvent
from revflow.sandbox.org import SandboxOrg

SERVER_KEY: web.AppKey[CometdServer] = web.AppKey("cometd_server")


class _Dropped(Exception):
    """A long poll the ``drop_connection`` fault cuts off without a response."""


@dataclass
class _Client:
    client_id: str
    browser_id: str
    subs: dict[str, int] = field(default_factory=dict)  # channel -> last delivered replay id
    last_seen: float = 0.0
    polling: int = 0
    connected_once: bool = False
    poll_seq: int = 0
    poke: asyncio.Event = field(default_factory=asyncio.Event)

    def wake(self) -> None:
        self.poke.set()
        self.poke = asyncio.Event()


class CometdServer:
    """Bayeux server state for one sandbox org."""

    def __init__(
        self,
        org: SandboxOrg,
        *,
        reconnect_timeout_s: float = 40.0,
        max_batch: int = 1000,
        rng: random.Random | None = None,
    ) -> None:
        self.org = org
        self.reconnect_timeout_s = reconnect_timeout_s
        self.max_batch = max_batch
        self._rng = rng  # None: the org's seeded 'cometd' stream
        self.clients: dict[str, _Client] = {}
        self.closing = False
        self._encoded: dict[tuple[str, int], str] = {}

    @property
    def rng(self) -> random.Random:
        return self._rng or self.org.rng("cometd")

    def _roll(self, share: float) -> bool:
        return share > 0 and self.rng.random() < share

    # -- HTTP -----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info.get("version", "")
        try:
            raw = await self._read_body(request)
            batch = raw if isinstance(raw, list) else [raw]
            if not all(isinstance(m, dict) for m in batch):
                raise ValueError("not a Bayeux message")
        except ValueError:
            return self._json([{"successful": False, "error": "400::Malformed JSON"}], 400)
        if not self._version_ok(version):
            error = "400::API version in the URI is mandatory. URI: " + request.path
            return self._json([bayeux_error(m, error) for m in batch], 400)
        self._expire_idle()
        response = web.Response(content_type="application/json")
        try:
            replies = await self._process(request, batch, response)
        except _Dropped:
            if request.transport is not None:
                request.transport.abort()  # the client sees the connection reset
            return web.Response(status=503)  # never reaches the client
        response.text = "[" + ",".join(replies) + "]"
        return response

    @staticmethod
    async def _read_body(request: web.Request) -> Any:
        if request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            return json.loads(str(form.get("message", "")))
        return json.loads(await request.read())

    def _version_ok(self, version: str) -> bool:
        if not re.fullmatch(r"\d{2,3}\.0", version):
            return False
        newest = max(float(v) for v in self.org.api_versions)
        return MIN_API_VERSION <= float(version) <= newest

    @staticmethod
    def _json(body: Any, status: int = 200) -> web.Response:
        return web.json_response(body, status=status)

    # -- dispatch -------------------------------------------------------------

    async def _process(
        self, request: web.Request, batch: list[Message], response: web.Response
    ) -> list[str]:
        """Answer every message; connects last so subscribes in the batch count."""
        replies: list[list[str]] = [[] for _ in batch]
        auth = request.headers.get("Authorization")
        if not auth:
            error = "401::Request requires authentication"
            return [json.dumps(bayeux_error(m, error, NONE_ADVICE)) for m in batch]
        token_ok = self.org.session_for(auth) is not None
        browser = request.cookies.get(BROWSER_COOKIE)
        order = sorted(range(len(batch)), key=lambda i: batch[i].get("channel") == "/meta/connect")
        for i in order:
            msg = batch[i]
            channel = msg.get("channel")
            if channel == "/meta/handshake":
                reply, browser = self._handshake(msg, token_ok, browser, response)
                replies[i] = [json.dumps(reply)]
                continue
            client, failure = self._lookup(msg, token_ok, browser)
            if client is None:
                replies[i] = [json.dumps(failure)]
            elif channel == "/meta/connect":
                replies[i] = await self._connect(msg, client, hold=len(batch) == 1)
            elif channel == "/meta/subscribe":
                replies[i] = [json.dumps(self._subscribe(msg, client))]
            elif channel == "/meta/unsubscribe":
                client.subs.pop(str(msg.get("subscription")), None)
                replies[i] = [json.dumps(bayeux_reply(msg))]
            elif channel == "/meta/disconnect":
                self._drop(client)
                replies[i] = [json.dumps(bayeux_reply(msg))]
            else:
                replies[i] = [json.dumps(bayeux_error(msg, f"403::Publish denied {channel}"))]
            client_now = self.clients.get(str(msg.get("clientId")))
            if client_now is not None:
                client_now.last_seen = self._now()
        return [part for parts in replies for part in parts]

    def _handshake(
        self, msg: Message, token_ok: bool, browser: str | None, response: web.Response
    ) -> tuple[Message, str | None]:
        if not token_ok:
            ext = {"sfdc": {"failureReason": "401::Authentication invalid"}}
            return bayeux_error(msg, "403::Handshake denied", NONE_ADVICE) | {"ext": ext}, browser
        offered = msg.get("supportedConnectionTypes")
        if isinstance(offered, list) and "long-polling" not in offered:
            return bayeux_error(msg, "400::Invalid connection type"), browser
        if browser is None:
            browser = secrets.token_hex(16)
            response.set_cookie(BROWSER_COOKIE, browser, path="/cometd", httponly=True)
        client = _Client(client_id=secrets.token_urlsafe(18), browser_id=browser)
        client.last_seen = self._now()
        self.clients[client.client_id] = client
        reply = bayeux_reply(
            msg,
            version="1.0",
            minimumVersion="1.0",
            supportedConnectionTypes=["long-polling"],
            clientId=client.client_id,
            ext={"replay": True, "payload.format": True},
        )
        return reply, browser

    def _lookup(
        self, msg: Message, token_ok: bool, browser: str | None
    ) -> tuple[_Client | None, Message]:
        if not token_ok:
            return None, bayeux_error(msg, "401::Authentication invalid", NONE_ADVICE)
        client = self.clients.get(str(msg.get("clientId")))
        if client is None:
            return None, bayeux_error(msg, "403::Unknown client", HANDSHAKE_ADVICE)
        if browser != client.browser_id:
            error = (
                f"400::Client {client.client_id} has established a session, "
                f"but no {BROWSER_COOKIE} cookie present"
            )
            return None, bayeux_error(msg, error, NONE_ADVICE)
        if msg.get("channel") == "/meta/connect" and msg.get("connectionType") not in (
            None,
            "long-polling",
        ):
            return None, bayeux_error(msg, "400::Invalid connection type")
        return client, {}

    # -- subscribe ------------------------------------------------------------

    def _subscribe(self, msg: Message, client: _Client) -> Message:
        channel = msg.get("subscription")
        if not isinstance(channel, str) or not channel.startswith("/"):
            return bayeux_error(msg, "400::Channel subscriptions must start with a leading '/'")
        if not self.org.events.exists(channel):
            error = f"400::The channel you requested to subscribe to doesn't exist {{{channel}}}"
            return bayeux_error(msg, error)
        ext = msg.get("ext")
        replay_map = ext.get("replay") if isinstance(ext, dict) else None
        replay: Any = -1
        if isinstance(replay_map, dict):
            if channel not in replay_map:
                mapping = ", ".join(f"{k}={v}" for k, v in replay_map.items())
                return bayeux_error(msg, REPLAY_NOT_IN_MAP.format(channel=channel, mapping=mapping))
            replay = replay_map[channel]
        events = self.org.events
        if replay == -1 and not isinstance(replay, bool):
            cursor = events.tip(channel)
        elif replay == -2 and not isinstance(replay, bool):
            cursor = -1
        elif type(replay) is int and events.is_retained(channel, replay):
            cursor = replay
        else:
            return bayeux_error(msg, REPLAY_INVALID.format(rid=replay))
        client.subs[channel] = cursor
        client.wake()  # a held connect should deliver the backlog now
        return bayeux_reply(msg)

    # -- connect --------------------------------------------------------------

    async def _connect(self, msg: Message, client: _Client, *, hold: bool) -> list[str]:
        if self._roll(self.org.faults.unknown_client):
            self.org.note_fault("unknown_client")
            self._drop(client)
            return [json.dumps(bayeux_error(msg, "403::Unknown client", HANDSHAKE_ADVICE))]
        advice = CONNECT_ADVICE
        if any(
            c.polling and c.browser_id == client.browser_id and c is not client
            for c in self.clients.values()
        ):
            advice, hold = MULTI_CLIENT_ADVICE, False
        hold = hold and client.connected_once
        client.connected_once = True
        client.poll_seq += 1
        seq = client.poll_seq
        client.wake()  # an older held connect of this client returns now
        loop = asyncio.get_running_loop()
        held = self.org.faults.cometd_timeout_s if hold else 0.0
        drop = hold and self._roll(self.org.faults.drop_connection)
        if drop:
            held = self.rng.uniform(0.0, held)  # cut off part-way through the hold
        deadline = loop.time() + held
        client.polling += 1
        cursors: dict[str, int] = {}
        try:
            while True:
                cursors = dict(client.subs)
                batch = self._collect(client)
                remaining = deadline - loop.time()
                if batch or remaining <= 0 or self.closing or client.poll_seq != seq:
                    break
                if self.clients.get(client.client_id) is not client:
                    break
                await self._wait(client, remaining)
        finally:
            client.polling -= 1
            client.last_seen = self._now()
        if self.clients.get(client.client_id) is not client:
            return [json.dumps(bayeux_error(msg, "403::Unknown client", HANDSHAKE_ADVICE))]
        if drop:
            self._undeliver(client, batch, cursors)
            self.org.note_fault("drop_connection")
            raise _Dropped
        parts = [self._encode(e) for e in batch]
        parts.append(json.dumps(bayeux_reply(msg, advice=advice)))
        return parts

    def _collect(self, client: _Client) -> list[StoredEvent]:
        """Up to ``max_batch`` undelivered events across subscriptions, in replay order."""
        pages = [
            page
            for channel, cursor in client.subs.items()
            if (page := self.org.events.since(channel, cursor, self.max_batch))
        ]
        if not pages:
            return []
        if len(pages) == 1:
            batch = pages[0]
        else:
            merged: Iterable[StoredEvent] = heapq.merge(*pages, key=lambda e: e.replay_id)
            batch = list(islice(merged, self.max_batch))
        for event in batch:
            client.subs[event.channel] = event.replay_id
        return batch

    @staticmethod
    def _undeliver(client: _Client, batch: list[StoredEvent], cursors: dict[str, int]) -> None:
        """Rewind the cursors ``_collect`` advanced: the batch never reached the client."""
        for channel in {e.channel for e in batch}:
            if channel in client.subs and channel in cursors:
                client.subs[channel] = cursors[channel]

    async def _wait(self, client: _Client, seconds: float) -> None:
        waiters = {
            asyncio.ensure_future(self.org.events.wait(seconds)),
            asyncio.ensure_future(client.poke.wait()),
        }
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _encode(self, event: StoredEvent) -> str:
        key = (event.channel, event.replay_id)
        text = self._encoded.get(key)
        if text is None:
            if len(self._encoded) >= 20_000:
                self._encoded.clear()
            text = self._encoded[key] = json.dumps(event_message(event))
        return text

    # -- client lifecycle -----------------------------------------------------

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def _drop(self, client: _Client) -> None:
        self.clients.pop(client.client_id, None)
        client.wake()

    def _expire_idle(self) -> None:
        """Forget clients that did not reconnect within the reconnect timeout."""
        horizon = self._now() - self.reconnect_timeout_s
        for client in list(self.clients.values()):
            if not client.polling and client.last_seen < horizon:
                self._drop(client)

    async def shutdown(self, _app: web.Application | None = None) -> None:
        """Release held long polls so the server can stop promptly."""
        self.closing = True
        for client in list(self.clients.values()):
            client.wake()


def add_cometd_routes(
    app: web.Application,
    org: SandboxOrg,
    *,
    reconnect_timeout_s: float = 40.0,
    max_batch: int = 1000,
) -> CometdServer:
    """Mount the Streaming API at ``POST /cometd/{version}``; returns the server state."""
    server = CometdServer(org, reconnect_timeout_s=reconnect_timeout_s, max_batch=max_batch)
    app[SERVER_KEY] = server
    app.router.add_post("/cometd/{version}", server.handle)
    app.router.add_post("/cometd", server.handle)
    app.router.add_post("/cometd/", server.handle)
    app.on_shutdown.append(server.shutdown)
    return server
