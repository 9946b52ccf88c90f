"""Property: any valid plan, on any order, decomposes into a closed, acyclic graph."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revflow.plans.decompose import decompose
from revflow.plans.files import compile_plan

FAMILIES = ["Hardware", "Service", "Software"]
CODES = ["A", "B", "C"]


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    """Groups of random scope with steps that depend on earlier steps (plain or @each)."""
    groups: dict[str, Any] = {}
    keys: list[str] = []
    for g in range(draw(st.integers(1, 4))):
        scope = draw(st.sampled_from(["order", "line", "bundle"]))
        group: dict[str, Any] = {"scope": scope, "steps": []}
        if scope != "order" or draw(st.booleans()):
            group["match"] = {"family": draw(st.lists(st.sampled_from(FAMILIES), min_size=1))}
        if scope == "bundle":
            group["bundle_by"] = draw(st.sampled_from(["Product2.Family", "Product2.ProductCode"]))
        for _ in range(draw(st.integers(1, 3))):
            key = f"s{len(keys)}"
            step: dict[str, Any] = {"key": key, "type": "milestone"}
            if keys:
                deps = draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
                step["depends_on"] = [d + ("@each" if draw(st.booleans()) else "") for d in deps]
            if draw(st.booleans()):
                step["when"] = {"path": "$.TotalAmount", "gt": draw(st.integers(0, 100))}
            group["steps"].append(step)
            keys.append(key)
        groups[f"g{g}"] = group
    return {"name": "prop", "source": "Order", "groups": groups, "scenarios": {"new": list(groups)}}


lines = st.lists(
    st.fixed_dictionaries(
        {
            "Product2": st.fixed_dictionaries(
                {"Family": st.sampled_from(FAMILIES), "ProductCode": st.sampled_from(CODES)}
            )
        }
    ),
    max_size=5,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans(), lines, st.integers(0, 100))
def test_decomposed_graph_is_closed_and_acyclic(
    spec: dict[str, Any], items: list[dict[str, Any]], total: int
) -> None:
    definition, problems = compile_plan(yaml.safe_dump(spec), "prop.yaml")
    assert problems == [] and definition is not None
    record = {
        "Id": "801000000000001AAA",
        "TotalAmount": total,
        "OrderItems": [{"Id": f"802{n:015d}", **item} for n, item in enumerate(items)],
    }
    draft = decompose(definition, record, {})
    keys = [s.key for s in draft.steps]
    assert len(keys) == len(set(keys))
    seen: set[str] = set()
    for s in draft.steps:  # positions are a topological order, so the graph is acyclic
        assert set(s.depends_on) <= set(keys), s
        assert set(s.depends_on) <= seen, s
        assert s.key not in s.depends_on
        seen.add(s.key)
    again = decompose(definition, record, {})
    assert again == draft


@settings(max_examples=60, deadline=None)
@given(plans(), st.data())
def test_a_back_edge_is_always_reported_as_a_cycle(
    spec: dict[str, Any], data: st.DataObject
) -> None:
    steps = [s for g in spec["groups"].values() for s in g["steps"]]
    with_deps = [s for s in steps if s.get("depends_on")]
    if not with_deps:
        return
    step = data.draw(st.sampled_from(with_deps))
    target = step["depends_on"][0].split("@")[0]
    next(s for s in steps if s["key"] == target).setdefault("depends_on", []).append(step["key"])
    _, problems = compile_plan(yaml.safe_dump(spec), "prop.yaml")
    assert any("dependency cycle: " in p.message for p in problems)
