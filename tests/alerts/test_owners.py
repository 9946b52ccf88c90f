"""The Order's owner, read from a sandbox org over its REST API, and cached."""

from __future__ import annotations

import pytest

from revflow.alerts.errors import PermanentDeliveryError
from revflow.alerts.owners import OrgOwners
from revflow.sandbox.org import DEMO_USER_EMAIL, DEMO_USER_ID, SandboxOrg
from tests.orgkit import Shop, settings_for, sf_client


class Counting:
    def __init__(self, inner):
        self.inner, self.calls = inner, []

    async def query(self, soql):
        self.calls.append(soql)
        return await self.inner.query(soql)


async def test_owner_of_an_order_is_the_user_with_email_and_id(org: SandboxOrg) -> None:
    client = Counting(sf_client(settings_for(org, "sqlite://")))
    if True:
        order_id = Shop(org).order()
        owners = OrgOwners(client, ttl_s=60)
        owner = await owners.owner(order_id)
        assert (owner.salesforce_user_id, owner.email, owner.name) == (
            DEMO_USER_ID,
            DEMO_USER_EMAIL,
            "Dana Demo",
        )
        assert await owners.owner(order_id) == owner  # cached: no more queries
        assert len(client.calls) == 2
        assert await owners.owner(None, DEMO_USER_ID) == owner
        assert len(client.calls) == 2


async def test_an_unknown_owner_or_order_is_permanent(org: SandboxOrg) -> None:
    if True:
        owners = OrgOwners(sf_client(settings_for(org, "sqlite://")))
        with pytest.raises(PermanentDeliveryError, match="not a user"):
            await owners.owner(None, "005000000000000AAA")
        with pytest.raises(PermanentDeliveryError, match="no order"):
            await owners.owner("x' OR Id != '")  # never reaches SOQL


async def test_a_query_error_waiting_will_not_fix_is_permanent(org: SandboxOrg) -> None:
    from revflow.alerts.errors import RetryableDeliveryError
    from revflow.incidents import is_permanent

    order_id = Shop(org).order()
    org.missing_fields.add("Order.OwnerId")  # hidden from the integration user
    client = sf_client(settings_for(org, "sqlite://"))
    with pytest.raises(PermanentDeliveryError, match="INVALID_FIELD"):
        await OrgOwners(client, permanent=is_permanent).owner(order_id)
    with pytest.raises(RetryableDeliveryError, match="INVALID_FIELD"):
        await OrgOwners(client).owner(order_id)  # without the classifier: try again later
