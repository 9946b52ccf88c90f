"""Errors of the salesforce package: the REST API's, the token's, the org's shape.

    SalesforceError                 any failed call; .status, .code, .message
    ├── SessionExpired              401 INVALID_SESSION_ID (re-authenticate once)
    ├── RequestLimitExceeded        403 REQUEST_LIMIT_EXCEEDED (pause, do not hot-retry)
    ├── TransientError              5xx, UNABLE_TO_LOCK_ROW, network errors (retry with backoff)
    └── BudgetExhausted             Revflow used its share of the org's daily API calls
                                    (non-urgent work waits; raised before any call)
    AuthError                       the org refused to issue a token
    OrgCheckError                   the org lacks fields Revflow needs; .problems

Per-record outcomes of sObject Collections are not exceptions: see ``RecordResult``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from revflow.salesforce.org_check import Problem


class SalesforceError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class SessionExpired(SalesforceError):
    pass


class RequestLimitExceeded(SalesforceError):
    pass


class TransientError(SalesforceError):
    pass


class BudgetExhausted(SalesforceError):
    """Non-urgent work was refused: Revflow used its share of the daily allocation."""

    def __init__(self, used: int, budget: int) -> None:
        super().__init__(
            0, "REVFLOW_API_BUDGET", f"Revflow used {used} of its {budget} API calls budget"
        )


class AuthError(Exception):
    """The org refused to issue a token; the message carries its error text."""


class OrgCheckError(Exception):
    """Fields the org lacks; ``str()`` is the whole report, one problem per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = f"the Salesforce org lacks {len(problems)} thing(s) Revflow needs:"
        super().__init__("\n".join([head, *(f"  {p}" for p in problems)]))


#: per-record codes worth retrying with backoff
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
#: the record is in the Recycle Bin: drop the write, do not retry
DROP_CODES = frozenset({"ENTITY_IS_DELETED"})
#: permanent errors caused by Revflow's configuration (field names, field access,
#: picklist values from the status map, object types), not by the record's data
CONFIGURATION_CODES = frozenset(
    {
        "INVALID_FIELD",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "INVALID_TYPE",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        "JSON_PARSER_ERROR",
        "MISSING_ARGUMENT",
        "INVALID_ID_FIELD",
    }
)


def classify(code: str) -> str:
    """``transient``, ``deleted``, ``configuration`` or ``data`` for a per-record code.

    ``data`` covers validation rules (``FIELD_CUSTOM_VALIDATION_EXCEPTION``),
    ``STRING_TOO_LONG``, ``REQUIRED_FIELD_MISSING``, ``MALFORMED_ID``,
    ``DUPLICATE_VALUE`` and anything unknown: the record's data must change.
    """
    if code in RETRYABLE_CODES:
        return "transient"
    if code in DROP_CODES:
        return "deleted"
    if code in CONFIGURATION_CODES:
        return "configuration"
    return "data"
