"""The role a person gets from their provider's claims (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revflow.security.identity import Role


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """The strings at ``path`` (dotted, e.g. ``realm_access.roles``) in ``claims``.

    A list gives its string items, a string gives itself; anything else, nothing.
    """
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return []
        value = value[part]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def role_from_claims(
    claims: Mapping[str, Any], role_claim: str, group_roles: Mapping[str, Role]
) -> Role | None:
    """The strongest role the claim's values map to; None when none maps.

    With ``group_roles`` the values are groups looked up there; without, they
    are role names (unknown ones ignored).
    """
    values = claim_values(claims, role_claim)
    if group_roles:
        roles = [group_roles[v] for v in values if v in group_roles]
    else:
        names = {r.value for r in Role}
        roles = [Role(v) for v in values if v in names]
    return max(roles, key=lambda r: r.rank, default=None)
