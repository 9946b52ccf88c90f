"""Comments from the plan page: posted through the comments service by an operator,
shown safely in the plan's trail beside the automated events; viewers only read."""

from __future__ import annotations

from html import unescape

from sqlalchemy import select

from revflow.alerts.rules_file import compile_rules
from revflow.alerts.runtime import AlertRuntime, install
from revflow.db.database import Database
from revflow.db.models import Alert, AuditEntry, Comment
from revflow.links import ConsoleSettings
from revflow.security.identity import Role
from tests.consolekit import console_app, logged_in, make_user
from tests.plankit import insert_plan

STEPS = [{"key": "so", "kind": "callout"}, {"key": "invoice", "kind": "milestone"}]
MENTION_RULES = """\
on_call: {email: oncall@example.com}
rules:
  - name: mentions
    events: [mention]
    notify: [{to: on_call, via: email}]
"""


async def comments(db: Database) -> list[Comment]:
    async with db.read() as s:
        return list((await s.scalars(select(Comment).order_by(Comment.id))).all())


async def test_a_comment_posted_from_the_plan_page_appears_in_its_trail_safely(db) -> None:
    pid = await insert_plan(db, STEPS)
    app = console_app(db)
    body = "Customer **confirmed** the VAT id <script>alert('x')</script> [x](javascript:alert(1))"
    async with logged_in(app, db, Role.OPERATOR, name="otto") as web:
        before = await web.get(f"/console/plans/{pid}")
        assert 'id="comment-form"' in before.text
        r = await web.post(f"/console/plans/{pid}/comments", data={"body": body, "step": "so"})
        page = await web.get(f"/console/plans/{pid}")
    assert r.status_code == 200
    assert "added to the timeline" in r.text
    for text in (r.text, page.text):
        assert "<strong>confirmed</strong>" in text
        assert "<script>alert" not in text  # the tag comes through as text only
        assert "&lt;script&gt;alert" in text
        assert 'href="javascript:' not in text
        assert "comment on so" in text
    [c] = await comments(db)
    assert (c.author, c.author_name, c.step_key, c.body) == ("user:otto", "otto", "so", body)
    async with db.read() as s:
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "comment.added"))
    assert entry is not None and entry.actor == "user:otto"


async def test_comments_and_events_share_one_trail_in_time_order(db) -> None:
    pid = await insert_plan(db, STEPS)
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR, name="otto") as web:
        await web.post(f"/console/plans/{pid}/comments", data={"body": "first note"})
        await web.post(f"/console/plans/{pid}/act", data={"action": "cancel", "reason": "dup"})
        await web.post(
            f"/console/plans/{pid}/comments", data={"body": "second note", "format": "plain"}
        )
        page = await web.get(f"/console/plans/{pid}")
    trail = unescape(page.text[page.text.index('id="audit"') :])
    first, cancel, second = (
        trail.index("first note"),
        trail.index("operator.cancel"),
        trail.index("second note"),
    )
    assert first < cancel < second


async def test_a_refused_comment_says_why_and_keeps_the_text(db) -> None:
    pid = await insert_plan(db, STEPS)
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR) as web:
        blank = await web.post(f"/console/plans/{pid}/comments", data={"body": "   "})
        step = await web.post(
            f"/console/plans/{pid}/comments", data={"body": "kept text", "step": "nope"}
        )
        fmt = await web.post(f"/console/plans/{pid}/comments", data={"body": "x", "format": "html"})
        gone = await web.post("/console/plans/999/comments", data={"body": "x"})
    assert blank.status_code == 422 and "a comment needs some text" in blank.text
    assert step.status_code == 404 and "has no step" in unescape(step.text)
    assert ">kept text</textarea>" in step.text
    assert fmt.status_code == 422 and "format must be one of" in fmt.text
    assert gone.status_code == 404 and "no plan 999" in gone.text
    assert await comments(db) == []


async def test_a_viewer_sees_comments_but_no_form_and_cannot_post(db) -> None:
    pid = await insert_plan(db, STEPS)
    app = console_app(db)
    async with logged_in(app, db, Role.OPERATOR, name="otto") as web:
        await web.post(f"/console/plans/{pid}/comments", data={"body": "from otto"})
    async with logged_in(app, db, Role.VIEWER, name="vera") as web:
        page = await web.get(f"/console/plans/{pid}")
        refused = await web.post(f"/console/plans/{pid}/comments", data={"body": "from vera"})
    assert page.status_code == 200 and "from otto" in page.text
    assert 'id="comment-form"' not in page.text
    assert refused.status_code == 403 and "operator" in refused.text
    assert [c.body for c in await comments(db)] == ["from otto"]


async def test_a_mention_tells_that_person_through_the_alert_rules(db) -> None:
    ruleset, problems = compile_rules(MENTION_RULES, "rules.yaml")
    assert ruleset is not None, problems
    install(AlertRuntime(ruleset, ConsoleSettings(public_url="https://rf.test")))
    pid = await insert_plan(db, STEPS)
    app = console_app(db)
    await make_user(app, db, "ada", Role.VIEWER)
    async with logged_in(app, db, Role.OPERATOR, name="otto") as web:
        r = await web.post(f"/console/plans/{pid}/comments", data={"body": "@ada please check"})
    assert r.status_code == 200
    [c] = await comments(db)
    assert c.mentions == ["ada"]
    async with db.read() as s:
        kinds = list((await s.scalars(select(Alert.kind))).all())
    assert kinds == ["mention"]
