"""Comment settings (``REVFLOW_COMMENTS__*``)."""

from __future__ import annotations

from pydantic import Field

from revflow.config_types import Section


class CommentSettings(Section):
    """Comments on plans and steps, and their optional copy in Salesforce."""

    max_length: int = Field(default=10_000, ge=1, le=100_000)  # characters of a body
    # post each new comment on its Order's Chatter feed, so Salesforce users see it
    mirror_to_chatter: bool = False
    # the mirror loop
    mirror_interval_s: float = Field(default=2.0, gt=0)
    mirror_lease_s: float = Field(default=60.0, gt=0)
    mirror_max_attempts: int = Field(default=8, ge=1)
    mirror_backoff_s: float = Field(default=10.0, gt=0)  # doubled after each failure
