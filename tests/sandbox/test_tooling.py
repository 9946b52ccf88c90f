"""The sandbox org's Tooling API for CDC entities, read-only fields, and CDC per entity."""

from __future__ import annotations

from typing import Any

from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import SalesforceError
from revflow.sandbox.org import SandboxOrg
from tests.orgkit import Shop, settings_for, sf_client

QUERY = "SELECT Id, DeveloperName, SelectedEntity FROM PlatformEventChannelMember"
MEMBER = "tooling/sobjects/PlatformEventChannelMember"


def _client(org: SandboxOrg) -> SalesforceClient:
    return sf_client(settings_for(org, "sqlite://"))


async def _members(client: SalesforceClient) -> set[str]:
    body = await client.request("GET", "tooling/query", params={"q": QUERY})
    return {r["SelectedEntity"] for r in body["records"]}


def _body(entity: str) -> dict[str, Any]:
    return {
        "FullName": f"ChangeEvents_{entity}ChangeEvent",
        "Metadata": {"eventChannel": "ChangeEvents", "selectedEntity": f"{entity}ChangeEvent"},
    }


async def test_selecting_an_entity_turns_its_change_events_on() -> None:
    from revflow.sandbox.server import start_org

    org = SandboxOrg(set_up=False)
    org.missing_fields.clear()
    server = await start_org(org)
    client = _client(org)
    try:
        assert await _members(client) == set()
        Shop(org).order()
        assert org.events.all_events(["/data/OrderChangeEvent"]) == []  # not selected
        created = await client.request("POST", MEMBER, json=_body("Order"))
        assert created["success"] is True and created["id"].startswith("0v8")
        assert await _members(client) == {"OrderChangeEvent"}
        Shop(org).order()
        assert org.events.all_events(["/data/OrderChangeEvent"])
        assert org.events.all_events(["/data/OrderItemChangeEvent"]) == []
    finally:
        await client.aclose()
        await server.close()


async def test_duplicates_unknown_entities_and_bad_bodies_are_refused(org: SandboxOrg) -> None:
    client = _client(org)
    for body, code in (
        (_body("Order"), "DUPLICATE_VALUE"),  # a set-up org selected it already
        (_body("Invoice"), "FIELD_INTEGRITY_EXCEPTION"),
        ({"FullName": "x"}, "JSON_PARSER_ERROR"),
        ({"Metadata": {"eventChannel": "ChangeEvents"}}, "REQUIRED_FIELD_MISSING"),
    ):
        try:
            await client.request("POST", MEMBER, json=body)
        except SalesforceError as exc:
            assert exc.code == code
        else:
            raise AssertionError(f"{body} was accepted")
    await client.aclose()


async def test_tooling_objects_are_not_in_the_data_api_and_data_objects_not_in_tooling(
    org: SandboxOrg,
) -> None:
    client = _client(org)
    for path, soql in (("query", QUERY), ("tooling/query", "SELECT Id FROM Order")):
        try:
            await client.request("GET", path, params={"q": soql})
        except SalesforceError as exc:
            assert exc.code == "INVALID_TYPE"
        else:
            raise AssertionError(f"{path} answered {soql}")
    await client.aclose()


async def test_a_read_only_field_is_not_updateable_and_writes_to_it_are_refused(
    org: SandboxOrg,
) -> None:
    client = _client(org)
    order_id = Shop(org).order()
    org.readonly_fields.add("Order.Revflow_Plan_URL__c")
    describe = await client.request("GET", "sobjects/Order/describe")
    field = next(f for f in describe["fields"] if f["name"] == "Revflow_Plan_URL__c")
    assert field["updateable"] is False and field["createable"] is False
    (result,) = await client.update_records(
        [{"attributes": {"type": "Order"}, "id": order_id, "Revflow_Plan_URL__c": "https://x/1"}]
    )
    assert not result.success
    assert result.errors[0].status_code == "INVALID_FIELD_FOR_INSERT_UPDATE"
    await client.aclose()
