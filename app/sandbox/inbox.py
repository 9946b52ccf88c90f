"""Where the demo's alerts land: Slack- and Teams-style incoming webhooks, and an SMTP sink.

``ChatInbox`` answers as the real services do: ``POST /slack/<name>`` is ``200 ok`` for
a JSON body with ``text`` or ``blocks`` (else ``400 no_text`` / ``400
invalid_payload``, Slack's answers); ``POST /teams/<name>`` is ``202`` for the
documented Adaptive Card envelope (else ``400``).  ``GET /_inbox/messages`` lists what
arrived.  ``MailSink`` is an aiosmtpd server on a loopback port keeping every message
(aiosmtpd comes with the dev extra; without it the demo sends no email).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web

CARD = "application/vnd.microsoft.card.adaptive"


@dataclass
class Posted:
    service: str  # slack | teams
    hook: str  # the webhook's name in the URL
    body: Any


@dataclass
class ChatInbox:
    posts: list[Posted] = field(default_factory=list)

    def of(self, service: str, hook: str | None = None) -> list[Posted]:
        return [p for p in self.posts if p.service == service and (hook is None or p.hook == hook)]

    async def slack(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return web.Response(status=400, text="no_text")
        self.posts.append(Posted("slack", request.match_info["name"], body))
        return web.Response(text="ok")

    async def teams(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.Response(status=400, text="body is not JSON")
        attachments = body.get("attachments") if isinstance(body, dict) else None
        if (
            body.get("type") != "message"
            or not isinstance(attachments, list)
            or not attachments
            or not all(isinstance(a, dict) and a.get("contentType") == CARD for a in attachments)
        ):
            return web.Response(status=400, text="expected a message with Adaptive Cards")
        self.posts.append(Posted("teams", request.match_info["name"], body))
        return web.Response(status=202)

    async def messages(self, request: web.Request) -> web.Response:
        return web.json_response([p.__dict__ for p in self.posts])

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/slack/{name}", self.slack)
        app.router.add_post("/teams/{name}", self.teams)
        app.router.add_get("/_inbox/messages", self.messages)
        return app


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message


class _Keeper:
    def __init__(self, mails: list[Mail]) -> None:
        self.mails = mails

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        mail = Mail(envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(raw))
        self.mails.append(mail)
        return "250 Message accepted for delivery"


class MailSink:
    """An SMTP server on 127.0.0.1 that keeps what it receives (``mails``)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller  # the dev extra

        self.mails: list[Mail] = []
        self.port = _free_port()  # aiosmtpd probes the port it is given: not 0
        self._controller = Controller(_Keeper(self.mails), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def mail_sink_available() -> bool:
    try:
        import aiosmtpd.controller  # noqa: F401
    except ImportError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
