"""What the console's pages need of the service's settings, kept on ``app.state``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from revflow.comments.settings import CommentSettings
from revflow.config import SalesforceSettings, WritebackSettings

# reads an Order (with its items) from the org by id; None: no such Order
OrderFetcher = Callable[[str], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True)
class ConsoleContext:
    writeback: WritebackSettings = field(default_factory=WritebackSettings)
    webhooks: Mapping[str, str] = field(default_factory=dict)  # connector name -> URL
    salesforce: SalesforceSettings = field(default_factory=SalesforceSettings)
    mappings_dir: Path | None = None  # None: the mappings page says none is configured
    fetch_order: OrderFetcher | None = None  # None: the preview takes pasted records only
    comments: CommentSettings = field(default_factory=CommentSettings)  # the plan page's form


def install_context(api: FastAPI, context: ConsoleContext) -> None:
    api.state.console_context = context


def context_of(request: Request) -> ConsoleContext:
    found = getattr(request.app.state, "console_context", None)
    return found if isinstance(found, ConsoleContext) else ConsoleContext()
