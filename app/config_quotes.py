"""Settings for Quotes: when a Quote gets a plan, and what is written back onto it.

``QuoteSettings`` (``REVFLOW_QUOTES__*``): with ``enabled``, a Quote whose ``Status``
becomes one of ``statuses`` gets a plan from ``plan_file`` (a plan with ``source:
Quote``; unset: the shipped ``plans/quote_to_erp.yaml``).  ``QuoteWriteback``
(``REVFLOW_WRITEBACK__QUOTE__*``) names the Quote fields for status, ERP number and
error, written through the same outbox as the Order's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: the change-event channels Quote plans need (one of them, or /data/ChangeEvents)
QUOTE_CHANNELS = ("/data/QuoteChangeEvent", "/data/QuoteLineItemChangeEvent")
ALL_CHANGES = "/data/ChangeEvents"


class QuoteWriteback(BaseModel):
    """The Quote fields Revflow writes (the salesforce/ package declares them)."""

    model_config = ConfigDict(extra="forbid")

    status_field: str = "Fulfillment_Status__c"
    erp_number_field: str = "ERP_Quote_Number__c"
    error_field: str = "Fulfillment_Error__c"
    # plan state (or "<step key>.<step state>") -> Quote status value; unset: the Order's
    status_map: dict[str, str] | None = None


class QuoteSettings(BaseModel):
    """Whether Quotes are orchestrated, which statuses start a plan, and which plan."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    statuses: list[str] = Field(default=["Approved", "Accepted"], min_length=1)
    plan_file: Path | None = None  # unset: the shipped plans/quote_to_erp.yaml


def channel_problem(quotes: QuoteSettings, ingest: Any) -> str | None:
    """Why Quote plans would never start with these ingest settings, or None."""
    if not quotes.enabled:
        return None
    if ingest.transport == "polling":
        return (
            "invalid setting REVFLOW_QUOTES__ENABLED: Quotes need change events "
            "(REVFLOW_INGEST__TRANSPORT cometd or pubsub); the polling sweep reads Orders only"
        )
    if QUOTE_CHANNELS[0] in ingest.channels or ALL_CHANGES in ingest.channels:
        return None
    return (
        f"invalid setting REVFLOW_INGEST__CHANNELS: REVFLOW_QUOTES__ENABLED needs "
        f"{QUOTE_CHANNELS[0]} (and {QUOTE_CHANNELS[1]}, so edited lines are seen) "
        f"in the channels, got {ingest.channels}"
    )
