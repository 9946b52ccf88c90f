from __future__ import annotations

from types import MappingProxyType

import pytest

from revflow.mapping.paths import Scope, parse_path, path_getter
from tests.mapping import sample_order


def get(text: str, root: object, item: object = None) -> object:
    return parse_path(text).get(Scope(root, root if item is None else item))


def test_nested_path() -> None:
    assert get("Account.BillingCountry", sample_order()) == "DE"


@pytest.mark.parametrize(
    "record",
    [
        sample_order(Account=None),
        sample_order(Account={}),
        {k: v for k, v in sample_order().items() if k != "Account"},
    ],
    ids=["null-parent", "empty-parent", "absent-parent"],
)
def test_missing_relationship_yields_none(record: dict) -> None:
    assert get("Account.Name", record) is None


def test_path_through_scalar_yields_none() -> None:
    assert get("OrderNumber.Length", sample_order()) is None


def test_relative_and_root_paths_inside_item() -> None:
    order = sample_order()
    item = order["OrderItems"][0]
    assert get("Product2.ProductCode", order, item) == "WIDGET-1"
    assert get("$.CurrencyIsoCode", order, item) == "EUR"
    assert get("CurrencyIsoCode", order, item) is None


def test_path_is_compiled_once() -> None:
    ref = parse_path("$.Account.Name")
    assert ref.absolute and ref.parts == ("Account", "Name") and str(ref) == "$.Account.Name"


@pytest.mark.parametrize(
    "text", ["", "Account.", ".Name", "Account..Name", "Order Items", "a-b", "$.", "1abc"]
)
def test_invalid_paths(text: str) -> None:
    with pytest.raises(ValueError, match="invalid path"):
        parse_path(text)


VALUES = [
    {"A": {"B": {"C": 1}}, "X": 2},
    MappingProxyType({"A": MappingProxyType({"B": {"C": 3}}), "X": 4}),
    {"A": None, "X": None},
    {"A": "text", "X": [1]},
    {},
    None,
    "scalar",
]


@pytest.mark.parametrize("text", ["X", "A.B", "A.B.C", "$.X", "$.A.B", "$.A.B.C"])
@pytest.mark.parametrize("root", VALUES)
@pytest.mark.parametrize("item", VALUES)
def test_path_getter_equals_get(text: str, root: object, item: object) -> None:
    path = parse_path(text)
    scope = Scope(root, item)
    assert path_getter(path)(scope) == path.get(scope)
