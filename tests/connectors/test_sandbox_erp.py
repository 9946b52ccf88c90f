"""The sandbox ERP over real loopback HTTP, driven by the real WebhookConnector."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web

from revflow.connectors import CallContext, FatalError, RateLimitedError
from revflow.connectors.signing import generate_secret, sign
from revflow.connectors.webhook import WebhookConnector
from revflow.sandbox.erp import SandboxErp, create_erp_app

SECRET = generate_secret()
EVENT_TYPES = {"create_sales_order": "sales_order.create", "create_invoice": "invoice.create"}


@dataclass
class Running:
    erp: SandboxErp
    base_url: str
    http: httpx.AsyncClient

    @property
    def hook_url(self) -> str:
        return self.base_url + "/webhooks/erp"

    def connector(self, secrets: list[str] | None = None) -> WebhookConnector:
        return WebhookConnector(
            self.hook_url, secrets or [SECRET], http_client=self.http, event_types=EVENT_TYPES
        )

    async def stats(self) -> dict[str, Any]:
        response = await self.http.get(self.base_url + "/_erp/stats")
        assert response.status_code == 200
        return dict(response.json())


@pytest.fixture
async def erp_server() -> AsyncIterator[Running]:
    erp = SandboxErp(secrets=[SECRET], seed=7)
    runner = web.AppRunner(create_erp_app(erp))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with httpx.AsyncClient() as http:
        yield Running(erp, f"http://{host}:{port}", http)
    await runner.cleanup()


def ctx(key: str, attempt: int = 1, action: str = "create_sales_order") -> CallContext:
    return CallContext(
        idempotency_key=key, correlation_id="c-1", attempt=attempt, action=action, timeout_s=5
    )


async def test_creates_numbered_documents(erp_server: Running) -> None:
    conn = erp_server.connector()
    so = await conn.call("create_sales_order", {"external_id": "801A"}, ctx("p1:so"))
    inv = await conn.call(
        "create_invoice", {"order_id": "801A"}, ctx("p1:inv", action="create_invoice")
    )
    so2 = await conn.call("create_sales_order", {"external_id": "801B"}, ctx("p2:so"))
    assert (so.external_id, inv.external_id, so2.external_id) == (
        "SO-000001",
        "INV-000001",
        "SO-000002",
    )
    assert so.status_code == 201
    assert so.response["erp_number"] == "SO-000001"
    assert so.response["order_id"] == "801A" and so.response["duplicate"] is False

    stats = await erp_server.stats()
    assert stats["deliveries_total"] == 3 and stats["accepted"] == 3
    assert stats["documents"] == {"sales_order": {"801A": 1, "801B": 1}, "invoice": {"801A": 1}}
    assert stats["accepted_deliveries_by_order"] == {"801A": 2, "801B": 1}
    assert stats["duplicate_documents"] == [] and stats["duplicate_accepted"] == 0


async def test_a_refused_order_is_a_fatal_422_that_stays_refused(erp_server: Running) -> None:
    """What the served demo's fallout order meets: the connector gives up at once."""
    erp_server.erp.refused_orders.add("801R")
    conn = erp_server.connector()
    for attempt in (1, 2):
        with pytest.raises(FatalError) as info:
            await conn.call("create_sales_order", {"external_id": "801R"}, ctx("pr:so", attempt))
        assert "credit hold" in str(info.value)
    await conn.call("create_sales_order", {"external_id": "801A"}, ctx("pa:so"))
    stats = await erp_server.stats()
    assert stats["documents"] == {"sales_order": {"801A": 1}}


