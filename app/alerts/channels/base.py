"""The shape every alert channel has, and who a message goes to.

A channel renders an ``AlertMessage`` for one ``Recipient`` and sends it.  It raises
``RetryableDeliveryError`` or ``PermanentDeliveryError`` (``revflow.alerts.errors``);
anything else it raises counts as retryable.  The delivery loop owns retries, so a
channel makes one attempt per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from revflow.alerts.message import AlertMessage


class RecipientKind(StrEnum):
    OWNER = "owner"  # the Order's OwnerId, resolved to the User's email and id
    USER = "user"  # a named person (a mention, a rule naming a user)
    TEAM = "team"  # a named team or queue address
    ON_CALL = "on_call"


@dataclass(frozen=True)
class Recipient:
    """Someone an alert goes to, with what each channel needs to reach them.

    ``address`` is the channel's own address when it is not the email or user id:
    a named Slack/Teams webhook, a webhook endpoint name, a Chatter subject id.
    """

    kind: RecipientKind
    name: str  # display name: "Ada Lovelace", "finance-ops"
    email: str | None = None
    salesforce_user_id: str | None = None
    address: str | None = None


@runtime_checkable
class Channel(Protocol):
    """Sends alert messages one way (``name`` is what rules call it: "email", "slack"...)."""

    name: str

    async def send(self, message: AlertMessage, recipient: Recipient) -> None:
        """Deliver ``message`` to ``recipient`` once, or raise a delivery error."""
        ...
