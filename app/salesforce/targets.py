"""Which sObject a plan's record is, and which of its fields Revflow writes.

A plan belongs to one Salesforce record: an Order, or a Quote.  The record's id
says which: the first three characters of a Salesforce id are its object's key
prefix, fixed for standard objects in every org (Order ``801``, Quote ``0Q0``).  So
the write-back paths that know only the record id (status, ERP number, error,
jeopardy, refusal notices) find the sObject and field names here, from the Order's
``WritebackSettings`` or its ``quote`` section.
"""

from __future__ import annotations

from dataclasses import dataclass

from revflow.config import WritebackSettings

QUOTE_KEY_PREFIX = "0Q0"
ORDER = "Order"
QUOTE = "Quote"
RECORD_TYPES = (ORDER, QUOTE)  # the sObjects plans are for


@dataclass(frozen=True)
class RecordFields:
    """The write-back fields of one kind of record ("" for one it does not have)."""

    sobject: str
    status_field: str
    erp_number_field: str
    error_field: str
    jeopardy_field: str
    status_map: dict[str, str]


def sobject_of(record_id: str) -> str:
    """``Quote`` for a Quote id, else ``Order``."""
    return QUOTE if record_id.startswith(QUOTE_KEY_PREFIX) else ORDER


def fields_for(writeback: WritebackSettings, record_id: str) -> RecordFields:
    """The write-back fields of the record ``record_id`` is the id of."""
    if sobject_of(record_id) == QUOTE:
        q = writeback.quote
        return RecordFields(
            QUOTE,
            q.status_field,
            q.erp_number_field,
            q.error_field,
            "",  # a Quote has no requested date, so no jeopardy
            writeback.status_map if q.status_map is None else q.status_map,
        )
    return RecordFields(
        ORDER,
        writeback.status_field,
        writeback.erp_number_field,
        writeback.error_field,
        writeback.jeopardy_field,
        writeback.status_map,
    )


def own_fields(writeback: WritebackSettings) -> frozenset[str]:
    """Every field Revflow writes on Orders and Quotes (an update of only these is an echo)."""
    names: set[str] = {writeback.plan_url_field}  # the Order's link to its plan
    for record_id in ("", QUOTE_KEY_PREFIX):
        f = fields_for(writeback, record_id)
        names.update((f.status_field, f.erp_number_field, f.error_field, f.jeopardy_field))
    return frozenset(n for n in names if n)
