"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

with smtp_server() as server:          # server.port, server.messages
    ...
server.refuse = "451 4.3.0 try later"  # answer RCPT with this instead of 250
"""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    # aiosmtpd's Controller cannot take port 0: it probes the port it is given
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message

    def body(self, subtype: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == f"text/{subtype}":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload.decode(part.get_content_charset() or "utf-8")
        raise AssertionError(f"no text/{subtype} part")


@dataclass
class Handler:
    messages: list[Received] = field(default_factory=list)
    refuse: str | None = None  # an SMTP reply to RCPT TO instead of 250

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else content.encode()
        self.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), email.message_from_bytes(raw))
        )
        return "250 Message accepted"


@dataclass
class SmtpServer:
    port: int
    handler: Handler

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    @property
    def refuse(self) -> str | None:
        return self.handler.refuse

    @refuse.setter
    def refuse(self, reply: str | None) -> None:
        self.handler.refuse = reply


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(port, handler)
    finally:
        controller.stop()
