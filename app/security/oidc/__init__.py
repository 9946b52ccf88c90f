"""OpenID Connect login for people: the authorization code flow with PKCE.

``settings`` (``REVFLOW_OIDC__*``), ``provider`` (discovery, keys and the flow's
calls, with authlib), ``id_token`` (signature and claims checks), ``roles`` (claims
to a Role, pure), ``login`` (the services the routes in ``revflow.api.oidc`` call),
``repository`` (logins under way), ``errors`` (each failure's HTTP status).
"""
