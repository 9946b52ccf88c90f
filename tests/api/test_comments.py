"""The comments endpoints over ASGI: roles, the author, safe HTML, and 4xx answers."""

from __future__ import annotations

import httpx
import pytest

from revflow.api.app import create_app
from revflow.comments.settings import CommentSettings
from revflow.security.identity import Role
from tests.plankit import insert_plan
from tests.securitykit import make_key


@pytest.fixture
async def plan_id(db):
    return await insert_plan(db, [{"key": "so", "kind": "callout"}])


def _api(db, key) -> httpx.AsyncClient:
    app = create_app(db, comments=CommentSettings(max_length=200))
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://t", headers=key.headers)


async def test_an_operator_comments_and_a_viewer_reads_it(db, plan_id) -> None:
    operator = await make_key(db, Role.OPERATOR, name="ann")
    viewer = await make_key(db, Role.VIEWER, name="val")
    body = "Blocked on **VAT**. <script>alert(1)</script> [x](javascript:alert(1)) @nobody"
    async with _api(db, operator) as api:
        created = await api.post(
            f"/api/plans/{plan_id}/comments", json={"body": body, "step": "so"}
        )
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["author"] == operator.subject and out["author_name"] == "ann"
    assert out["step"] == "so" and out["format"] == "markdown" and out["body"] == body
    assert "<strong>VAT</strong>" in out["html"]
    assert "<script" not in out["html"] and "&lt;script&gt;" in out["html"]
    assert "href" not in out["html"]
    assert out["unknown_mentions"] == ["nobody"] and out["mentions"] == []
    async with _api(db, viewer) as api:
        listed = await api.get(f"/api/plans/{plan_id}/comments")
        by_step = await api.get(f"/api/plans/{plan_id}/comments", params={"step": "other"})
        refused = await api.post(f"/api/plans/{plan_id}/comments", json={"body": "me too"})
        audit = await api.get(f"/api/plans/{plan_id}/audit")
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()] == [out["id"]]
    assert listed.json()[0]["html"] == out["html"]
    assert by_step.json() == []
    assert refused.status_code == 403  # a viewer may read, not write
    added = [e for e in audit.json() if e["action"] == "comment.added"]
    assert len(added) == 1 and added[0]["actor"] == operator.subject


async def test_bad_requests_get_4xx_with_a_message(db, plan_id) -> None:
    operator = await make_key(db, Role.OPERATOR)
    async with _api(db, operator) as api:
        cases = [
            (f"/api/plans/{plan_id}/comments", {"body": "  "}, 400, "needs some text"),
            (f"/api/plans/{plan_id}/comments", {"body": "x" * 201}, 400, "at most 200"),
            (f"/api/plans/{plan_id}/comments", {"body": "x", "step": "zz"}, 404, "no step 'zz'"),
            (f"/api/plans/{plan_id + 1}/comments", {"body": "x"}, 404, f"no plan {plan_id + 1}"),
            (f"/api/plans/{plan_id}/comments", {"body": "x", "format": "html"}, 422, "format"),
            (f"/api/plans/{plan_id}/comments", {"body": "x", "colour": 1}, 422, "colour"),
            (f"/api/plans/{plan_id}/comments", {}, 422, "body"),
            # PostgreSQL cannot store NUL: refused before it gets there (found by schemathesis)
            (f"/api/plans/{plan_id}/comments", {"body": "a\x00b"}, 422, "body"),
            (f"/api/plans/{plan_id}/comments", {"body": "x", "step": "s\x00"}, 422, "step"),
        ]
        for path, payload, status, words in cases:
            answer = await api.post(path, json=payload)
            assert answer.status_code == status, (payload, answer.text)
            assert words in answer.text
        missing = await api.get(f"/api/plans/{plan_id + 1}/comments")
        assert missing.status_code == 404
        listed = await api.get(f"/api/plans/{plan_id}/comments")
        assert listed.json() == []
