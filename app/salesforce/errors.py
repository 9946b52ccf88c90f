"""Errors from the Salesforce REST API.

    SalesforceError                 any failed call; .status, .code, .message
    ├── SessionExpired              401 INVALID_SESSION_ID (re-authenticate once)
    ├── RequestLimitExceeded        403 REQUEST_LIMIT_EXCEEDED (pause, do not hot-retry)
    └── TransientError              5xx, UNABLE_TO_LOCK_ROW, network errors (retry with backoff)

Per-record outcomes of sObject Collections are not exceptions: see ``RecordResult``.
"""

from __future__ import annotations


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