async def test_bad_signature_is_401_and_counted(erp_server: Running) -> None:
    wrong = erp_server.connector([generate_secret()])
    with pytest.raises(FatalError) as info:
        await wrong.call("create_sales_order", {"order_id": "801A"}, ctx("p1:so"))
    assert info.value.status_code == 401
    assert "no matching v1 signature" in info.value.message

    body = b'{"type":"sales_order.create","data":{"order_id":"801A"}}'
    stale = int(time.time()) - 600
    cases = [
        {},  # no headers at all
        {
            "webhook-id": "msg_s",
            "webhook-timestamp": str(stale),
            "webhook-signature": sign("msg_s", stale, body, [SECRET]),
        },
    ]
    for headers in cases:
        response = await erp_server.http.post(erp_server.hook_url, content=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_signature"

    stats = await erp_server.stats()
    assert stats["rejected_signature"] == 3 and stats["accepted"] == 0
    assert stats["documents"] == {}


async def test_signature_checked_on_every_delivery(erp_server: Running) -> None:
    erp_server.erp.set_faults(fail_first_attempts=True)
    good, forged = erp_server.connector(), erp_server.connector([generate_secret()])
    payload = {"order_id": "801A"}

    with pytest.raises(RateLimitedError):  # first delivery: injected 503
        await good.call("create_sales_order", payload, ctx("p1:so", 1))
    with pytest.raises(FatalError) as info:  # a known webhook-id does not skip the check
        await forged.call("create_sales_order", payload, ctx("p1:so", 2))
    assert info.value.status_code == 401
    result = await good.call("create_sales_order", payload, ctx("p1:so", 3))
    assert result.external_id == "SO-000001"
    with pytest.raises(FatalError):  # nor does an already accepted one
        await forged.call("create_sales_order", payload, ctx("p1:so", 4))

    outcomes = [(d.outcome, d.status) for d in erp_server.erp.deliveries]
    assert outcomes == [
        ("failed", 503),
        ("rejected_signature", 401),
        ("created", 201),
        ("rejected_signature", 401),
    ]


async def test_fail_first_attempts_then_success(erp_server: Running) -> None:
    response = await erp_server.http.post(
        erp_server.base_url + "/_erp/faults",
        json={"fail_first_attempts": True, "retry_after_s": 2},
    )
    assert response.json() == {
        "fail_share": 0.0,
        "fail_first_attempts": True,
        "retry_after_s": 2,
        "answer_shape": "flat",
    }

    conn = erp_server.connector()
    for order in ("801A", "801B"):
        with pytest.raises(RateLimitedError) as info:
            await conn.call("create_sales_order", {"order_id": order}, ctx(f"{order}:so", 1))
        assert info.value.status_code == 503 and info.value.retry_after == 2.0
        result = await conn.call("create_sales_order", {"order_id": order}, ctx(f"{order}:so", 2))
        assert result.status_code == 201

    log = erp_server.erp.deliveries
    assert [(d.attempt, d.outcome) for d in log] == [(1, "failed"), (2, "created")] * 2
    assert log[0].webhook_id == log[1].webhook_id == "msg_801A:so"
    stats = await erp_server.stats()
    assert (stats["failed"], stats["accepted"], stats["deliveries_total"]) == (2, 2, 4)


async def test_fail_share_is_seeded_and_bounded(erp_server: Running) -> None:
    erp_server.erp.set_faults(fail_share=0.5)
    conn = erp_server.connector()
    outcomes = []
    for i in range(40):
        try:
            await conn.call("create_sales_order", {"order_id": f"O{i}"}, ctx(f"k{i}"))
            outcomes.append("ok")
        except RateLimitedError:
            outcomes.append("503")
    failed = outcomes.count("503")
    assert 8 <= failed <= 32
    stats = await erp_server.stats()
    assert stats["failed"] == failed and stats["accepted"] == 40 - failed

    # Same seed, same sequence of injected failures.
    twin = SandboxErp(secrets=[SECRET], seed=7, fail_share=0.5)
    for i in range(40):
        body, headers = conn.build_request(
            "create_sales_order", {"order_id": f"O{i}"}, ctx(f"k{i}")
        )
        status, _ = twin.receive(body, headers)
        assert ("503" if status == 503 else "ok") == outcomes[i]

    erp_server.erp.set_faults(fail_share=1.0)
    with pytest.raises(RateLimitedError):
        await conn.call("create_sales_order", {"order_id": "Z"}, ctx("z"))


async def test_replay_returns_the_same_document(erp_server: Running) -> None:
    conn = erp_server.connector()
    first = await conn.call("create_sales_order", {"order_id": "801A"}, ctx("p1:so", 1))
    again = await conn.call("create_sales_order", {"order_id": "801A"}, ctx("p1:so", 2))
    assert first.status_code == 201 and again.status_code == 200
    assert again.external_id == first.external_id == "SO-000001"
    assert again.response["duplicate"] is True

    stats = await erp_server.stats()
    assert stats["duplicate_accepted"] == 1 and stats["accepted"] == 2
    assert stats["documents"] == {"sales_order": {"801A": 1}}
    assert stats["accepted_deliveries_by_order"] == {"801A": 2}
    assert stats["duplicate_documents"] == []


async def test_concurrent_replays_create_one_document(erp_server: Running) -> None:
    conn = erp_server.connector()
    results = await asyncio.gather(
        *(conn.call("create_sales_order", {"order_id": "801A"}, ctx("p1:so", n)) for n in range(10))
    )
    assert {r.external_id for r in results} == {"SO-000001"}
    assert sorted(r.status_code or 0 for r in results) == [200] * 9 + [201]


async def test_new_key_for_same_order_is_a_duplicate_document(erp_server: Running) -> None:
    conn = erp_server.connector()
    await conn.call("create_sales_order", {"order_id": "801A"}, ctx("run-1:so"))
    await conn.call("create_sales_order", {"order_id": "801A"}, ctx("run-2:so"))
    stats = await erp_server.stats()
    assert stats["duplicate_documents"] == [
        {
            "type": "sales_order",
            "order_id": "801A",
            "count": 2,
            "numbers": ["SO-000001", "SO-000002"],
        }
    ]
    assert stats["duplicate_accepted"] == 0


async def test_invalid_messages(erp_server: Running) -> None:
    conn = erp_server.connector()
    with pytest.raises(FatalError) as info:
        await conn.call("sales_order.ship", {"order_id": "801A"}, ctx("a"))
    assert info.value.status_code == 422
    with pytest.raises(FatalError) as info:
        await conn.call("create_sales_order", {"amount": 1}, ctx("b"))
    assert info.value.status_code == 422 and "order" in info.value.message

    ts = int(time.time())
    body = b"not json"
    headers = {
        "webhook-id": "msg_j",
        "webhook-timestamp": str(ts),
        "webhook-signature": sign("msg_j", ts, body, [SECRET]),
    }
    response = await erp_server.http.post(erp_server.hook_url, content=body, headers=headers)
    assert response.status_code == 400
    stats = await erp_server.stats()
    assert stats["invalid"] == 3 and stats["documents"] == {}

    other = await conn.call("credit_note.create", {"order_id": "801A"}, ctx("c"))
    assert other.external_id == "CN-000001"


async def test_update_and_cancel_change_the_newest_document(erp_server: Running) -> None:
    conn = erp_server.connector()
    with pytest.raises(FatalError) as info:
        await conn.call("sales_order.cancel", {"order_id": "801A"}, ctx("early"))
    assert info.value.status_code == 404  # nothing to cancel yet
    await conn.call("create_sales_order", {"order_id": "801A", "q": 1}, ctx("so"))
    upd = await conn.call("sales_order.update", {"order_id": "801A", "q": 3}, ctx("upd"))
    assert upd.external_id == "SO-000001" and upd.status_code == 200
    (doc,) = erp_server.erp.documents.values()
    assert doc.data["q"] == 3 and doc.updates == 1 and not doc.cancelled
    cancel = await conn.call("sales_order.cancel", {"order_id": "801A"}, ctx("cancel"))
    assert cancel.response["cancelled"] is True and doc.cancelled
    again = await conn.call("sales_order.cancel", {"order_id": "801A"}, ctx("cancel"))
    assert again.response["duplicate"] is True  # the same webhook-id: answered, not redone
    stats = await erp_server.stats()
    assert stats["changed"] == 2 and stats["created"] == 1 and stats["duplicate_documents"] == []


async def test_faults_endpoint_validates(erp_server: Running) -> None:
    url = erp_server.base_url + "/_erp/faults"
    for bad in ({"fail_share": 2}, {"fail_share": "lots"}, {"fail_first_attempts": "yes"}):
        assert (await erp_server.http.post(url, json=bad)).status_code == 400
    assert (await erp_server.http.post(url, content=b"[")).status_code == 400
    ok = await erp_server.http.post(url, json={"fail_share": 0.25})
    assert ok.json()["fail_share"] == 0.25
    assert (await erp_server.http.get(url)).json()["fail_share"] == 0.25


async def test_deliveries_endpoint(erp_server: Running) -> None:
    conn = erp_server.connector()
    await conn.call("create_sales_order", {"order_id": "801A"}, ctx("p1:so"))
    log = (await erp_server.http.get(erp_server.base_url + "/_erp/deliveries")).json()
    assert len(log) == 1
    entry = log[0]
    assert entry["webhook_id"] == "msg_p1:so" and entry["type"] == "sales_order.create"
    assert entry["order_id"] == "801A" and entry["status"] == 201
    assert entry["outcome"] == "created" and entry["document"] == "SO-000001"


@pytest.mark.parametrize(
    ("shape", "expression", "where"),
    [
        ("erp_order_number", "erp_order_number", lambda a: a["erp_order_number"]),
        ("nested", "result.documentNo", lambda a: a["result"]["documentNo"]),
    ],
)
async def test_answer_shapes_and_the_connector_expression(
    erp_server: Running, shape: str, expression: str, where: Callable[[dict[str, Any]], Any]
) -> None:
    url = erp_server.base_url + "/_erp/faults"
    assert (await erp_server.http.post(url, json={"answer_shape": shape})).status_code == 200
    # the default (id || erp_number) finds nothing in these answers
    plain = await erp_server.connector().call("create_sales_order", {"order_id": "801A"}, ctx("a"))
    assert plain.external_id is None and where(plain.response) == "SO-000001"
    assert "id" not in plain.response and "erp_number" not in plain.response
    located = WebhookConnector(
        erp_server.hook_url,
        [SECRET],
        http_client=erp_server.http,
        event_types=EVENT_TYPES,
        external_id=expression,
    )
    again = await located.call("create_sales_order", {"order_id": "801A"}, ctx("a"))
    assert again.external_id == "SO-000001"  # the same webhook-id: the same document
    made = await located.call("create_sales_order", {"order_id": "801B"}, ctx("b"))
    assert made.external_id == "SO-000002"


async def test_bad_answer_shape_is_refused(erp_server: Running) -> None:
    response = await erp_server.http.post(
        erp_server.base_url + "/_erp/faults", json={"answer_shape": "xml"}
    )
    assert response.status_code == 400 and "answer_shape" in response.json()["message"]
