from __future__ import annotations

from pathlib import Path

import pytest

from revflow.mapping import MappingLoadError, discover_files, lint_paths, load_directory

GOOD = "name: {name}\nsource: Order\ntarget: t\nfields:\n  id: Id\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_lint_clean_directory_skips_golden_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", GOOD.format(name="a"))
    write(tmp_path / "nested" / "b.yml", GOOD.format(name="b"))
    write(tmp_path / "a.test.yaml", "cases: [not a mapping]\n")
    write(tmp_path / "notes.txt", "ignored")
    files, _ = discover_files([tmp_path])
    assert [f.name for f in files] == ["a.yaml", "b.yml"]
    assert lint_paths([tmp_path]) == []


def test_lint_reports_all_problems_across_files(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.yaml", "name: bad\nsource: Order\ntarget: t\nfields:\n  a: {pth: Id}\n"
    )
    broken = write(tmp_path / "broken.yaml", "name: [\n")
    write(tmp_path / "dup1.yaml", GOOD.format(name="same"))
    dup2 = write(tmp_path / "dup2.yaml", GOOD.format(name="same"))
    missing = tmp_path / "missing.yaml"
    found = [str(p) for p in lint_paths([tmp_path, missing])]
    assert found == sorted(
        [
            f"{bad}:5:3: field 'a' needs one of path, value, format, expr, lookup_record, "
            "fields, each",
            f"{bad}:5:7: unknown key in field 'a' 'pth' (did you mean 'path'?)",
            f"{broken}:2:1: invalid YAML: while parsing a flow node expected the node content, "
            "but found '<stream end>'",
            f"{dup2}:1:1: mapping name 'same' is already used by {tmp_path / 'dup1.yaml'}",
            f"{missing}:1:1: no such file or directory",
        ]
    )


def test_explicit_file_is_linted_even_with_golden_suffix(tmp_path: Path) -> None:
    file = write(tmp_path / "x.test.yaml", GOOD.format(name="x"))
    assert lint_paths([file]) == []


def test_load_directory(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", GOOD.format(name="a"))
    write(tmp_path / "b.yaml", GOOD.format(name="b"))
    mappings = load_directory(tmp_path)
    assert sorted(mappings) == ["a", "b"]
    assert mappings["a"].apply({"Id": "1"}) == {"id": "1"}


def test_load_directory_refuses_partial_sets(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", GOOD.format(name="a"))
    write(tmp_path / "b.yaml", "name: b\n")
    with pytest.raises(MappingLoadError) as info:
        load_directory(tmp_path)
    assert [str(p) for p in info.value.problems] == [
        f"{tmp_path / 'b.yaml'}:1:1: missing required key 'fields'",
        f"{tmp_path / 'b.yaml'}:1:1: missing required key 'source'",
        f"{tmp_path / 'b.yaml'}:1:1: missing required key 'target'",
    ]
