"""Structured JSON logs with the order's correlation id on every line."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

# uvicorn adds a coloured copy of some messages as `color_message`; JSON logs want none
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"color_message"}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _ANSI.sub("", record.getMessage()),
        }
        cid = correlation_id.get()
        if cid:
            entry["correlation_id"] = cid
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", stream: object = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiocometd_ng", "aiosfstream_ng", "httpx", "aiohttp.access", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # through our JSON handler
        uv = logging.getLogger(name)
        uv.handlers[:] = []
        uv.propagate = True
