"""``REVFLOW_RETENTION__*``: how long payloads of finished work are kept."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RetentionSettings(BaseModel):
    """Payload retention; off until ``payloads_days`` is set."""

    model_config = ConfigDict(extra="forbid")

    # payloads of work finished longer ago than this are purged (None: kept forever)
    payloads_days: float | None = Field(default=None, gt=0)
    interval_s: float = Field(default=3600.0, gt=0)  # how often the loop purges
    batch_size: int = Field(default=500, ge=1, le=10_000)  # rows per transaction
