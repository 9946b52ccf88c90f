"""Adding comments: checks, the audit entry, mentions resolved and told through alerts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from revflow.alerts import runtime as alert_runtime
from revflow.alerts.rules_file import compile_rules
from revflow.clock import utcnow
from revflow.comments.service import Author, add_comment, comments_of
from revflow.comments.settings import CommentSettings
from revflow.db.database import Database
from revflow.db.models import Alert, AlertDelivery, AuditEntry, AuthSession, LocalUser
from revflow.links import ConsoleSettings
from revflow.orchestration.errors import BadRequest, NotFound
from tests.plankit import ORDER_ID, insert_plan

ANN = Author("user:ann", "ann")
RULES = """\
teams:
  finance-ops:
    email: finance-ops@example.com
    slack: finance
rules:
  - name: mentions
    events: [mention]
    severity: info
    notify:
      - to: owner
        via: [email, slack, salesforce]
"""


@pytest.fixture
def rules() -> Iterator[None]:
    ruleset, problems = compile_rules(RULES)
    assert ruleset is not None, problems
    alert_runtime.install(
        alert_runtime.AlertRuntime(ruleset, ConsoleSettings(public_url="https://rf.test"))
    )
    yield
    alert_runtime.install(None)


async def _people(db: Database) -> None:
    async with db.write() as s:
        for name in ("ada", "gone"):
            s.add(
                LocalUser(
                    username=name,
                    password_hash="x",
                    role="operator",
                    totp_seed_ciphertext="x",
                    created_by="tests",
                    disabled_at=utcnow() if name == "gone" else None,
                )
            )
        now = utcnow()
        s.add(
            AuthSession(
                token_hash="t" * 64,
                csrf_hash="c" * 64,
                subject="oidc:https://idp.test#b0b",
                name="bob.smith@example.com",
                role="viewer",
                expires_at=now + timedelta(hours=1),
            )
        )


async def test_a_comment_is_stored_audited_and_listed(db: Database) -> None:
    pid = await insert_plan(db, [{"key": "so", "kind": "callout"}])
    async with db.write() as s:
        added = await add_comment(s, pid, ANN, "Customer **confirmed** the VAT id", step_key="so")
    async with db.read() as s:
        (comment,) = await comments_of(s, pid)
        assert await comments_of(s, pid, "other") == []
        entries = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "comment.added"))
        ).all()
    assert comment.id == added.comment.id and comment.step_key == "so"
    assert (comment.author, comment.author_name, comment.format) == ("user:ann", "ann", "markdown")
    (entry,) = entries
    assert entry.actor == "user:ann" and entry.plan_id == pid and entry.order_id == ORDER_ID
    assert entry.detail["comment_id"] == comment.id and entry.detail["step"] == "so"


async def test_bad_comments_are_refused_with_a_reason_and_nothing_is_kept(db: Database) -> None:
    pid = await insert_plan(db, [{"key": "so", "kind": "callout"}])
    short = CommentSettings(max_length=10)
    cases = [
        (dict(plan_id=pid, body="   "), BadRequest, "needs some text"),
        (dict(plan_id=pid, body="x" * 11, settings=short), BadRequest, "at most 10 characters"),
        (dict(plan_id=pid, body="x", fmt="html"), BadRequest, "format must be one of"),
        (dict(plan_id=pid + 1, body="x"), NotFound, f"no plan {pid + 1}"),
        (dict(plan_id=pid, body="x", step_key="nope"), NotFound, "has no step 'nope'"),
    ]
    for kwargs, error, words in cases:
        with pytest.raises(error, match=words):
            async with db.write() as s:
                plan_id = kwargs.pop("plan_id")
                body = kwargs.pop("body")
                await add_comment(s, plan_id, ANN, body, **kwargs)  # type: ignore[arg-type]
    async with db.read() as s:
        assert await comments_of(s, pid) == []
        with pytest.raises(NotFound):
            await comments_of(s, pid + 1)


async def test_mentions_of_users_identities_and_teams_raise_one_alert_each(
    db: Database, rules: None
) -> None:
    await _people(db)
    pid = await insert_plan(db, [{"key": "so", "kind": "callout"}])
    body = "@ada and @bob.smith, see this; @finance-ops FYI. @gone and @nobody too"
    async with db.write() as s:
        added = await add_comment(s, pid, ANN, body)
    assert [p.subject for p in added.notified] == [
        "user:ada",
        "oidc:https://idp.test#b0b",
        "team:finance-ops",
    ]
    assert added.unknown_mentions == ["gone", "nobody"]  # disabled users are not told
    assert added.comment.mentions == ["ada", "bob.smith", "finance-ops"]
    async with db.read() as s:
        alerts = (await s.scalars(select(Alert).order_by(Alert.id))).all()
        deliveries = (await s.scalars(select(AlertDelivery).order_by(AlertDelivery.id))).all()
    assert [(a.kind, a.subject) for a in alerts] == [
        ("mention", f"comment:{added.comment.id}:ada"),
        ("mention", f"comment:{added.comment.id}:bob.smith"),
        ("mention", f"comment:{added.comment.id}:finance-ops"),
    ]
    assert all(a.plan_id == pid and a.severity == "info" for a in alerts)
    assert alerts[0].title == "ann mentioned ada on order " + ORDER_ID
    by_alert = {
        a.subject.split(":")[-1]: sorted(
            (d.channel, d.recipient_name, d.email) for d in deliveries if d.alert_id == a.id
        )
        for a in alerts
    }
    assert by_alert == {
        "ada": [("slack", "ada", "ada")],  # no email address known: Slack only
        "bob.smith": [
            ("email", "bob.smith@example.com", "bob.smith@example.com"),
            ("slack", "bob.smith@example.com", "bob.smith@example.com"),
        ],
        "finance-ops": [
            ("email", "finance-ops", "finance-ops@example.com"),
            ("salesforce", "finance-ops", "finance-ops@example.com"),
            ("slack", "finance-ops", "finance-ops@example.com"),
        ],
    }


async def test_without_a_mention_rule_nobody_is_told(db: Database) -> None:
    await _people(db)
    pid = await insert_plan(db, [{"key": "so", "kind": "callout"}])
    async with db.write() as s:
        added = await add_comment(s, pid, ANN, "@ada look")
    assert [p.username for p in added.notified] == ["ada"]
    async with db.read() as s:
        assert (await s.scalars(select(Alert))).all() == []
