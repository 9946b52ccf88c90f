"""The operator console: server-rendered pages at ``/console`` (issue 14).

``mount(api, db, oidc=...)`` adds its pages, static files and login to the API app.
Page modules are small: see ``revflow.console.pages`` for the helpers they use.
"""

from revflow.console.mount import mount

__all__ = ["mount"]
