"""Who may call Revflow: identities and roles, API keys, local users, browser sessions.

``identity`` (Identity, Role), ``dependencies`` (``require(role)`` for routes),
``sessions`` (cookies, CSRF, timeouts; every login ends in ``start_session``),
``keys`` (API keys), ``users`` (local users with TOTP), ``repository`` (queries).
"""
