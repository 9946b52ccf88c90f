"""The email channel against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from revflow.alerts.channels.base import Channel, Recipient, RecipientKind
from revflow.alerts.channels.email import EmailChannel
from revflow.alerts.errors import PermanentDeliveryError, RetryableDeliveryError
from revflow.alerts.message import AlertMessage, EventKind, Severity
from revflow.alerts.settings import EmailChannelSettings
from tests.alerts.smtpkit import SmtpServer, free_port

MESSAGE = AlertMessage(
    alert_id=7,
    rule="step-fallout",
    kind=EventKind.STEP_FALLOUT,
    severity=Severity.ERROR,
    title="Step create_sales_order failed on order 00000123",
    summary="Step create_sales_order of plan 42 failed and will not be retried.",
    created_at=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
    order_id="8015e00000Q7mNpAAJ",
    order_number="00000123",
    account="Acme <GmbH>",
    error_class="FatalError",
    error_message="customer 42 is blocked",
    plan_id=42,
    plan_url="https://revflow.example.com/console/plans/42",
    ack_url="https://revflow.example.com/api/alerts/ack?token=7.1.x",
    step="create_sales_order",
)
ADA = Recipient(RecipientKind.OWNER, "Ada", email="ada@example.com", salesforce_user_id="005x")


def channel(port: int, **kw: Any) -> EmailChannel:
    return EmailChannel(
        EmailChannelSettings(host="127.0.0.1", port=port, sender="revflow@example.com", **kw)
    )


async def test_sends_text_and_html_saying_what_which_order_why_and_the_link(smtp: SmtpServer):
    email = channel(smtp.port)
    assert isinstance(email, Channel)
    await email.send(MESSAGE, ADA)
    [got] = smtp.messages
    assert got.rcpt_tos == ["ada@example.com"]
    assert got.mail_from == "revflow@example.com"
    assert got.message["Subject"] == (
        "[Revflow error] Step create_sales_order failed on order 00000123"
    )
    text, html = got.body("plain"), got.body("html")
    for body in (text, html):
        assert "00000123" in body
        assert "customer 42 is blocked" in body
        assert "https://revflow.example.com/console/plans/42" in body
        assert "https://revflow.example.com/api/alerts/ack?token=7.1.x" in body
    assert "Why: FatalError: customer 42 is blocked" in text
    assert "Acme &lt;GmbH&gt;" in html and "<GmbH>" not in html  # escaped


async def test_a_4xx_reply_is_retryable_and_a_5xx_reply_permanent(smtp: SmtpServer):
    email = channel(smtp.port)
    smtp.refuse = "451 4.3.0 mailbox busy"
    with pytest.raises(RetryableDeliveryError, match="451"):
        await email.send(MESSAGE, ADA)
    smtp.refuse = "550 5.1.1 no such user"
    with pytest.raises(PermanentDeliveryError, match="550"):
        await email.send(MESSAGE, ADA)
    assert smtp.messages == []


async def test_no_server_listening_is_retryable():
    with pytest.raises(RetryableDeliveryError, match="SMTP"):
        await channel(free_port(), timeout_s=5).send(MESSAGE, ADA)


async def test_a_recipient_without_email_or_no_host_is_permanent(smtp: SmtpServer):
    nobody = Recipient(RecipientKind.TEAM, "ops")
    with pytest.raises(PermanentDeliveryError, match="ops has no email"):
        await channel(smtp.port).send(MESSAGE, nobody)
    with pytest.raises(PermanentDeliveryError, match="HOST"):
        await EmailChannel(EmailChannelSettings()).send(MESSAGE, ADA)


async def test_starttls_required_against_a_server_without_it_is_retryable(smtp: SmtpServer):
    # a misconfigured relay fails loudly, and the message waits for the fix
    with pytest.raises(RetryableDeliveryError, match="STARTTLS"):
        await channel(smtp.port, starttls=True).send(MESSAGE, ADA)
