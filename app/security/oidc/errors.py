"""Why an OIDC login failed; the API turns each into its HTTP status.

OidcError
 ├── LoginExpired     400  unknown, used or timed-out state; state not this browser's
 ├── ProviderError    502  the provider could not be reached or answered an error
 ├── TokenRejected    401  the ID token failed validation (signature, iss, aud, exp, nonce)
 └── NoRole           403  the person has no role mapped from their claims
"""

from __future__ import annotations


class OidcError(Exception):
    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class LoginExpired(OidcError):
    status = 400


class ProviderError(OidcError):
    status = 502


class TokenRejected(OidcError):
    status = 401


class NoRole(OidcError):
    status = 403
