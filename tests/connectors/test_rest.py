"""The configurable REST connector, against respx-mocked HTTP."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
import respx

from revflow.connectors.base import CallContext
from revflow.connectors.errors import (
    AmbiguousError,
    EndpointGoneError,
    FatalError,
    RateLimitedError,
    RetryableError,
)
from revflow.connectors.registry import build_connector
from revflow.connectors.rest import OAuth2ClientCredentials, RestConnector, lookup_path

BASE = "https://erp.example/api/v2"
TOKEN_URL = "https://erp.example/oauth/token"

ACTIONS: dict[str, Any] = {
    "create": {"method": "POST", "path": "/orders", "external_id": "data.id"},
    "cancel": {"method": "POST", "path": "/orders/{external_id}/cancel", "body": "none"},
    "get": {"method": "GET", "path": "/orders/{ref.number}"},
    "update": {
        "method": "PATCH",
        "path": "/orders/{external_id}",
        "idempotency_header": "X-Request-Id",
        "external_id": ["missing.path", "order.number"],
    },
}


def ctx(action: str = "create", key: str = "plan-1-so", timeout_s: float = 5.0) -> CallContext:
    return CallContext(
        idempotency_key=key,
        correlation_id="rf-1",
        attempt=1,
        action=action,
        timeout_s=timeout_s,
    )


def make(auth: Any = None, **kw: Any) -> RestConnector:
    settings: dict[str, Any] = {"type": "rest", "base_url": BASE, "actions": ACTIONS, **kw}
    if auth is not None:
        settings["auth"] = auth
    connector = build_connector("erp", settings)
    assert isinstance(connector, RestConnector)
    return connector


OAUTH = {
    "type": "oauth2",
    "token_url": TOKEN_URL,
    "client_id": "cid",
    "client_secret": "csecret",
    "scope": "orders",
}


@respx.mock
async def test_post_sends_payload_idempotency_and_reads_dotted_external_id():
    route = respx.post(f"{BASE}/orders").respond(201, json={"data": {"id": 4711}})
    conn = make()
    result = await conn.call("create", {"order": "A-1", "amount": 10}, ctx())
    await conn.aclose()
    assert result.external_id == "4711" and result.status_code == 201
    request = route.calls.last.request
    assert json.loads(request.content) == {"order": "A-1", "amount": 10}
    assert request.headers["idempotency-key"] == "plan-1-so"
    assert request.headers["x-correlation-id"] == "rf-1"
    assert request.headers["content-type"] == "application/json"


@respx.mock
async def test_path_template_is_filled_and_quoted_and_body_follows_method():
    cancel = respx.post(f"{BASE}/orders/SO%2F1%201/cancel").respond(200, json={})
    get = respx.get(f"{BASE}/orders/N-9").respond(200, json={"id": "N-9"})
    patch = respx.patch(f"{BASE}/orders/SO-2").respond(200, json={"order": {"number": "77"}})
    conn = make()
    await conn.call("cancel", {"external_id": "SO/1 1", "x": 1}, ctx("cancel"))
    assert cancel.calls.last.request.content == b""
    assert (await conn.call("get", {"ref": {"number": "N-9"}}, ctx("get"))).external_id == "N-9"
    assert get.calls.last.request.content == b""
    result = await conn.call("update", {"external_id": "SO-2", "qty": 3}, ctx("update"))
    assert result.external_id == "77"
    request = patch.calls.last.request
    assert request.headers["x-request-id"] == "plan-1-so"
    assert "idempotency-key" not in request.headers
    assert json.loads(request.content) == {"external_id": "SO-2", "qty": 3}


async def test_missing_path_value_and_unknown_action_are_fatal():
    conn = make()
    with pytest.raises(FatalError, match="external_id"):
        await conn.call("cancel", {}, ctx("cancel"))
    with pytest.raises(FatalError, match="no REST action 'nope'"):
        await conn.call("nope", {}, ctx("nope"))


@respx.mock
async def test_api_key_and_basic_auth_and_static_headers():
    route = respx.post(f"{BASE}/orders").respond(200, json={"data": {"id": 1}})
    conn = make({"type": "api_key", "header": "X-Api-Token", "key": "k3y"}, headers={"X-T": "1"})
    await conn.call("create", {}, ctx())
    assert route.calls.last.request.headers["x-api-token"] == "k3y"
    assert route.calls.last.request.headers["x-t"] == "1"
    conn = make({"type": "basic", "username": "u", "password": "p:w"})
    await conn.call("create", {}, ctx())
    expected = "Basic " + base64.b64encode(b"u:p:w").decode()
    assert route.calls.last.request.headers["authorization"] == expected


@respx.mock
async def test_oauth_token_is_fetched_once_and_cached():
    token = respx.post(TOKEN_URL).respond(
        200, json={"access_token": "T1", "expires_in": 3600, "token_type": "Bearer"}
    )
    api = respx.post(f"{BASE}/orders").respond(200, json={"data": {"id": 1}})
    conn = make(OAUTH)
    await conn.call("create", {}, ctx())
    await conn.call("create", {}, ctx())
    assert token.call_count == 1
    form = dict(x.split("=") for x in token.calls.last.request.content.decode().split("&"))
    assert form == {
        "grant_type": "client_credentials",
        "scope": "orders",
        "client_id": "cid",
        "client_secret": "csecret",
    }
    assert all(c.request.headers["authorization"] == "Bearer T1" for c in api.calls)


@respx.mock
async def test_oauth_token_expiry_triggers_a_new_fetch():
    now = [1000.0]
    auth = OAuth2ClientCredentials(
        TOKEN_URL, "cid", "cs", client_auth="basic", clock=lambda: now[0]
    )
    token = respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "T1", "expires_in": 120}),
            httpx.Response(200, json={"access_token": "T2", "expires_in": 120}),
        ]
    )
    api = respx.post(f"{BASE}/orders").respond(200, json={})
    conn = RestConnector(BASE, ACTIONS, auth=auth)
    await conn.call("create", {}, ctx())
    now[0] += 59  # 120 s minus the 60 s margin: still valid
    await conn.call("create", {}, ctx())
    now[0] += 2
    await conn.call("create", {}, ctx())
    assert token.call_count == 2
    assert token.calls[0].request.headers["authorization"].startswith("Basic ")
    assert b"client_secret" not in token.calls[0].request.content
    assert [c.request.headers["authorization"] for c in api.calls] == [
        "Bearer T1",
        "Bearer T1",
        "Bearer T2",
    ]


@respx.mock
async def test_401_refreshes_the_token_once_and_retries():
    respx.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json={"access_token": "OLD"}),
            httpx.Response(200, json={"access_token": "NEW"}),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer NEW":
            return httpx.Response(200, json={"data": {"id": "ok"}})
        return httpx.Response(401, json={"error": "token revoked"})

    api = respx.post(f"{BASE}/orders").mock(side_effect=answer)
    conn = make(OAUTH)
    assert (await conn.call("create", {}, ctx())).external_id == "ok"
    assert api.call_count == 2


@respx.mock
async def test_a_second_401_is_fatal_not_a_loop():
    token = respx.post(TOKEN_URL).respond(200, json={"access_token": "T"})
    api = respx.post(f"{BASE}/orders").respond(401, text="no")
    conn = make(OAUTH)
    with pytest.raises(FatalError) as info:
        await conn.call("create", {}, ctx())
    assert info.value.status_code == 401
    assert api.call_count == 2 and token.call_count == 2


@respx.mock
async def test_401_with_api_key_is_not_retried():
    api = respx.post(f"{BASE}/orders").respond(401)
    with pytest.raises(FatalError):
        await make({"type": "api_key", "key": "k"}).call("create", {}, ctx())
    assert api.call_count == 1


@respx.mock
@pytest.mark.parametrize(
    "answer, error",
    [
        (httpx.Response(400, json={"error": "invalid_client"}), FatalError),
        (httpx.Response(401), FatalError),
        (httpx.Response(500), RetryableError),
        (httpx.Response(429, headers={"retry-after": "7"}), RateLimitedError),
        (httpx.Response(200, json={"no": "token"}), FatalError),
        (httpx.Response(200, text="<html>"), FatalError),
        (httpx.ConnectError("refused"), RetryableError),
        (httpx.ReadTimeout("slow"), RetryableError),  # not ambiguous: a token changes nothing
    ],
)
async def test_token_endpoint_failures_are_classified(answer, error):
    respx.post(TOKEN_URL).mock(side_effect=[answer])
    api = respx.post(f"{BASE}/orders").respond(200)
    with pytest.raises(error, match="OAuth token") as info:
        await make(OAUTH).call("create", {}, ctx())
    assert type(info.value) is error
    assert api.call_count == 0
    if error is RateLimitedError:
        assert info.value.retry_after == 7


@respx.mock
@pytest.mark.parametrize(
    "answer, error",
    [
        (httpx.Response(422, json={"error": "bad"}), FatalError),
        (httpx.Response(410), EndpointGoneError),
        (httpx.Response(503, headers={"retry-after": "3"}), RateLimitedError),
        (httpx.Response(502), RetryableError),
        (httpx.ConnectError("refused"), RetryableError),
        (httpx.ReadTimeout("slow"), AmbiguousError),
    ],
)
async def test_api_errors_are_classified_like_webhooks(answer, error):
    respx.post(f"{BASE}/orders").mock(side_effect=[answer])
    with pytest.raises(error) as info:
        await make().call("create", {}, ctx())
    assert type(info.value) is error


class Upper:
    def apply(self, record):
        if "Id" not in record:
            raise ValueError("no Id")
        return {"ID": record["Id"].upper()}


@respx.mock
async def test_body_mapping_is_applied_and_its_failure_is_fatal():
    route = respx.post(f"{BASE}/orders").respond(200, json={"data": {"id": 1}})
    actions = {"create": {"path": "/orders", "mapping": "upper"}}
    conn = RestConnector(BASE, actions, mappings={"upper": Upper()})
    await conn.call("create", {"Id": "abc"}, ctx())
    assert json.loads(route.calls.last.request.content) == {"ID": "ABC"}
    with pytest.raises(FatalError, match="mapping 'upper' failed"):
        await conn.call("create", {}, ctx())


MAPPING = """\
name: tiny
version: 1
source: Order
target: erp.order
fields:
  number: { path: OrderNumber, required: true }
  ref: { path: Id }
