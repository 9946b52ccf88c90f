"""The TCP proxy forwards bytes, cuts every connection and refuses new ones, and restores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from revflow.sandbox.tcp_proxy import TcpProxy


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data.upper())
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def roundtrip(
    port: int, text: bytes
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(text)
    await writer.drain()
    return await reader.readexactly(len(text)), reader, writer


async def test_cut_severs_and_refuses_then_restore_serves_again(echo: int) -> None:
    proxy = TcpProxy("127.0.0.1", echo)
    await proxy.start()
    try:
        answer, reader, writer = await roundtrip(proxy.port, b"hello")
        assert answer == b"HELLO" and proxy.connections == 1
        port = proxy.port
        await proxy.cut()
        assert await reader.read(1024) == b""  # the open connection is gone
        writer.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        await proxy.restore()
        assert proxy.port == port  # the same address: clients reconnect as they were
        answer, _reader, writer = await roundtrip(proxy.port, b"again")
        assert answer == b"AGAIN" and proxy.cuts == 1
        writer.close()
    finally:
        await proxy.close()


def test_proxied_url_keeps_user_database_and_driver() -> None:
    proxy = TcpProxy.for_url("postgresql+asyncpg://postgres:pw@db.internal:6543/revflow")
    assert proxy.target == ("db.internal", 6543)
    proxy.port = 40000
    assert proxy.proxied("postgresql+asyncpg://postgres:pw@db.internal:6543/revflow") == (
        "postgresql+asyncpg://postgres:pw@127.0.0.1:40000/revflow"
    )
    assert TcpProxy.for_url("postgresql://u@host/db").target == ("host", 5432)
    with pytest.raises(ValueError, match="names no host"):
        TcpProxy.for_url("sqlite+aiosqlite:///revflow.sqlite")


async def test_stall_holds_the_bytes_until_resume(echo: int) -> None:
    proxy = TcpProxy("127.0.0.1", echo)
    await proxy.start()
    try:
        _answer, reader, writer = await roundtrip(proxy.port, b"one")
        proxy.stall()
        writer.write(b"two")
        await writer.drain()
        pending = asyncio.create_task(reader.readexactly(3))
        done, _ = await asyncio.wait([pending], timeout=0.3)
        assert not done  # nothing gets through while stalled
        proxy.resume()
        assert await pending == b"TWO"
        writer.close()
    finally:
        await proxy.close()
