"""Authenticated API clients for tests: real API keys, created in the test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from revflow.db.database import Database
from revflow.security.identity import Role
from revflow.security.keys import create_key


@dataclass(frozen=True)
class Caller:
    """An API key: its headers and the audit actor it appears as."""

    headers: dict[str, str]
    subject: str


async def make_key(db: Database, role: Role = Role.ADMIN, name: str = "tests") -> Caller:
    async with db.write() as s:
        new = await create_key(s, name=name, role=role, actor="tests")
    return Caller({"Authorization": f"Bearer {new.secret}"}, f"key:{new.row.prefix}")


@asynccontextmanager
async def client(
    app: FastAPI, db: Database, role: Role | None = Role.ADMIN, base_url: str = "http://t"
) -> AsyncIterator[httpx.AsyncClient]:
    """An ASGI client for ``app`` that sends a key with ``role`` (None: no credentials)."""
    headers = (await make_key(db, role)).headers if role else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url, headers=headers) as c:
        yield c


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a loopback port; yields its base URL."""
    import asyncio
    import socket

    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()
