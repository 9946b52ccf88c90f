"""Security: encryption of what Revflow stores, identities and roles, the audit chain."""
