"""The sandbox org's customNotificationAction and Chatter feed-elements endpoints."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import SalesforceError
from revflow.sandbox.org import DEMO_USER_ID, SandboxOrg
from tests.orgkit import Shop, settings_for, sf_client

ACTION = "actions/standard/customNotificationAction"


def _type_id(org: SandboxOrg) -> str:
    (record,) = org.records["CustomNotificationType"].values()
    return str(record["Id"])


def _input(org: SandboxOrg, target: str, **changes: Any) -> dict[str, Any]:
    item = {
        "customNotifTypeId": _type_id(org),
        "recipientIds": [DEMO_USER_ID],
        "title": "Order 00000123 failed",
        "body": "The ERP refused it",
        "targetId": target,
    }
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


async def _raw(client: SalesforceClient, method: str, path: str, body: Any) -> httpx.Response:
    token = await client.tokens.token()
    url = f"{token.instance_url}/services/data/v62.0/{path}"
    headers = {"Authorization": f"Bearer {token.access_token}"}
    return await client.http.request(method, url, json=body, headers=headers)


async def test_a_notification_is_accepted_and_kept(org: SandboxOrg) -> None:
    order = Shop(org).order()
    client = sf_client(settings_for(org, "sqlite://"))
    try:
        described = await client.request("GET", ACTION)
        assert described["name"] == "customNotificationAction"
        assert {i["name"] for i in described["inputs"] if i["required"]} == {
            "customNotifTypeId", "recipientIds", "title", "body",
        }  # fmt: skip
        answer = await client.request("POST", ACTION, json={"inputs": [_input(org, order)]})
    finally:
        await client.aclose()
    assert answer == [
        {
            "actionName": "customNotificationAction",
            "errors": None,
            "isSuccess": True,
            "outputValues": {
                "SuccessMessage": "Your custom notification is processed successfully."
            },
        }
    ]
    (kept,) = org.notifications
    assert kept["notificationType"] == "Revflow_Alert"
    assert kept["recipientIds"] == [DEMO_USER_ID] and kept["targetId"] == order
    assert kept["senderId"].startswith("005")


@pytest.mark.parametrize(
    ("changes", "code", "words"),
    [
        ({"title": None}, "REQUIRED_FIELD_MISSING", "title"),
        ({"recipientIds": []}, "REQUIRED_FIELD_MISSING", "recipientIds"),
        ({"title": "t" * 251}, "STRING_TOO_LONG", "max length=250"),
        ({"body": "b" * 751}, "STRING_TOO_LONG", "max length=750"),
        ({"targetId": None}, "REQUIRED_FIELD_MISSING", "targetId or a targetPageRef"),
        ({"customNotifTypeId": "0ML5e0000000000AAA"}, "INVALID_CROSS_REFERENCE_KEY", "type"),
        ({"recipientIds": ["8015e00000Q7mNpAAJ"]}, "INVALID_ID_FIELD", "recipient"),
        ({"recipientIds": [DEMO_USER_ID] * 501}, "LIMIT_EXCEEDED", "500"),
        ({"targetId": "8015e00000Q7mNpAAJ"}, "INVALID_ID_FIELD", "does not exist"),
        ({"colour": "red"}, "INVALID_INPUT", "colour"),
    ],
)
async def test_bad_inputs_fail_per_input_with_salesforce_shaped_errors(
    org: SandboxOrg, changes: dict[str, Any], code: str, words: str
) -> None:
    order = Shop(org).order()
    client = sf_client(settings_for(org, "sqlite://"))
    try:
        good = _input(org, order)
        bad = _input(org, order, **changes)
        mixed = await _raw(client, "POST", ACTION, {"inputs": [good, bad]})
        alone = await _raw(client, "POST", ACTION, {"inputs": [bad]})
    finally:
        await client.aclose()
    assert mixed.status_code == 200  # one input succeeded
    ok, refused = mixed.json()
    assert ok["isSuccess"] is True
    assert refused["isSuccess"] is False and refused["outputValues"] is None
    (error,) = refused["errors"]
    assert error["statusCode"] == code and words in error["message"]
    assert alone.status_code == 400 and alone.json()[0]["errors"][0]["statusCode"] == code
    assert len(org.notifications) == 1


async def test_a_body_without_inputs_is_a_parser_error(org: SandboxOrg) -> None:
    client = sf_client(settings_for(org, "sqlite://"))
    try:
        with pytest.raises(SalesforceError) as refused:
            await client.request("POST", ACTION, json={"input": []})
    finally:
        await client.aclose()
    assert refused.value.code == "JSON_PARSER_ERROR"


async def test_a_chatter_post_on_an_order_is_created_and_read_back(org: SandboxOrg) -> None:
    order = Shop(org).order()
    client = sf_client(settings_for(org, "sqlite://"))
    body = {
        "body": {
            "messageSegments": [
                {"type": "Mention", "id": DEMO_USER_ID},
                {"type": "Text", "text": " order failed in the ERP "},
                {"type": "Link", "url": "http://revflow.test/console/plans/7"},
            ]
        },
        "feedElementType": "FeedItem",
        "subjectId": order,
    }
    try:
        created = await _raw(client, "POST", "chatter/feed-elements", body)
        assert created.status_code == 201
        item = created.json()
        read = await client.request("GET", f"chatter/feed-elements/{item['id']}")
    finally:
        await client.aclose()
    assert item["id"].startswith("0D5") and item["parent"] == {"id": order}
    assert item["feedElementType"] == "FeedItem"
    assert item["body"]["text"] == (
        f"@{DEMO_USER_ID} order failed in the ERP http://revflow.test/console/plans/7"
    )
    assert read == item and org.feed_elements == [item]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"feedElementType": "Bundle"}, 400, "INVALID_API_INPUT"),
        ({"subjectId": None}, 400, "INVALID_API_INPUT"),
        ({"subjectId": "8015e00000Q7mNpAAJ"}, 404, "NOT_FOUND"),
        ({"body": {"messageSegments": []}}, 400, "INVALID_API_INPUT"),
        ({"body": {"messageSegments": [{"type": "Text", "text": "x" * 10_001}]}}, 400, ""),
        ({"body": {"messageSegments": [{"type": "Mention", "id": DEMO_USER_ID}] * 26}}, 400, ""),
        ({"body": {"messageSegments": [{"type": "Poll"}]}}, 400, "INVALID_API_INPUT"),
    ],
)
async def test_bad_chatter_posts_are_refused(
    org: SandboxOrg, change: dict[str, Any], status: int, code: str
) -> None:
    order = Shop(org).order()
    client = sf_client(settings_for(org, "sqlite://"))
    body: dict[str, Any] = {
        "body": {"messageSegments": [{"type": "Text", "text": "hello"}]},
        "feedElementType": "FeedItem",
        "subjectId": order,
        **change,
    }
    try:
        answer = await _raw(client, "POST", "chatter/feed-elements", body)
    finally:
        await client.aclose()
    assert answer.status_code == status
    assert answer.json()[0]["errorCode"] == (code or "INVALID_API_INPUT")
    assert org.feed_elements == []


async def test_the_control_api_serves_what_the_org_received(org: SandboxOrg) -> None:
    order = Shop(org).order()
    client = sf_client(settings_for(org, "sqlite://"))
    try:
        await client.request("POST", ACTION, json={"inputs": [_input(org, order)]})
        seen = await client.http.get(f"{org.instance_url}/_sandbox/notifications")
        posts = await client.http.get(f"{org.instance_url}/_sandbox/feed-elements")
    finally:
        await client.aclose()
    assert [n["title"] for n in seen.json()["notifications"]] == ["Order 00000123 failed"]
    assert posts.json() == {"feedElements": []}


def test_an_org_revflow_was_never_set_up_in_has_no_notification_type() -> None:
    assert "CustomNotificationType" not in SandboxOrg(set_up=False).records
