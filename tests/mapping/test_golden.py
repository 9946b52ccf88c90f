"""Golden tests: the shipped cases pass, failures come with field-path diffs."""

from __future__ import annotations

import json
from pathlib import Path

from revflow.mapping import load_directory, preview, run_golden
from revflow.mapping.golden import diff

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
MAPPING = """\
name: m
source: Order
target: t
rules:
  - { rule: required, path: Name }
fields:
  id: { path: Id, required: true }
  total: { path: Amount, transform: { money: { currency_code: EUR } } }
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_golden_cases_pass() -> None:
    results = run_golden([MAPPINGS])
    assert [str(r) for r in results if not r.ok] == []
    files = {Path(r.file).name for r in results}
    assert files == {f"{name}.test.yaml" for name in load_directory(MAPPINGS)}
    for name in files:  # every shipped mapping: a happy path, a rule failure, a missing field
        cases = [r.name for r in results if Path(r.file).name == name]
        assert len(cases) >= 3, name


def test_failures_show_field_path_diffs(tmp_path: Path) -> None:
    write(tmp_path / "m.yaml", MAPPING)
    write(
        tmp_path / "input.json",
        json.dumps({"Id": "1", "Name": "n", "Amount": 2, "CurrencyIsoCode": "EUR"}),
    )
    golden = write(
        tmp_path / "tests" / "m.test.yaml",
        """\
cases:
  - name: ok
    input_file: ../input.json
    expect: { id: "1", total: "2.00" }
  - name: wrong total and extra key
    input_file: ../input.json
    set: { Amount: 2.5 }
    expect: { id: "1", total: "2.00", note: x }
  - name: expected an error
    input: { Id: "1", Name: n }
    expect_error: boom
  - name: rule list mismatch
    input: { Id: "1" }
    expect_error: ["rule 'pattern'"]
  - name: no input
    expect: {}
""",
    )
    results = run_golden([tmp_path])
    assert [(r.line, r.name, r.ok) for r in results] == [
        (2, "ok", True),
        (5, "wrong total and extra key", False),
        (9, "expected an error", False),
        (12, "rule list mismatch", False),
        (15, "no input", False),
    ]
    assert results[1].message == "total: expected '2.00', got '2.50'\nnote: missing (expected 'x')"
    assert results[2].message == "expected error 'boom', got a document"
    assert results[3].message == (
        "missing failure: rule 'pattern'\n"
        "unexpected failure: rule 'required' failed on Name: is required but missing"
    )
    assert results[4].message == "give exactly one of 'input' and 'input_file'"
    assert str(results[1]) == (
        f"{golden}:5: FAILED wrong total and extra key\n"
        "    total: expected '2.00', got '2.50'\n    note: missing (expected 'x')"
    )


def test_broken_mapping_and_broken_golden_file(tmp_path: Path) -> None:
    write(tmp_path / "m.yaml", "name: m\nsource: Order\ntarget: t\nfields: {a: {pth: x}}\n")
    write(tmp_path / "m.test.yaml", "cases:\n  - {name: a, input: {}, expect: {}}\n")
    write(tmp_path / "x.test.yaml", "cases: [\n")
    write(
        tmp_path / "y.test.yaml",
        "mapping: nope.yaml\ncases:\n  - {name: b, input: {}, expect: {}}\n",
    )
    results = {Path(r.file).name: r for r in run_golden([tmp_path])}
    assert "the mapping does not load" in results["m.test.yaml"].message
    assert "invalid YAML" in results["x.test.yaml"].message
    assert "cannot read mapping file" in results["y.test.yaml"].message


def test_named_mappings_take_precedence(tmp_path: Path) -> None:
    write(
        tmp_path / "m.test.yaml",
        "cases:\n  - {name: a, input: {Id: '1', Name: n}, expect: {id: '1', total: null}}\n",
    )
    write(tmp_path / "m.yaml", MAPPING)
    mappings = load_directory(tmp_path)
    assert [r.ok for r in run_golden([tmp_path], mappings=mappings)] == [True]


def test_diff_lists_and_types() -> None:
    assert diff({"a": [1, 2]}, {"a": [1]}) == ["a[1]: missing (expected 2)"]
    assert diff([1], [1, {"b": 2}]) == ["[1]: unexpected {'b': 2}"]
    assert diff({"a": 2}, {"a": 2.0}) == []
    assert diff({"a": "2"}, {"a": 2}) == ["a: expected '2', got 2"]
    assert diff({"a": True}, {"a": 1}) == ["a: expected True, got 1"]


def test_preview() -> None:
    record = MAPPINGS / "tests" / "fixtures" / "order.json"
    text = preview(MAPPINGS / "order_to_sales_order.yaml", record)
    assert json.loads(text)["total"] == "250.00"
    assert json.loads(
        preview(MAPPINGS / "order_to_sales_order.yaml", json.loads(record.read_text()))
    )
