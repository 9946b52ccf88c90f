"""The one check of who acts and why."""

from __future__ import annotations

import pytest

from revflow.orchestration.actors import ACTOR_MAX, REASON_MAX, check_actor
from revflow.orchestration.errors import BadRequest, OperatorError


@pytest.mark.parametrize(
    ("actor", "reason", "required", "words"),
    [
        ("", "why", True, "actor must be 1 to 100"),
        ("  ", "why", True, "actor must be 1 to 100"),
        ("a" * (ACTOR_MAX + 1), "why", True, "actor must be 1 to 100"),
        ("ann", " ", True, "a reason is required"),
        ("ann", "r" * (REASON_MAX + 1), False, "reason must be at most 2000"),
    ],
)
def test_refused(actor: str, reason: str, required: bool, words: str) -> None:
    with pytest.raises(BadRequest, match=words) as caught:
        check_actor(actor, reason, reason_required=required)
    assert isinstance(caught.value, OperatorError) and words in caught.value.detail


def test_accepted() -> None:
    check_actor("a" * ACTOR_MAX, "r" * REASON_MAX)
    check_actor("ann", "", reason_required=False)
