"""The sandbox org's bell notifications and Chatter posts, as Revflow's alerts send them.

``GET|POST /services/data/vXX.X/actions/standard/customNotificationAction``
    ``{"inputs": [{"customNotifTypeId", "recipientIds", "title", "body", "targetId"}]}``
    answers one result per input: ``{"actionName", "errors", "isSuccess", "outputValues"}``
    (HTTP 200 when any input succeeded, 400 when none did).
``POST /services/data/vXX.X/chatter/feed-elements``
    ``{"body": {"messageSegments": [...]}, "feedElementType": "FeedItem", "subjectId"}``
    answers 201 and the Feed Item; ``GET .../chatter/feed-elements/<id>`` reads it back.

Limits and rules follow Salesforce's documentation (shared/reference/notification-
channels.md): title <= 250, body <= 750, <= 500 recipients, a target id or page
reference; a Chatter body <= 10,000 characters and <= 25 mentions.  What the org
accepted is kept on ``SandboxOrg.notifications`` / ``feed_elements`` and served by
``GET /_sandbox/notifications`` and ``GET /_sandbox/feed-elements``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from revflow.sandbox.ids import is_valid_id, new_id, sobject_for_prefix, to18
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.records import RecordStore, format_datetime
from revflow.sandbox.schema import SfError, sobject

ACTION = "customNotificationAction"
NOTIFICATION_TYPE = "CustomNotificationType"
MAX_TITLE, MAX_BODY, MAX_RECIPIENTS = 250, 750, 500
MAX_POST, MAX_MENTIONS = 10_000, 25
SUCCESS = "Your custom notification is processed successfully."
# User, Account (team), Opportunity (team), Group or Queue
RECIPIENT_PREFIXES = ("005", "001", "006", "00G")
SEGMENT_TYPES = ("Text", "Mention", "MarkupBegin", "MarkupEnd", "Link", "Hashtag", "EntityLink")
MARKUP_TYPES = (
    "Bold", "Code", "Italic", "ListItem", "OrderedList", "Paragraph", "Strikethrough",
    "Underline", "UnorderedList", "Hyperlink",
)  # fmt: skip
_INPUTS = {
    "customNotifTypeId": ("reference", True),
    "recipientIds": ("reference", True),
    "title": ("string", True),
    "body": ("string", True),
    "targetId": ("reference", False),
    "targetPageRef": ("string", False),
    "senderId": ("reference", False),
    "actionGroup": ("string", False),
}

Handler = Callable[[Any, Mapping[str, str], Any, dict[str, str]], Any]


class InputError(Exception):
    """One invocable-action input refused: ``statusCode`` and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def notification_routes(
    org: SandboxOrg, store: RecordStore, reply: Callable[..., Any]
) -> list[tuple[str, Any, Handler]]:
    """Routes for ``RestApi``; ``reply(status, body)`` builds its Reply."""

    def describe(ctx: Any, *_: Any) -> Any:
        inputs = [
            {"name": name, "type": kind.upper(), "required": required}
            for name, (kind, required) in _INPUTS.items()
        ]
        outputs = [{"name": "SuccessMessage", "type": "STRING"}]
        return reply(
            200,
            {
                "name": ACTION,
                "label": "Send Custom Notification",
                "type": "CUSTOM_NOTIFICATION_ACTION",
                "inputs": inputs,
                "outputs": outputs,
            },
        )

    def notify(ctx: Any, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Any:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs:
            raise SfError("JSON_PARSER_ERROR", "Missing required field: inputs")
        results = []
        for item in inputs:
            try:
                sent = _notification(store, item)
            except InputError as exc:
                error = {"statusCode": exc.code, "message": exc.message, "fields": []}
                results.append(_result(False, [error], None))
                continue
            sent.update(senderId=sent.get("senderId") or ctx.session.user_id)
            sent.update(createdDate=format_datetime(org.events.clock()))
            org.notifications.append(sent)
            results.append(_result(True, None, {"SuccessMessage": SUCCESS}))
        return reply(200 if any(r["isSuccess"] for r in results) else 400, results)

    def post(ctx: Any, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Any:
        item = _feed_item(store, body, ctx.session.user_id)
        item.update(
            id=new_id("FeedItem"),
            createdDate=format_datetime(org.events.clock()),
            actor={"id": ctx.session.user_id, "type": "User"},
        )
        item["url"] = f"/services/data/v{ctx.version}/chatter/feed-elements/{item['id']}"
        org.feed_elements.append(item)
        return reply(201, item)

    def get(ctx: Any, q: Mapping[str, str], body: Any, p: dict[str, str]) -> Any:
        for item in org.feed_elements:
            if is_valid_id(p["id"]) and item["id"] == to18(p["id"]):
                return reply(200, item)
        raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)

    return [
        ("GET", re.compile(rf"/actions/standard/{ACTION}/?"), describe),
        ("POST", re.compile(rf"/actions/standard/{ACTION}/?"), notify),
        ("POST", re.compile(r"/chatter/feed-elements/?"), post),
        ("GET", re.compile(r"/chatter/feed-elements/(?P<id>\w+)/?"), get),
    ]


def _result(ok: bool, errors: list[dict[str, Any]] | None, out: Any) -> dict[str, Any]:
    return {"actionName": ACTION, "errors": errors, "isSuccess": ok, "outputValues": out}


def _notification(store: RecordStore, item: Any) -> dict[str, Any]:
    """A checked copy of one input, or the InputError Salesforce would give."""
    if not isinstance(item, dict):
        raise InputError("INVALID_INPUT", "Each input must be a JSON object")
    for name in item:
        if name not in _INPUTS:
            raise InputError("INVALID_INPUT", f"Invalid input parameter: {name}")
    for name, (_, required) in _INPUTS.items():
        if required and item.get(name) in (None, "", []):
            raise InputError("REQUIRED_FIELD_MISSING", f"Missing required input parameter: {name}")
    type_id = item["customNotifTypeId"]
    known = {r["Id"]: r for r in store.live(NOTIFICATION_TYPE)}
    if not is_valid_id(type_id) or to18(type_id) not in known:
        raise InputError(
            "INVALID_CROSS_REFERENCE_KEY",
            f"invalid cross reference id: customNotifTypeId {type_id!r} is no notification type",
        )
    recipients = item["recipientIds"]
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or len(recipients) > MAX_RECIPIENTS:
        raise InputError(
            "LIMIT_EXCEEDED", f"recipientIds takes a list of at most {MAX_RECIPIENTS} ids"
        )
    for rid in recipients:
        if not is_valid_id(rid) or str(rid)[:3] not in RECIPIENT_PREFIXES:
            raise InputError(
                "INVALID_ID_FIELD",
                f"Invalid recipient id {rid!r}: use User, Account, Opportunity, Group or Queue ids",
            )
    for name, limit in (("title", MAX_TITLE), ("body", MAX_BODY)):
        value = item[name]
        if not isinstance(value, str) or len(value) > limit:
            raise InputError(
                "STRING_TOO_LONG", f"{name}: data value too large (max length={limit})"
            )
    target, page_ref = item.get("targetId"), item.get("targetPageRef")
    if not target and not page_ref:
        raise InputError(
            "REQUIRED_FIELD_MISSING", "You must specify either a targetId or a targetPageRef"
        )
    if target:
        _existing(store, target, lambda m: InputError("INVALID_ID_FIELD", m))
    sent = {k: v for k, v in item.items()}
    sent.update(
        recipientIds=[to18(r) for r in recipients],
        notificationType=known[to18(type_id)]["DeveloperName"],
    )
    return sent


def _existing(store: RecordStore, rid: Any, error: Callable[[str], Exception]) -> str:
    """The 18-character form of a well-formed id whose record (if the org keeps it) exists.

    The sandbox stores no User, Group or Queue rows: their ids pass on form alone."""
    if not is_valid_id(rid):
        raise error(f"Invalid id: {rid!r}")
    sobj = sobject_for_prefix(str(rid)[:3])
    if sobj is not None and sobject(sobj) is not None:
        try:
            store.find(sobj, str(rid))
        except SfError:
            raise error(f"Invalid id: {rid} does not exist") from None
    return to18(str(rid))


def _feed_item(store: RecordStore, body: Any, user_id: str) -> dict[str, Any]:
    """The stored Feed Item for a ``FeedItemInput`` body, or a Connect REST error."""
    if not isinstance(body, dict):
        raise SfError("JSON_PARSER_ERROR", "Cannot deserialize instance of FeedItemInput")
    if body.get("feedElementType") != "FeedItem":
        raise SfError("INVALID_API_INPUT", "feedElementType: FeedItem is required")
    subject = body.get("subjectId")
    if not isinstance(subject, str) or not subject:
        raise SfError("INVALID_API_INPUT", "subjectId is required")
    subject = user_id if subject == "me" else subject

    def not_found(_: str) -> SfError:
        return SfError("NOT_FOUND", "The requested resource does not exist", status=404)

    subject = _existing(store, subject, not_found)
    segments = (body.get("body") or {}).get("messageSegments")
    if not isinstance(segments, list) or not segments:
        raise SfError("INVALID_API_INPUT", "body.messageSegments is required")
    text, mentions, out = "", 0, []
    for seg in segments:
        kind = seg.get("type") if isinstance(seg, dict) else None
        if kind not in SEGMENT_TYPES:
            raise SfError("INVALID_API_INPUT", f"Unknown message segment type: {kind!r}")
        if kind == "Text":
            if not isinstance(seg.get("text"), str):
                raise SfError("INVALID_API_INPUT", "a Text segment needs text")
            text += seg["text"]
        elif kind == "Mention":
            mentions += 1
            rid = seg.get("id")
            if not is_valid_id(rid) or str(rid)[:3] not in ("005", "00G", "0F9"):
                raise SfError("INVALID_API_INPUT", f"Invalid mention id: {rid!r}")
            text += f"@{rid}"
        elif kind in ("MarkupBegin", "MarkupEnd") and seg.get("markupType") not in MARKUP_TYPES:
            raise SfError("INVALID_API_INPUT", f"Unknown markupType: {seg.get('markupType')!r}")
        elif kind == "Link":
            if not isinstance(seg.get("url"), str):
                raise SfError("INVALID_API_INPUT", "a Link segment needs url")
            text += seg["url"]
        out.append(dict(seg))
    if len(text) > MAX_POST:
        raise SfError(
            "INVALID_API_INPUT", f"The body is {len(text)} characters; the limit is {MAX_POST}"
        )
    if mentions > MAX_MENTIONS:
        raise SfError("INVALID_API_INPUT", f"A post can mention at most {MAX_MENTIONS} users")
    return {
        "feedElementType": "FeedItem",
        "type": "TextPost",
        "body": {"text": text, "messageSegments": out},
        "parent": {"id": subject},
        "capabilities": {},
    }


def add_notification_routes(app: web.Application, org: SandboxOrg) -> None:
    """``GET /_sandbox/notifications`` and ``/_sandbox/feed-elements``: what the org got."""

    async def notifications(request: web.Request) -> web.Response:
        return web.json_response({"notifications": org.notifications})

    async def feed_elements(request: web.Request) -> web.Response:
        return web.json_response({"feedElements": org.feed_elements})

    app.router.add_get("/_sandbox/notifications", notifications)
    app.router.add_get("/_sandbox/feed-elements", feed_elements)