"""


@respx.mock
async def test_mapping_file_from_mappings_dir(tmp_path):
    (tmp_path / "tiny.yaml").write_text(MAPPING)
    route = respx.post(f"{BASE}/orders").respond(200, json={"data": {"id": 1}})
    conn = make(
        actions={"create": {"path": "/orders", "mapping": "tiny"}}, mappings_dir=str(tmp_path)
    )
    await conn.call("create", {"Id": "801x", "OrderNumber": "00001"}, ctx())
    assert json.loads(route.calls.last.request.content) == {"number": "00001", "ref": "801x"}
    with pytest.raises(FatalError, match="tiny"):
        await conn.call("create", {"Id": "801x"}, ctx())


def test_missing_mapping_fails_at_build_time(tmp_path):
    with pytest.raises(ValueError, match="mapping 'nope' not found"):
        make(actions={"create": {"mapping": "nope"}}, mappings_dir=str(tmp_path))


@respx.mock
async def test_find_existing_uses_the_configured_lookup():
    actions = {
        "create": {
            "path": "/orders",
            "external_id": "id",
            "find": {"path": "/orders?ref={idempotency_key}", "external_id": "items.0.id"},
        },
        "plain": {"path": "/x"},
    }
    found = respx.get(f"{BASE}/orders", params={"ref": "plan-1-so"}).mock(
        side_effect=[
            httpx.Response(200, json={"items": [{"id": "SO-9"}]}),
            httpx.Response(200, json={"items": []}),
            httpx.Response(500),
        ]
    )
    conn = make(actions=actions)
    result = await conn.find_existing("create", {}, ctx())
    assert result is not None and result.external_id == "SO-9"
    assert await conn.find_existing("create", {}, ctx()) is None
    assert await conn.find_existing("create", {}, ctx()) is None
    assert await conn.find_existing("plain", {}, ctx()) is None
    assert "idempotency-key" not in found.calls.last.request.headers


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"base_url": BASE}, "needs 'base_url' and 'actions'"),
        ({"base_url": "ftp://x", "actions": ACTIONS}, "http"),
        ({"base_url": BASE, "actions": {"a": {"method": "FETCH"}}}, "method"),
        ({"base_url": BASE, "actions": {"a": {"bdoy": "none"}}}, "unknown setting"),
        ({"base_url": BASE, "actions": {"a": {"body": "raw"}}}, "passthrough"),
        ({"base_url": BASE, "actions": ACTIONS, "auth": {"type": "magic"}}, "auth type"),
        ({"base_url": BASE, "actions": ACTIONS, "auth": {"type": "oauth2"}}, "token_url"),
        ({"base_url": BASE, "actions": ACTIONS, "auth": {"type": "api_key"}}, "key"),
        ({"base_url": BASE, "actions": ACTIONS, "bogus": 1}, "bogus"),
    ],
)
def test_bad_settings_fail_at_build_time(settings, words):
    with pytest.raises(ValueError, match=words):
        build_connector("erp", {"type": "rest", **settings})


def test_lookup_path():
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert lookup_path(data, "a.b.1.c") == 2
    assert lookup_path(data, "a.b.-1.c") == 2
    assert lookup_path(data, "a.b.5.c") is None
    assert lookup_path(data, "a.x") is None
