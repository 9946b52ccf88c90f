"""Request and response shapes of the comments API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from revflow.clock import aware
from revflow.comments.render import render
from revflow.db.models import Comment

Utc = Annotated[datetime, AfterValidator(aware)]  # SQLite hands back naive UTC times
# PostgreSQL's text cannot hold NUL; refused here as a 422, not at the INSERT as a 500
NO_NUL = r"^[^\x00]*$"


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(
        min_length=1, max_length=100_000, pattern=NO_NUL, description="plain text or Markdown"
    )
    format: Literal["markdown", "plain"] = "markdown"
    step: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        pattern=NO_NUL,
        description="a step's key, for a step's comment",
    )


class CommentOut(BaseModel):
    id: int
    plan_id: int
    step: str | None
    author: str  # the identity's subject, as in the audit log
    author_name: str
    format: str
    body: str
    html: str  # the body rendered safely (no raw HTML, no script links)
    mentions: list[str]  # the usernames the comment notified
    created_at: Utc
    chatter: str | None = None  # the Chatter mirror: pending | sent | failed
    chatter_id: str | None = None


class CommentAddedOut(CommentOut):
    unknown_mentions: list[str] = []  # @names that are no user or team Revflow knows


def comment_out(c: Comment) -> CommentOut:
    return CommentOut(
        id=c.id,
        plan_id=c.plan_id,
        step=c.step_key,
        author=c.author,
        author_name=c.author_name,
        format=c.format,
        body=c.body,
        html=render(c.body, c.format),
        mentions=list(c.mentions or []),
        created_at=c.created_at,
        chatter=c.mirror_state,
        chatter_id=c.chatter_id,
    )
