"""Alerts inside the org: a custom notification (the bell) to the recipient's User.

``POST actions/standard/customNotificationAction`` with one input: the type id of
the ``CustomNotificationType`` named in the settings (``Revflow_Alert``, deployed by
``revflow salesforce setup``), the recipient's user id, a title (<= 250), a body
(<= 750) and the Order as target.  The type id is looked up once per channel with
SOQL on the data API, else on the Tooling API, and cached.  Salesforce answers one
result per input; ``isSuccess: false`` is a permanent failure.  Salesforce drops
(does not queue) notifications beyond 10,000 an hour per org.
"""

from __future__ import annotations

import json
from typing import Any

from revflow.alerts.channels.base import Recipient
from revflow.alerts.errors import (
    AlertDeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from revflow.alerts.message import AlertMessage
from revflow.alerts.settings import SalesforceChannelSettings
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import (
    RequestLimitExceeded,
    SalesforceError,
    SessionExpired,
    TransientError,
)

ACTION_PATH = "actions/standard/customNotificationAction"
TITLE_MAX, BODY_MAX = 250, 750
NO_TARGET = "000000000000000AAA"  # Salesforce's documented stand-in when nothing fits


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def notification_input(message: AlertMessage, type_id: str, user_id: str) -> dict[str, Any]:
    """One ``customNotificationAction`` input for ``message`` to the user ``user_id``."""
    lines = [message.summary]
    if message.why():
        lines.append(f"Why: {message.why()}")
    if message.plan_url:
        lines.append(f"Plan: {message.plan_url}")
    body = "\n".join(lines)
    if len(body) > BODY_MAX and message.plan_url:  # keep the link whole, shorten the rest
        tail = f"\nPlan: {message.plan_url}"
        body = clip("\n".join(lines[:-1]), BODY_MAX - len(tail)) + tail
    return {
        "customNotifTypeId": type_id,
        "recipientIds": [user_id],
        "title": clip(message.title, TITLE_MAX),
        "body": clip(body, BODY_MAX),
        "targetId": message.order_id or NO_TARGET,
    }


def delivery_error(exc: SalesforceError, what: str) -> AlertDeliveryError:
    """A Salesforce failure as a retryable or permanent delivery error."""
    detail = f"salesforce {what}: {exc.code}: {_errors_text(exc.message)}"
    if isinstance(exc, TransientError | RequestLimitExceeded | SessionExpired):
        return RetryableDeliveryError(detail)
    return PermanentDeliveryError(detail)


def _errors_text(raw: str) -> str:
    """The messages of an action's per-input error list, or the raw text."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw
    results = body if isinstance(body, list) else [body]
    messages = [
        f"{e.get('statusCode')}: {e.get('message')}"
        for r in results
        if isinstance(r, dict)
        for e in (r.get("errors") or [])
        if isinstance(e, dict)
    ]
    return "; ".join(messages) or raw


class NotificationTypes:
    """The ids of CustomNotificationTypes by DeveloperName, looked up once each."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self._ids: dict[str, str] = {}

    async def id_of(self, developer_name: str) -> str:
        if developer_name in self._ids:
            return self._ids[developer_name]
        name = developer_name.replace("\\", "").replace("'", "")
        soql = (
            f"SELECT Id, DeveloperName FROM CustomNotificationType WHERE DeveloperName = '{name}'"
        )
        try:
            records = await self.client.query(soql)
        except SalesforceError as exc:
            if exc.code not in ("INVALID_TYPE", "NOT_FOUND"):
                raise
            # some integration users can read the type through the Tooling API only
            body = await self.client.request("GET", "tooling/query", params={"q": soql})
            records = body.get("records", [])
        if not records:
            raise PermanentDeliveryError(
                f"salesforce: the org has no CustomNotificationType {developer_name!r} "
                "(deploy it with `revflow salesforce setup`, or set "
                "REVFLOW_ALERTS__SALESFORCE__NOTIFICATION_TYPE)"
            )
        self._ids[developer_name] = str(records[0]["Id"])
        return self._ids[developer_name]


class SalesforceNotificationChannel:
    """Sends alerts as Salesforce custom notifications to the recipient's User."""

    name = "salesforce"

    def __init__(
        self,
        settings: SalesforceChannelSettings,
        client: SalesforceClient,
        types: NotificationTypes | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.types = types or NotificationTypes(client)

    async def send(self, message: AlertMessage, recipient: Recipient) -> None:
        if not recipient.salesforce_user_id:
            raise PermanentDeliveryError(
                f"salesforce: {recipient.name} has no Salesforce user id to notify"
            )
        try:
            type_id = await self.types.id_of(self.settings.notification_type)
            item = notification_input(message, type_id, recipient.salesforce_user_id)
            results = await self.client.request("POST", ACTION_PATH, json={"inputs": [item]})
        except SalesforceError as exc:
            raise delivery_error(exc, "notification") from exc
        first = results[0] if isinstance(results, list) and results else {}
        if not first.get("isSuccess"):
            raise PermanentDeliveryError(
                f"salesforce notification refused: {_errors_text(json.dumps(results))}"
            )
