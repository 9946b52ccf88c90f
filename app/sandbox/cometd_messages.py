"""Bayeux message shapes for the sandbox's CometD endpoint: advice, replies, errors and
the message that delivers one stored event (wire facts §1)."""

from __future__ import annotations

from typing import Any

from revflow.sandbox.events import StoredEvent

Message = dict[str, Any]

BROWSER_COOKIE = "BAYEUX_BROWSER"
CONNECT_ADVICE = {"reconnect": "retry", "interval": 0, "timeout": 110000}
MULTI_CLIENT_ADVICE = {**CONNECT_ADVICE, "interval": 2000, "multiple-clients": True}
HANDSHAKE_ADVICE = {"reconnect": "handshake", "interval": 0}
NONE_ADVICE = {"reconnect": "none"}
MIN_API_VERSION = 37.0
REPLAY_INVALID = (
    "400::The replayId {{{rid}}} you provided was invalid.  Please provide a valid ID, "
    "-2 to replay all events, or -1 to replay only new events."
)
REPLAY_NOT_IN_MAP = (
    "400::The replayId for channel {{{channel}}} wasn't found using the provided replay ID map "
    "{{{{{mapping}}}}}. Ensure that the channel name you provided in the replay map is valid and "
    "matches the channel name used for subscribing."
)


def bayeux_reply(msg: Message, successful: bool = True, **extra: Any) -> Message:
    out: Message = {"channel": msg.get("channel")}
    for key in ("clientId", "subscription", "id"):  # id echoed unchanged, same JSON type
        if key in msg:
            out[key] = msg[key]
    out["successful"] = successful
    out.update(extra)
    return out


def bayeux_error(msg: Message, error: str, advice: dict[str, Any] | None = None) -> Message:
    extra: dict[str, Any] = {"error": error}
    if advice is not None:
        extra["advice"] = advice
    return bayeux_reply(msg, False, **extra)


def event_message(event: StoredEvent) -> Message:
    """The Bayeux message that delivers one stored event (facts §1.7, §1.8)."""
    meta: dict[str, Any] = {"replayId": event.replay_id}
    if event.channel.startswith("/event/"):
        meta = {"EventUuid": event.event_uuid, "replayId": event.replay_id}
    data = {"schema": event.schema_id, "payload": event.payload, "event": meta}
    return {"channel": event.channel, "data": data}
