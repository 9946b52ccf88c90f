"""Pub/Sub RPC failures (a gRPC status plus ``error-code``/``rpc-id`` trailers) and the
checks every RPC starts with: the ``accesstoken``/``instanceurl``/``tenantid`` metadata and
the topic.
"""

from __future__ import annotations

from typing import Any, NoReturn

import grpc

from revflow.sandbox.avro_schemas import TopicSchema, topic_schema
from revflow.sandbox.org import SandboxOrg, Session

ERROR_PREFIX = "sfdc.platform.eventbus.grpc."


class _Aborted(Exception):
    pass


async def fail(
    context: grpc.aio.ServicerContext[Any, Any],
    code: grpc.StatusCode,
    suffix: str,
    message: str,
    rpc_id: str,
) -> NoReturn:
    """End the RPC with ``code`` and the ``error-code``/``rpc-id`` trailers."""
    context.set_trailing_metadata((("error-code", ERROR_PREFIX + suffix), ("rpc-id", rpc_id)))
    await context.abort(code, f"{message} rpcId: {rpc_id}")
    raise _Aborted  # abort always raises; keeps type checkers happy


def session_of(org: SandboxOrg, context: grpc.aio.ServicerContext[Any, Any]) -> Session | None:
    """The session the call's metadata names, or None (after the ``expire_sessions`` fault)."""
    if org.faults.expire_sessions:
        org.faults.expire_sessions = False
        org.revoke_all()
        org.note_fault("expire_sessions")
    md = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
    token, instance, tenant = (md.get(k, "") for k in ("accesstoken", "instanceurl", "tenantid"))
    if not token or not instance or tenant != org.org_id:
        return None
    if org.instance_url and _norm(instance) != _norm(org.instance_url):
        return None
    return org.session_for(token)


async def auth(
    org: SandboxOrg, context: grpc.aio.ServicerContext[Any, Any], rpc_id: str
) -> Session:
    """The caller's session, else fail the RPC with UNAUTHENTICATED."""
    session = session_of(org, context)
    if session is None:
        await fail(
            context,
            grpc.StatusCode.UNAUTHENTICATED,
            "service.auth.error",
            "Authentication failed: invalid or expired token, instance URL or tenant id.",
            rpc_id,
        )
    return session


async def topic(
    org: SandboxOrg, context: grpc.aio.ServicerContext[Any, Any], name: str, rpc_id: str
) -> TopicSchema:
    """The topic's schema, else fail the RPC with NOT_FOUND."""
    ts = topic_schema(name)
    if ts is None or not org.events.exists(name):
        await fail(
            context,
            grpc.StatusCode.NOT_FOUND,
            "topic.not.found",
            f"Topic {name!r} does not exist or you don't have access to it.",
            rpc_id,
        )
    return ts


def _norm(url: str) -> str:
    return url.rstrip("/").replace("://127.0.0.1", "://localhost").lower()
