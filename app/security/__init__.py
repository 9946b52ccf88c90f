"""Security: who may call Revflow and what is protected at rest.

``identity`` (Identity, Role), ``dependencies`` (``require(role)`` for routes),
``sessions`` (cookies, CSRF, timeouts; every login ends in ``start_session``),
``keys`` (API keys), ``users`` (local users with TOTP), ``repository`` (queries),
``keyring`` (encryption of stored secrets).
"""
