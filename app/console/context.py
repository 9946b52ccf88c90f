"""What the console's pages need of the service's settings, kept on ``app.state``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request

from revflow.config import SalesforceSettings, WritebackSettings


@dataclass(frozen=True)
class ConsoleContext:
    writeback: WritebackSettings = field(default_factory=WritebackSettings)
    webhooks: Mapping[str, str] = field(default_factory=dict)  # connector name -> URL
    salesforce: SalesforceSettings = field(default_factory=SalesforceSettings)
    mappings_dir: Path | None = None  # None: the mappings page says none is configured


def install_context(api: FastAPI, context: ConsoleContext) -> None:
    api.state.console_context = context


def context_of(request: Request) -> ConsoleContext:
    found = getattr(request.app.state, "console_context", None)
    return found if isinstance(found, ConsoleContext) else ConsoleContext()
