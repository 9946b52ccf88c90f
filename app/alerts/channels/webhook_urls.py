"""Which incoming-webhook URL a Slack or Teams alert goes to."""

from __future__ import annotations

from pydantic import SecretStr

from revflow.alerts.channels.base import Recipient
from revflow.alerts.errors import PermanentDeliveryError


def webhook_url(
    channel: str, default: SecretStr | None, named: dict[str, SecretStr], recipient: Recipient
) -> str:
    """The recipient's named webhook (``address``) if it has one, else the default URL."""
    if recipient.address:
        url = named.get(recipient.address)
        if url is None:
            raise PermanentDeliveryError(
                f"{channel}: no webhook named {recipient.address!r} "
                f"(REVFLOW_ALERTS__{channel.upper()}__WEBHOOKS)"
            )
        return url.get_secret_value()
    if default is None or not default.get_secret_value():
        raise PermanentDeliveryError(
            f"{channel}: no webhook URL configured (REVFLOW_ALERTS__{channel.upper()}__WEBHOOK_URL)"
        )
    return default.get_secret_value()
