"""JSON logs: every line one JSON object, uvicorn's included, with no colour codes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from revflow.demo import DemoEnvironment
from revflow.logs import configure_logging


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    yield stream
    root.handlers[:], level = saved
    root.setLevel(level)


async def test_the_services_uvicorn_lines_are_plain_json(captured, database_url):
    async with DemoEnvironment(database_url=database_url, serve_api=True) as env:
        assert env.revflow is not None and env.revflow._server is not None
        server = env.revflow._server
        while not server.started:  # noqa: ASYNC110 - uvicorn's own task sets it
            await asyncio.sleep(0.01)
    lines = captured.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]  # each line parses on its own
    uvicorn_lines = [e for e in entries if e["logger"].startswith("uvicorn")]
    assert any("Uvicorn running on http://127.0.0.1:" in e["msg"] for e in uvicorn_lines)
    assert "\x1b" not in captured.getvalue() and "\\u001b" not in captured.getvalue()
    assert not any("color_message" in e for e in entries)
