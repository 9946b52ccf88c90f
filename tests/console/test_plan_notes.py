"""Comments and audit entries merged into one trail, comments rendered safely."""

from __future__ import annotations

from datetime import UTC, datetime

from revflow.console.plan_notes import merge
from revflow.db.models import Comment


def comment(at: datetime, body: str, step: str | None = None, fmt: str = "markdown") -> Comment:
    return Comment(
        plan_id=1, step_key=step, author="user:ann", author_name="ann", format=fmt, body=body,
        created_at=at,
    )  # fmt: skip


def test_entries_are_in_time_order_with_naive_and_aware_times() -> None:
    t = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(4)]
    trail = [(t[0], "worker", "plan.created", ""), (t[2].replace(tzinfo=None), "w", "x", "{}")]
    entries = merge(trail, [comment(t[3], "late"), comment(t[1].replace(tzinfo=None), "early")])
    assert [e.action for e in entries] == ["plan.created", "comment", "x", "comment"]
    assert [e.is_comment for e in entries] == [False, True, False, True]
    assert entries[1].actor == "ann (user:ann)"


def test_a_comment_body_is_rendered_without_raw_html() -> None:
    [e] = merge([], [comment(datetime(2026, 1, 1, tzinfo=UTC), "<b>hi</b> *there*", step="so")])
    assert e.html is not None and "<em>there</em>" in e.html and "<b>" not in e.html
    assert e.step == "so"
    [plain] = merge([], [comment(datetime(2026, 1, 1, tzinfo=UTC), "a <i>\nb", fmt="plain")])
    assert plain.html == "<p>a &lt;i&gt;<br>\nb</p>\n"
