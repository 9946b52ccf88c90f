"""Salesforce ids: checksum suffix, normalisation, key prefixes."""

from __future__ import annotations

import pytest

from revflow.sandbox.ids import (
    KEY_PREFIXES,
    MalformedIdError,
    checksum,
    id_of_type,
    is_valid_id,
    new_id,
    sobject_for_prefix,
    to18,
)
from revflow.sandbox.org import DEMO_USER_ID, INTEGRATION_USER_ID, ORG_ID


def test_known_ids_get_their_real_suffix() -> None:
    assert to18("8015e00000Q7mNp") == "8015e00000Q7mNpAAJ"
    assert checksum("0015e00000ABCDE") == "AA5"  # every char of the 3rd chunk upper: 31 -> '5'
    assert checksum("00D5e000000RvFl") == "EAK"


def test_to18_keeps_an_18_char_id_and_rejects_bad_ones() -> None:
    assert to18("8015e00000Q7mNpAAJ") == "8015e00000Q7mNpAAJ"
    for bad in ("8015e00000Q7mNpAAA", "8015e00000Q7mN", "8015e00000Q7mN!", "", "x" * 18):
        assert not is_valid_id(bad)
        with pytest.raises(MalformedIdError):
            to18(bad)


def test_sandbox_constants_are_valid_ids() -> None:
    for value in (ORG_ID, INTEGRATION_USER_ID, DEMO_USER_ID):
        assert is_valid_id(value) and len(value) == 18


@pytest.mark.parametrize(
    ("sobject", "prefix"),
    [
        ("Order", "801"),
        ("OrderItem", "802"),
        ("Quote", "0Q0"),
        ("QuoteLineItem", "0QL"),
        ("Account", "001"),
        ("Product2", "01t"),
    ],
)
def test_new_ids_carry_key_prefix_and_checksum(sobject: str, prefix: str) -> None:
    assert KEY_PREFIXES[sobject] == prefix
    ids = {new_id(sobject) for _ in range(50)}
    assert len(ids) == 50
    for value in ids:
        assert value.startswith(prefix) and len(value) == 18 and is_valid_id(value)
        assert value[15:] == checksum(value[:15])
        assert sobject_for_prefix(value[:3]) == sobject


def test_id_of_type_checks_the_prefix() -> None:
    order = new_id("Order")
    assert id_of_type(order[:15], "Order") == order
    with pytest.raises(MalformedIdError):
        id_of_type(order, "Account")
