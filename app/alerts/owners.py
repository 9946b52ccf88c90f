"""The Order's owner as an alert recipient: ``OwnerId`` -> the User's name and email.

Asked of the org when a message to ``owner`` is about to go out (never inside a
transaction), and cached: an owner id for ``ttl_s``, the order's owner id likewise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Protocol

from revflow.alerts.channels.base import Recipient, RecipientKind
from revflow.alerts.errors import PermanentDeliveryError, RetryableDeliveryError

SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


class Querying(Protocol):
    async def query(self, soql: str) -> list[dict[str, Any]]: ...


class OrgOwners:
    """Finds Order owners in the org (``SalesforceClient.query``), with a cache."""

    def __init__(
        self,
        client: Querying,
        ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        permanent: Callable[[BaseException], bool] = lambda exc: False,
    ) -> None:
        """``permanent``: which query errors waiting will not fix (the service passes
        ``revflow.incidents.is_permanent``; alerts sit below incidents and the org's
        client)."""
        self.client = client
        self.permanent = permanent
        self.ttl_s = ttl_s
        self.clock = clock
        self._users: dict[str, tuple[float, Recipient]] = {}
        self._orders: dict[str, tuple[float, str]] = {}

    async def owner(self, order_id: str | None, owner_id: str | None = None) -> Recipient:
        """The owner of ``order_id`` (``owner_id`` when the caller knows it already)."""
        if not owner_id:
            if not order_id or not SF_ID.match(order_id):
                raise PermanentDeliveryError("the alert names no order to find an owner for")
            owner_id = await self._owner_id(order_id)
        if not SF_ID.match(owner_id):
            raise PermanentDeliveryError(f"not a Salesforce id: {owner_id!r}")
        hit = self._users.get(owner_id)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        rows = await self._query(f"SELECT Id, Name, Email FROM User WHERE Id = '{owner_id}'")
        if not rows:  # a queue owns the order, or the user is gone
            raise PermanentDeliveryError(f"owner {owner_id} is not a user Revflow can read")
        row = rows[0]
        found = Recipient(
            RecipientKind.OWNER,
            str(row.get("Name") or owner_id),
            email=row.get("Email") or None,
            salesforce_user_id=str(row.get("Id") or owner_id),
        )
        self._users[owner_id] = (self.clock() + self.ttl_s, found)
        return found

    async def _owner_id(self, order_id: str) -> str:
        hit = self._orders.get(order_id)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        rows = await self._query(f"SELECT OwnerId FROM Order WHERE Id = '{order_id}'")
        if not rows or not rows[0].get("OwnerId"):
            raise PermanentDeliveryError(f"order {order_id} has no owner Revflow can read")
        owner_id = str(rows[0]["OwnerId"])
        self._orders[order_id] = (self.clock() + self.ttl_s, owner_id)
        return owner_id

    async def _query(self, soql: str) -> list[dict[str, Any]]:
        try:
            return await self.client.query(soql)
        except Exception as exc:
            text = f"reading the owner failed: {type(exc).__name__}: {exc}"
            if self.permanent(exc):
                raise PermanentDeliveryError(text) from exc
            raise RetryableDeliveryError(text) from exc
