"""Parse delivered Salesforce events into one shape, whatever the transport.

Pure functions.  The dedupe key does not depend on the transport or replay id:
``transactionKey``/``sequenceNumber``/record ids for change events, ``EventUuid``
for platform events.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from revflow.ingest.errors import MalformedEvent


@dataclass(frozen=True)
class IncomingEvent:
    channel: str
    replay_id: str
    dedupe_key: str
    payload: dict[str, Any]
    entity: str | None = None
    change_type: str | None = None
    record_ids: tuple[str, ...] = ()
    transaction_key: str | None = None
    sequence_number: int | None = None
    change_origin: str = ""
    commit_user: str | None = None
    changed_fields: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_change_event(self) -> bool:
        return self.entity is not None


def parse_cometd(message: dict[str, Any]) -> IncomingEvent:
    """A CometD event message (``{"channel", "data": {"payload", "event"}}``)."""
    try:
        channel = message["channel"]
        data = message["data"]
        payload = data["payload"]
        event = data.get("event") or {}
        replay_id = event["replayId"]
    except (KeyError, TypeError) as exc:
        raise MalformedEvent(f"missing {exc} in CometD message") from None
    if not isinstance(payload, dict):
        raise MalformedEvent("payload is not an object")
    header = payload.get("ChangeEventHeader")
    if header is None:
        uuid = event.get("EventUuid")
        key = f"pe:{uuid}" if uuid else f"pe:{channel}:{replay_id}"
        return IncomingEvent(channel, str(replay_id), key, payload)
    return _change_event(channel, str(replay_id), payload, header)


def _change_event(
    channel: str, replay_id: str, payload: dict[str, Any], header: Any
) -> IncomingEvent:
    if not isinstance(header, dict):
        raise MalformedEvent("ChangeEventHeader is not an object")
    try:
        entity = str(header["entityName"])
        change_type = str(header["changeType"])
        tx = str(header["transactionKey"])
        seq = int(header["sequenceNumber"])
        record_ids = tuple(str(r) for r in header.get("recordIds") or ())
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(f"bad ChangeEventHeader: {exc!r}") from None
    ids = ",".join(sorted(record_ids)) or entity
    return IncomingEvent(
        channel=channel,
        replay_id=replay_id,
        dedupe_key=f"cdc:{tx}:{seq}:{ids}"[:200],
        payload=payload,
        entity=entity,
        change_type=change_type,
        record_ids=record_ids,
        transaction_key=tx,
        sequence_number=seq,
        change_origin=str(header.get("changeOrigin") or ""),
        commit_user=header.get("commitUser"),
        changed_fields=tuple(header.get("changedFields") or ()),
    )


SYSTEM_FIELDS = frozenset({"LastModifiedDate", "LastModifiedById", "SystemModstamp"})
GAP_TYPES = frozenset({"GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"})
OVERFLOW = "GAP_OVERFLOW"


def echo_reason(
    event: IncomingEvent,
    client_id: str,
    integration_user_id: str = "",
    own_fields: Collection[str] = (),
) -> str | None:
    """Why the event is Revflow's own write-back, or None.

    ``echo_client``: the Call Options client tag in ``changeOrigin``; ``echo_user``: the
    integration user committed it; ``echo_fields``: an UPDATE that changed only
    ``own_fields`` (the write-back fields) and system fields.  Pass ``own_fields``
    empty to disable the field rule.
    """
    if client_id and f"client={client_id}" in event.change_origin:
        return "echo_client"
    if integration_user_id and event.commit_user == integration_user_id:
        return "echo_user"
    if (
        own_fields
        and event.change_type == "UPDATE"
        and event.changed_fields
        and all(f in own_fields or f in SYSTEM_FIELDS for f in event.changed_fields)
    ):
        return "echo_fields"
    return None


def echo_on_arrival(
    event: IncomingEvent,
    client_id: str,
    integration_user_id: str = "",
    own_fields: Collection[str] = (),
) -> str | None:
    """``echo_reason`` as the intake would judge the event, for the consumer to record
    it as skipped at once: None for gaps and overflows (a header only, never an echo)."""
    if event.change_type in GAP_TYPES or event.change_type == OVERFLOW:
        return None
    return echo_reason(event, client_id, integration_user_id, own_fields)


INERT_TYPES = frozenset({"CREATE", "DELETE", "UNDELETE"})


def inert(event: IncomingEvent) -> bool:
    """An Order or order line created, deleted or undeleted, not as an activation: the
    intake never acts on it ("no trigger"), so the consumer stores it skipped."""
    return (
        event.entity in ("Order", "OrderItem")
        and event.change_type in INERT_TYPES
        and not is_activation(event)
    )


def echo_note(reason: str) -> str:
    """The inbox note of a skipped echo (the intake and the consumer write the same)."""
    return f"echo of Revflow's own write ({reason})"


NO_TRIGGER = "no_trigger"  # the skip reason (metric label) of an event nothing acts on
NO_TRIGGER_NOTE = "no trigger"  # its inbox note


def skip_note(reason: str) -> str:
    """The inbox note of an event stored skipped for ``reason`` (no trigger or an echo)."""
    return NO_TRIGGER_NOTE if reason == NO_TRIGGER else echo_note(reason)


def is_echo(
    event: IncomingEvent,
    client_id: str,
    integration_user_id: str = "",
    own_fields: Collection[str] = (),
) -> bool:
    """Revflow's own write-back, recognised by client tag, user or changed fields."""
    return echo_reason(event, client_id, integration_user_id, own_fields) is not None


def is_activation(event: IncomingEvent) -> bool:
    """An Order whose Status became Activated in this change."""
    if event.entity != "Order" or event.payload.get("Status") != "Activated":
        return False
    if event.change_type == "CREATE":
        return True
    return event.change_type == "UPDATE" and "Status" in event.changed_fields


def needs_read(event: IncomingEvent) -> bool:
    """Whether handling the event reads records over REST (the intake paces those):
    an activation, a gap or overflow, or an order line edited."""
    if event.change_type in GAP_TYPES or event.change_type == OVERFLOW:
        return True
    if event.entity == "OrderItem" and event.change_type == "UPDATE":
        return True
    return is_activation(event)
