"""Links to Revflow's console pages, for records and messages outside Revflow.

    plan_url(settings.console, 42)   # "https://revflow.example.com/console/plans/42"

``REVFLOW_CONSOLE__PUBLIC_URL`` is the console's address as people outside reach it
(behind a proxy, say); without it Revflow writes no links.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

PLAN_PATH = "/console/plans/{id}"


class ConsoleSettings(BaseModel):
    """Where people reach Revflow's console."""

    model_config = ConfigDict(extra="forbid")

    public_url: str = ""  # e.g. https://revflow.example.com; "" writes no links
    # the order fields the dashboard's region and channel filters read (dotted paths)
    region_field: str = "Account.BillingCountry"
    channel_field: str = "Type"

    @field_validator("public_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an absolute http(s) URL: {value!r}")
        if parts.query or parts.fragment:
            raise ValueError("a base URL has no query or fragment")
        return value.rstrip("/")


def plan_url(console: ConsoleSettings, plan_id: int) -> str | None:
    """The console page of plan ``plan_id``; None when no public URL is configured."""
    if not console.public_url:
        return None
    return console.public_url + PLAN_PATH.format(id=plan_id)
