from __future__ import annotations

from pathlib import Path

import pytest

from revflow.mapping import MappingLoadError, Problem, compile_mapping, load_mapping
from tests.mapping import sample_order


def problems(text: str, filename: str = "m.yaml") -> list[str]:
    with pytest.raises(MappingLoadError) as info:
        compile_mapping(text, filename)
    assert all(isinstance(p, Problem) for p in info.value.problems)
    return str(info.value).splitlines()


GOOD = """\
name: good
version: 2
source: Quote
target: erp.quote
fields:
  id: Id
"""


def test_compiles_header() -> None:
    m = compile_mapping(GOOD, "mappings/good.yaml")
    assert (m.name, m.version, m.source, m.target, m.filename, m.path) == (
        "good",
        "2",
        "Quote",
        "erp.quote",
        "mappings/good.yaml",
        None,
    )
    assert m.apply(sample_order()) == {"id": "8015e00000Q7mNpAAJ"}


def test_unknown_keys_with_suggestions_and_exact_positions() -> None:
    text = """\
name: bad
source: Order
target: erp.x
feilds: {}
fields:
  a: {pth: Id}
  b: {path: Id, transfrom: upper}
"""
    assert problems(text) == [
        "m.yaml:4:1: unknown top-level key 'feilds' (did you mean 'fields'?)",
        "m.yaml:6:3: field 'a' needs one of path, value, format, expr, lookup_record, fields, each",
        "m.yaml:6:7: unknown key in field 'a' 'pth' (did you mean 'path'?)",
        "m.yaml:7:17: unknown key in field 'b' 'transfrom' (did you mean 'transform'?)",
    ]


def test_many_problems_are_collected() -> None:
    text = """\
name: ""
source: Account
fields:
  a: {path: Id, value: 1}
  b: {path: Id, transform: shout}
  c: {path: Id, transform: {lookup: rates}}
  d: {path: "Account..Name"}
  e: 42
  f: {path: Id, required: yes please}
  g: {each: OrderItems}
  h: {fields: {x: Id}, transform: upper}
  i: {path: Id, transform: [upper, {money: 1, upper: null}]}
  j: {path: Id, when: {path: Status}}
"""
    lines = problems(text)
    assert lines == [
        "m.yaml:1:1: missing required key 'target'",
        "m.yaml:1:7: 'name' must be non-empty text",
        "m.yaml:2:9: 'source' must be one of Order, Quote, got 'Account'",
        "m.yaml:4:17: field 'a' has both 'path' and 'value'; use exactly one of "
        "path, value, format, expr, lookup_record, fields, each",
        "m.yaml:5:28: field 'b': unknown transform 'shout' (known: concat, date, datetime, "
        "decimal, format, int, lookup, lower, map, money, percent_of, str, strip, upper)",
        "m.yaml:6:29: field 'c': undefined lookup 'rates' (known: none declared)",
        "m.yaml:7:13: field 'd': invalid path 'Account..Name': use dotted field names like "
        "Account.Name (prefix with '$.' to start from the record root)",
        "m.yaml:8:6: field 'e' must be a source path or a mapping with one of path, value, "
        "format, expr, lookup_record, fields, each; got int (use value: for constants)",
        "m.yaml:9:27: field 'f': 'required' must be true or false",
        "m.yaml:10:7: field 'g': 'each' needs 'fields'",
        "m.yaml:11:24: field 'h': 'transform' cannot be used with 'fields'",
        "m.yaml:12:36: field 'i': give one transform per entry; use a list to chain transforms",
        "m.yaml:13:23: field 'j': a condition needs 'path' and exactly one of "
        "equals, not_equals, in, not_in, exists (or all/any/not)",
    ]


def test_problem_fields() -> None:
    with pytest.raises(MappingLoadError) as info:
        compile_mapping(GOOD.replace("id: Id", "id: {path: Id, transform: nope}"), "f.yaml")
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.col, problem.key) == ("f.yaml", 6, 29, "id")


def test_nested_keys_are_dotted() -> None:
    text = GOOD.replace("id: Id", "c:\n    fields:\n      n: {path: Id, transform: nope}")
    with pytest.raises(MappingLoadError) as info:
        compile_mapping(text, "f.yaml")
    assert info.value.problems[0].key == "c.n"
    assert "field 'c.n': unknown transform 'nope'" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nfields:\n  a: [1\n",
            "m.yaml:4:1: invalid YAML: while parsing a flow sequence expected ',' or ']', "
            "but got '<stream end>'",
        ),
        (
            "name: x\n  bad: indent\n",
            "m.yaml:2:6: invalid YAML: mapping values are not allowed here",
        ),
        (
            "name: x\nname: y\nsource: Order\ntarget: t\nfields: {a: Id}\n",
            "m.yaml:2:1: duplicate key 'name'",
        ),
        ("", "m.yaml:1:1: file is empty"),
        (
            "- a\n- b\n",
            "m.yaml:1:1: a mapping file must be a YAML mapping with name, source, target "
            "and fields",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "m.yaml:2:1: invalid YAML: expected a single document in the stream "
            "but found another document",
        ),
        (
            "name: !custom x\n",
            "m.yaml:1:7: invalid YAML: could not determine a constructor for the tag '!custom'",
        ),
    ],
)
def test_malformed_yaml(text: str, expected: str) -> None:
    assert problems(text)[0] == expected


def test_invalid_utf8() -> None:
    assert problems(b"name: \xff\n")[0].startswith("m.yaml:1:1: file is not valid UTF-8")  # type: ignore[arg-type]


def test_yaml_11_booleans_stay_text_as_keys() -> None:
    text = """\
name: norway
source: Order
target: t
lookups:
  vat: {values: {NO: 25, on: 1, 2026-01-01: new-year}}
fields:
  rate: {path: Account.BillingCountry, transform: {lookup: vat}}
  day: {path: EffectiveDate, transform: {lookup: vat}}
  off: {value: 2026-01-01}
"""
    m = compile_mapping(text)
    order = sample_order(EffectiveDate="2026-01-01")
    order["Account"]["BillingCountry"] = "NO"
    assert m.apply(order) == {"rate": 25, "day": "new-year", "off": "2026-01-01"}


def test_merge_keys_are_supported() -> None:
    text = """\
name: merge
source: Order
target: t
fields:
  a: &money {path: TotalAmount, transform: money}
  b:
    <<: *money
    path: TotalAmount
"""
    assert compile_mapping(text).apply(sample_order()) == {"a": "250.00", "b": "250.00"}


def test_content_hash_follows_content(tmp_path: Path) -> None:
    a = compile_mapping(GOOD)
    assert a.content_hash == compile_mapping(GOOD.encode()).content_hash
    assert len(a.content_hash) == 64
    assert a.content_hash != compile_mapping(GOOD + "# comment\n").content_hash
    file = tmp_path / "good.yaml"
    file.write_text(GOOD)
    loaded = load_mapping(file)
    assert loaded.content_hash == a.content_hash
    assert loaded.path == file and loaded.filename == str(file)


def test_load_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(MappingLoadError, match=f"{missing}:1:1: cannot read mapping file"):
        load_mapping(missing)


def test_lookup_table_errors() -> None:
    text = GOOD + "lookups:\n  vat: {DE: 19}\n  ok: {values: {DE: 1}}\n"
    assert problems(text) == [
        "m.yaml:8:3: lookup 'vat' has unknown option 'DE' (allowed: values, default)",
    ]
