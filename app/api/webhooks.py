"""Webhook endpoints: state, parked messages and attempts; enable, disable, replay.

    GET  /api/webhooks                        every endpoint's state
    GET  /api/webhooks/{connector}            state, parked messages, recent attempts
    POST /api/webhooks/{connector}/enable     {"reason"}                        admin
    POST /api/webhooks/{connector}/disable    {"reason"}                        admin
    POST /api/webhooks/{connector}/replay     {"reason", "message_id"} or       operator
                                              {"reason", "since"?, "until"?}

Reads need the viewer role; the actor in the audit log is the authenticated caller.

Bad input is 400/422, an unknown endpoint or message 404, replaying to a disabled
endpoint or a message that is not parked 409.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from revflow.api.errors import http_error
from revflow.api.schemas import AUTH_ERRORS, ActionIn, Problem, Utc
from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.security.dependencies import require
from revflow.security.identity import Identity, Role
from revflow.webhooks import actions, endpoints
from revflow.webhooks import status as status_view
from revflow.webhooks.errors import OperatorError

T = TypeVar("T")
Viewer = Depends(require(Role.VIEWER))
Operator = Annotated[Identity, Depends(require(Role.OPERATOR))]
Admin = Annotated[Identity, Depends(require(Role.ADMIN))]

# what revflow.webhooks.endpoints.check_name accepts, declared for the OpenAPI document
ConnectorName = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]


def _one_selection(schema: dict[str, Any]) -> None:
    """A replay names a message or a time range (``since`` and/or ``until``), not both."""
    string, null = {"type": "string"}, {"type": "null"}
    schema["anyOf"] = [
        {
            "required": ["message_id"],
            "properties": {"message_id": string, "since": null, "until": null},
        },
        {
            "properties": {"message_id": null},
            "anyOf": [
                {"required": ["since"], "properties": {"since": string}},
                {"required": ["until"], "properties": {"until": string}},
            ],
        },
    ]


class ReplayIn(ActionIn):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_selection)
    message_id: str | None = Field(default=None, min_length=1, max_length=200)
    since: datetime | None = None
    until: datetime | None = None


class EndpointOut(BaseModel):
    connector: str
    url: str
    state: str
    disabled_reason: str | None
    disabled_at: Utc | None
    disabled_by: str | None
    consecutive_failures: int
    first_failure_at: Utc | None
    last_failure_at: Utc | None
    last_success_at: Utc | None
    last_error: str | None


class MessageOut(BaseModel):
    message_id: str
    plan_id: int
    order_id: str
    step: str
    action: str | None
    created_at: Utc | None
    note: str | None


class AttemptOut(BaseModel):
    message_id: str
    action: str
    attempt: int
    outcome: str
    status_code: int | None
    error: str | None
    started_at: Utc | None
    finished_at: Utc | None


class EndpointStatusOut(EndpointOut):
    parked_count: int
    parked: list[MessageOut]
    attempts: list[AttemptOut]


class EndpointActionOut(BaseModel):
    connector: str
    state: str
    changed: bool


class ReplayOut(BaseModel):
    connector: str
    replayed: int
    messages: list[MessageOut]


async def _call(action: Awaitable[T]) -> T:
    try:
        return await action
    except OperatorError as exc:
        raise http_error(exc) from None


def webhooks_router(
    db: Database, writeback: WritebackSettings, configured: Mapping[str, str]
) -> APIRouter:
    """``configured``: the webhook connectors Revflow sends with, name -> URL."""
    router = APIRouter(tags=["webhooks"], responses=AUTH_ERRORS)
    known = dict(configured)
    errors: dict[int | str, dict[str, Any]] = {
        400: {"model": Problem},
        404: {"model": Problem},
        409: {"model": Problem},
    }

    @router.get("/api/webhooks", response_model=list[EndpointOut], dependencies=[Viewer])
    async def list_webhooks() -> list[dict[str, Any]]:
        """Every webhook endpoint: configured ones and those with a recorded state."""
        async with db.read() as s:
            return await status_view.list_endpoints(s, known)

    @router.get(
        "/api/webhooks/{connector}",
        response_model=EndpointStatusOut,
        responses=errors,
        dependencies=[Viewer],
    )
    async def webhook_status(
        connector: ConnectorName,
        attempts: Annotated[int, Query(ge=1, le=1000)] = 20,
        parked: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """State, parked messages (oldest first) and the latest delivery attempts."""
        async with db.read() as s:
            return await _call(
                status_view.status(s, connector, known, attempts=attempts, parked=parked)
            )

    @router.post(
        "/api/webhooks/{connector}/enable", response_model=EndpointActionOut, responses=errors
    )
    async def enable(connector: ConnectorName, body: ActionIn, who: Admin) -> dict[str, Any]:
        """Enable the endpoint (parked messages stay parked until replayed)."""
        await _known(connector)
        async with db.write() as s:
            return await _call(actions.enable(s, connector, actor=who.subject, reason=body.reason))

    @router.post(
        "/api/webhooks/{connector}/disable", response_model=EndpointActionOut, responses=errors
    )
    async def disable(connector: ConnectorName, body: ActionIn, who: Admin) -> dict[str, Any]:
        """Disable the endpoint by hand: its messages are parked, not sent."""
        await _known(connector)
        async with db.write() as s:
            return await _call(
                actions.disable(
                    s, connector, known.get(connector, ""), actor=who.subject, reason=body.reason
                )
            )

    @router.post("/api/webhooks/{connector}/replay", response_model=ReplayOut, responses=errors)
    async def replay(connector: ConnectorName, body: ReplayIn, who: Operator) -> dict[str, Any]:
        """Send parked messages again, by ``message_id`` (webhook-id) or ``since``/``until``."""
        await _known(connector)
        async with db.write() as s:
            return await _call(
                actions.replay(
                    s,
                    writeback,
                    connector,
                    actor=who.subject,
                    reason=body.reason,
                    message_id=body.message_id,
                    since=body.since,
                    until=body.until,
                )
            )

    async def _known(connector: str) -> None:
        try:
            endpoints.check_name(connector)
        except OperatorError as exc:
            raise http_error(exc) from None
        if connector in known:
            return
        async with db.read() as s:
            row = await endpoints.get_endpoint(s, connector)
        if row is None:
            raise HTTPException(404, f"no webhook endpoint {connector!r}")

    return router
