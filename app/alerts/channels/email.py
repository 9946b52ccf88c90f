"""The email channel: one message per recipient over SMTP (aiosmtplib).

Plain text and HTML alternatives, both saying what happened, to which order, why,
and linking to the plan.  SMTP replies decide what happens next (RFC 5321): a 4xx
reply or a network error is retryable, a 5xx reply is permanent.
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from revflow.alerts.channels.base import Recipient
from revflow.alerts.errors import PermanentDeliveryError, RetryableDeliveryError
from revflow.alerts.message import AlertMessage
from revflow.alerts.settings import EmailChannelSettings


class EmailChannel:
    name = "email"

    def __init__(self, settings: EmailChannelSettings) -> None:
        self.settings = settings

    async def send(self, message: AlertMessage, recipient: Recipient) -> None:
        if not self.settings.configured:
            raise PermanentDeliveryError("email is not configured (REVFLOW_ALERTS__EMAIL__HOST)")
        if not recipient.email:
            raise PermanentDeliveryError(f"{recipient.name} has no email address")
        mail = render(message, self.settings.sender, recipient.email)
        s = self.settings
        try:
            await aiosmtplib.send(
                mail,
                hostname=s.host,
                port=s.port,
                username=s.username or None,
                password=s.password.get_secret_value() if s.password else None,
                start_tls=s.starttls,
                use_tls=s.implicit_tls,
                timeout=s.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            _raise_for(min(codes) if codes else 550, f"recipient refused: {exc.recipients[0]}")
        except aiosmtplib.SMTPResponseException as exc:
            _raise_for(exc.code, f"SMTP {exc.code}: {exc.message}")
        except (aiosmtplib.SMTPException, OSError) as exc:  # connect, timeout, disconnect
            raise RetryableDeliveryError(f"SMTP {type(exc).__name__}: {exc}") from exc


def _raise_for(code: int, text: str) -> None:
    if 400 <= code < 500:
        raise RetryableDeliveryError(text)
    raise PermanentDeliveryError(text)


def subject(message: AlertMessage) -> str:
    return f"[Revflow {message.severity.value}] {message.title}"


def render(message: AlertMessage, sender: str, to: str) -> EmailMessage:
    """The email for ``message``: text/plain and text/html alternatives."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject(message)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain="revflow")
    mail["X-Revflow-Alert"] = str(message.alert_id)
    mail.set_content("\n".join(message.lines()) + "\n")
    mail.add_alternative(render_html(message), subtype="html")
    return mail


def render_html(message: AlertMessage) -> str:
    e = html.escape
    rows = []
    if message.order_label:
        rows.append(("Order", message.order_label))
    if message.account:
        rows.append(("Account", message.account))
    if message.step:
        rows.append(("Step", message.step))
    if message.why():
        rows.append(("Why", message.why()))
    rows += list(message.facts)
    if message.occurrences > 1:
        rows.append(("Seen", f"{message.occurrences} times"))
    rows.append(("Severity", message.severity.value))
    table = "".join(f'<tr><th align="left">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in rows)
    links = []
    if message.plan_url:
        links.append(f'<a href="{e(message.plan_url)}">Open the plan</a>')
    if message.ack_url:
        links.append(f'<a href="{e(message.ack_url)}">Acknowledge</a>')
    return (
        "<!doctype html><html><body>"
        f"<h2>{e(message.title)}</h2><p>{e(message.summary)}</p>"
        f"<table>{table}</table>"
        f"<p>{' &middot; '.join(links)}</p>"
        f"<p><small>Rule {e(message.rule)} &middot; alert {message.alert_id}</small></p>"
        "</body></html>"
    )
