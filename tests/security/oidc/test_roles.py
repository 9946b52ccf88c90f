"""Claims to a role: groups through the map, or role names themselves."""

from __future__ import annotations

from revflow.security.identity import Role
from revflow.security.oidc.roles import claim_values, role_from_claims

GROUPS = {"revflow-admins": Role.ADMIN, "revflow-ops": Role.OPERATOR, "readers": Role.VIEWER}


def test_the_strongest_mapped_group_wins() -> None:
    claims = {"groups": ["readers", "unrelated", "revflow-ops"]}
    assert role_from_claims(claims, "groups", GROUPS) is Role.OPERATOR


def test_no_mapped_group_gives_no_role() -> None:
    assert role_from_claims({"groups": ["staff"]}, "groups", GROUPS) is None
    assert role_from_claims({}, "groups", GROUPS) is None
    assert role_from_claims({"groups": "staff"}, "groups", GROUPS) is None


def test_without_a_map_the_values_are_role_names() -> None:
    assert role_from_claims({"roles": ["viewer", "admin", "boss"]}, "roles", {}) is Role.ADMIN
    assert role_from_claims({"roles": "operator"}, "roles", {}) is Role.OPERATOR
    assert role_from_claims({"roles": ["Admin"]}, "roles", {}) is None  # names are exact


def test_a_dotted_claim_reads_nested_objects() -> None:
    claims = {"realm_access": {"roles": ["offline_access", "revflow-admins"]}}
    assert claim_values(claims, "realm_access.roles") == ["offline_access", "revflow-admins"]
    assert role_from_claims(claims, "realm_access.roles", GROUPS) is Role.ADMIN
    assert claim_values(claims, "realm_access.groups") == []
    assert claim_values({"realm_access": "x"}, "realm_access.roles") == []


def test_values_that_are_not_strings_are_ignored() -> None:
    assert claim_values({"groups": ["readers", 7, None, {"a": 1}]}, "groups") == ["readers"]
    assert claim_values({"groups": 7}, "groups") == []
