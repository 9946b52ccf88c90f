"""Roles are ordered; an identity's subject is fit to be an audit actor."""

from __future__ import annotations

import pytest

from revflow.security.identity import Identity, Role


def test_roles_are_ordered_each_allowing_the_weaker_ones() -> None:
    order = [Role.METRICS, Role.VIEWER, Role.OPERATOR, Role.ADMIN]
    for i, have in enumerate(order):
        for j, needed in enumerate(order):
            assert have.allows(needed) is (i >= j), (have, needed)


def test_identity_subject_is_bounded_and_printable() -> None:
    who = Identity(subject="user:alice", name="Alice", role="viewer", method="session")  # type: ignore[arg-type]
    assert who.role is Role.VIEWER
    with pytest.raises(ValueError, match="1 to 100"):
        Identity(subject="x" * 101, name="x", role=Role.ADMIN, method="api_key")
    with pytest.raises(ValueError, match="printable"):
        Identity(subject="user:\r\x8b", name="x", role=Role.ADMIN, method="api_key")
    with pytest.raises(ValueError):
        Identity(subject="user:a", name="a", role="root", method="session")  # type: ignore[arg-type]
