"""Comments copied to the Order's Chatter feed in the sandbox org by the mirror loop."""

from __future__ import annotations

from sqlalchemy import select

from revflow.comments.mirror import ChatterMirror
from revflow.comments.service import Author, add_comment
from revflow.comments.settings import CommentSettings
from revflow.db.database import Database
from revflow.db.models import Comment
from revflow.links import ConsoleSettings
from revflow.sandbox.org import SandboxOrg
from tests.orgkit import Shop, settings_for, sf_client
from tests.plankit import insert_plan

MIRROR = CommentSettings(mirror_to_chatter=True, mirror_max_attempts=2, mirror_backoff_s=0.001)
CONSOLE = ConsoleSettings(public_url="https://rf.test")


async def _comment(db: Database, plan_id: int, body: str, settings: CommentSettings) -> int:
    async with db.write() as s:
        added = await add_comment(s, plan_id, Author("user:ann", "Ann"), body, step_key="so",
                                  settings=settings)  # fmt: skip
    return added.comment.id


async def _row(db: Database, comment_id: int) -> Comment:
    async with db.read() as s:
        row = (await s.scalars(select(Comment).where(Comment.id == comment_id))).one()
    return row


async def test_a_comment_is_posted_on_its_order_once(db: Database, org: SandboxOrg) -> None:
    order = Shop(org).order()
    pid = await insert_plan(db, [{"key": "so", "kind": "callout"}], order_id=order)
    quiet = await _comment(db, pid, "not mirrored", CommentSettings())
    cid = await _comment(db, pid, "Customer **confirmed** the VAT id", MIRROR)
    client = sf_client(settings_for(org, "sqlite://"))
    mirror = ChatterMirror(db, client, MIRROR, CONSOLE)
    try:
        assert await mirror.tick() == 1
        assert await mirror.tick() == 0  # sent: not posted again
    finally:
        await client.aclose()
    (post,) = org.feed_elements
    assert post["parent"] == {"id": order}
    assert post["body"]["text"].startswith("Ann commented in Revflow (plan")
    assert "step so" in post["body"]["text"] and "**confirmed**" in post["body"]["text"]
    assert post["body"]["messageSegments"][-1] == {
        "type": "Link",
        "url": f"https://rf.test/console/plans/{pid}",
    }
    row = await _row(db, cid)
    assert (row.mirror_state, row.chatter_id, row.mirror_attempts) == ("sent", post["id"], 1)
    assert (await _row(db, quiet)).mirror_state is None


async def test_an_org_at_its_limit_is_retried_then_given_up(db: Database, org: SandboxOrg) -> None:
    order = Shop(org).order()
    pid = await insert_plan(db, [{"key": "so", "kind": "callout"}], order_id=order)
    cid = await _comment(db, pid, "hello", MIRROR)
    client = sf_client(settings_for(org, "sqlite://"))
    mirror = ChatterMirror(db, client, MIRROR, CONSOLE)
    org.faults.request_limit_exceeded = True
    try:
        assert await mirror.tick() == 1
        row = await _row(db, cid)
        assert row.mirror_state == "pending" and "REQUEST_LIMIT_EXCEEDED" in (
            row.mirror_error or ""
        )
        while (await _row(db, cid)).mirror_state == "pending":
            await mirror.tick()
    finally:
        await client.aclose()
    row = await _row(db, cid)
    assert (row.mirror_state, row.mirror_attempts) == ("failed", 2)
    assert org.feed_elements == []


async def test_a_refused_post_fails_at_once_with_the_reason(db: Database, org: SandboxOrg) -> None:
    pid = await insert_plan(db, [{"key": "so", "kind": "callout"}])  # an order the org lacks
    cid = await _comment(db, pid, "hello", MIRROR)
    client = sf_client(settings_for(org, "sqlite://"))
    try:
        assert await ChatterMirror(db, client, MIRROR, CONSOLE).tick() == 1
    finally:
        await client.aclose()
    row = await _row(db, cid)
    assert (row.mirror_state, row.mirror_attempts) == ("failed", 1)
    assert (row.mirror_error or "").startswith("NOT_FOUND")
