"""Who acts and why: the one check of an operator action's actor and reason.

Every audited action (plan actions, webhook endpoint actions; from the API or the
CLI) names its actor and, for most, a reason; both go to the audit log.  The API's
request models use the same limits (``ACTOR_MAX``, ``REASON_MAX``).
"""

from __future__ import annotations

import re

from revflow.orchestration.errors import BadRequest

ACTOR_MAX = 100  # characters
REASON_MAX = 2000  # characters
# a character that is white space neither to Python nor to JavaScript (whose \s differ:
# \x1c-\x1f and \x85 are space to Python only, \ufeff to JavaScript only); the API
# declares it as the pattern of actor and reason, so a fuzzer and this check agree
NOT_BLANK = r"[^\s\x1c-\x1f\x85\ufeff]"
_NOT_BLANK = re.compile(NOT_BLANK)


def _blank(text: str) -> bool:
    return _NOT_BLANK.search(text) is None


def check_actor(actor: str, reason: str, *, reason_required: bool = True) -> None:
    """Raise ``BadRequest`` unless ``actor`` (and ``reason``) are fit for the audit log."""
    if _blank(actor) or len(actor) > ACTOR_MAX:
        raise BadRequest(f"actor must be 1 to {ACTOR_MAX} characters")
    if reason_required and _blank(reason):
        raise BadRequest("a reason is required")
    if len(reason) > REASON_MAX:
        raise BadRequest(f"reason must be at most {REASON_MAX} characters")
