"""The operator API's body limit, on a real uvicorn server over a real socket."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from prometheus_client import REGISTRY
from pydantic import SecretStr

from revflow.api.app import create_app
from revflow.config import CallbackSettings
from revflow.connectors.signing import generate_secret

LIMIT = 1000


@pytest.fixture
async def base_url(db) -> AsyncIterator[str]:
    config = uvicorn.Config(
        create_app(
            db,
            callbacks=CallbackSettings(secrets=[SecretStr(generate_secret())]),
            max_body_bytes=LIMIT,
        ),
        host="127.0.0.1",
        port=0,
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # connections queue here until the server accepts them
    task = asyncio.create_task(server.serve(sockets=[sock]))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    await task
    sock.close()


def refused() -> float:
    return REGISTRY.get_sample_value("revflow_api_bodies_refused_total") or 0.0


async def test_declared_length_over_the_limit_is_refused_unread(base_url):
    """Only the headers are sent: an answer proves the body was never waited for."""
    host, port = base_url.removeprefix("http://").split(":")
    before = refused()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /api/plans/1/cancel HTTP/1.1\r\nHost: t\r\n"
        b"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    length = int(
        next(
            line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        ).split(b":")[1]
    )
    detail = json.loads(await reader.readexactly(length))["detail"]
    assert detail == f"request body is larger than {LIMIT} bytes (REVFLOW_API_MAX_BODY_BYTES)"
    writer.close()
    assert refused() == before + 1


@pytest.mark.parametrize("path", ["/api/plans/1/cancel", "/api/callbacks/netsuite"])
async def test_streamed_body_over_the_limit_is_refused(base_url, path):
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
        for _ in range(10):
            yield b" " * 200

    before = refused()
    async with httpx.AsyncClient(base_url=base_url) as client:
        r = await client.post(path, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "REVFLOW_API_MAX_BODY_BYTES" in r.json()["detail"]
    assert refused() == before + 1


async def test_body_within_the_limit_reaches_the_endpoint(base_url):
    before = refused()
    async with httpx.AsyncClient(base_url=base_url) as client:
        r = await client.post(
            "/api/plans/1/cancel",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 422  # parsed by the endpoint, which finds it malformed
    assert refused() == before
