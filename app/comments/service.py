"""Adding and reading comments, in the caller's transaction.

    comment = await add_comment(s, plan_id, author, "Waiting on @ada's VAT number")

Adding one checks the plan (and step), records who wrote it in the audit log,
tells the people it mentions (an alert of kind ``mention``, through the alert
channels) and, with ``mirror_to_chatter``, queues its copy on the Order's Chatter
feed: all of it in the same transaction as the comment itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.clock import utcnow
from revflow.comments import render, repository
from revflow.comments.mentions import Person, notify, resolve, teams
from revflow.comments.settings import CommentSettings
from revflow.db.models import Comment
from revflow.metrics import COMMENTS_ADDED
from revflow.orchestration.errors import BadRequest, NotFound


@dataclass(frozen=True)
class Author:
    """Who writes: the identity's ``subject`` (the audit actor) and display name."""

    subject: str
    name: str


@dataclass(frozen=True)
class Added:
    comment: Comment
    notified: list[Person]
    unknown_mentions: list[str]  # @names that are no user Revflow knows


async def add_comment(
    s: AsyncSession,
    plan_id: int,
    author: Author,
    body: str,
    *,
    fmt: str = "markdown",
    step_key: str | None = None,
    settings: CommentSettings | None = None,
) -> Added:
    """Store a comment on a plan (or one of its steps); BadRequest/NotFound if refused."""
    settings = settings or CommentSettings()
    if fmt not in render.FORMATS:
        raise BadRequest(f"format must be one of {', '.join(render.FORMATS)}, not {fmt!r}")
    if not body.strip():
        raise BadRequest("a comment needs some text")
    if len(body) > settings.max_length:
        raise BadRequest(
            f"a comment has at most {settings.max_length} characters, this one {len(body)}"
        )
    plan = await repository.get_plan(s, plan_id)
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    if step_key is not None and not await repository.step_exists(s, plan_id, step_key):
        raise NotFound(f"plan {plan_id} has no step {step_key!r}")
    named = render.mentions(body)
    people = await resolve(s, named, teams())
    known = {p.username for p in people}
    now = utcnow()
    comment = Comment(
        plan_id=plan_id,
        step_key=step_key,
        author=author.subject,
        author_name=author.name,
        format=fmt,
        body=body,
        mentions=sorted(known),
        created_at=now,
        mirror_state="pending" if settings.mirror_to_chatter else None,
        mirror_due_at=now if settings.mirror_to_chatter else None,
        mirror_attempts=0,
    )
    repository.add(s, comment)
    await s.flush()  # the id, for the audit entry and the alert
    audit.record(
        s,
        author.subject,
        "comment.added",
        plan_id=plan_id,
        order_id=plan.order_id,
        correlation_id=plan.correlation_id,
        comment_id=comment.id,
        step=step_key,
        mentions=sorted(known),
    )
    await notify(s, comment, plan, people)
    COMMENTS_ADDED.inc()
    return Added(comment, people, [n for n in named if n not in known])


async def comments_of(s: AsyncSession, plan_id: int, step_key: str | None = None) -> list[Comment]:
    """A plan's comments, oldest first; NotFound for an unknown plan."""
    if await repository.get_plan(s, plan_id) is None:
        raise NotFound(f"no plan {plan_id}")
    return await repository.of_plan(s, plan_id, step_key)
