"""A TCP proxy that can cut the line: database outages for the tests and the chaos demo.

Revflow connects to the proxy instead of the database.  ``cut()`` aborts every open
connection and stops listening, so new connections are refused (ECONNREFUSED) as
when the database host is down; ``restore()`` listens again on the same port.
``stall()`` keeps the connections open but forwards nothing (a network partition:
statements hang instead of failing) until ``resume()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger("revflow.sandbox.proxy")

CHUNK = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = 0
        self.cuts = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @classmethod
    def for_url(cls, url: str) -> TcpProxy:
        """A proxy to the host and port of a database URL (PostgreSQL: 5432 by default)."""
        parts = urlsplit(url)
        if not parts.hostname:
            raise ValueError(f"database URL {url!r} names no host to proxy")
        return cls(parts.hostname, parts.port or 5432)

    def proxied(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{self.host}:{self.port}" if userinfo else f"{self.host}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def is_cut(self) -> bool:
        return self._server is None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and abort the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        self.cuts += 1
        log.info("proxy cut", extra={"port": self.port, "target": f"{self.target}"})

    async def restore(self) -> None:
        if self._server is None:
            await self.start()
            log.info("proxy restored", extra={"port": self.port})

    def stall(self) -> None:
        """Forward nothing, in either direction, on any connection, until ``resume()``."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def close(self) -> None:
        self.resume()
        await self.cut()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()  # the database itself is down
            return
        if self.is_cut:  # cut while this connection was being opened
            client_w.transport.abort()
            server_w.transport.abort()
            return
        self.connections += 1
        self._open.update((client_w, server_w))
        for reader, writer in ((client_r, server_w), (server_r, client_w)):
            task = asyncio.create_task(self._pipe(reader, writer))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(CHUNK):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
