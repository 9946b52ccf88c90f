"""SVG charts: shapes sized by the numbers, labels escaped, text for screen readers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from revflow.console import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML
    assert root.get("role") == "img" and root.find(f"{SVG}title") is not None
    return root


def test_stacked_bars_heights_follow_the_values() -> None:
    days = ["2026-11-19", "2026-11-20"]
    root = parse(charts.stacked_bars("t", days, {"completed": [2, 0], "failed": [1, 4]}))
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    heights = {r.find(f"{SVG}title").text: float(r.get("height")) for r in bars}  # type: ignore[union-attr,arg-type]
    assert set(heights) == {
        "2026-11-19 completed: 2",
        "2026-11-19 failed: 1",
        "2026-11-20 failed: 4",
    }
    assert heights["2026-11-20 failed: 4"] == 4 * heights["2026-11-19 failed: 1"]


def test_donut_slices_a_full_ring_and_an_empty_one() -> None:
    two = parse(charts.donut("t", [("a", 3), ("b", 1)]))
    assert len(list(two.iter(f"{SVG}path"))) == 2
    whole = parse(charts.donut("t", [("only", 5)]))
    assert len(list(whole.iter(f"{SVG}circle"))) == 1 and not list(whole.iter(f"{SVG}path"))
    empty = charts.donut("t", [])
    assert ">none</text>" in empty and ">0</text>" in empty


def test_labels_are_escaped() -> None:
    svg = charts.donut("<b>", [("<script>x</script>", 1)])
    parse(svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_line_puts_a_dot_per_day_and_scales_to_a_round_top() -> None:
    days = [f"2026-11-{d}" for d in range(10, 20)]
    root = parse(charts.line("t", days, [float(i) for i in range(10)], " min"))
    assert len(list(root.iter(f"{SVG}circle"))) == 10
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "10 min" in labels  # the axis top: 9 rounded up
    assert not re.search(r"style=", ET.tostring(root, encoding="unicode"))
