"""Golden tests: sample records and the documents (or errors) a mapping must produce.

    # mappings/tests/order_to_sales_order.test.yaml
    mapping: ../order_to_sales_order.yaml        # optional: a path relative to this file or
                                                 # a mapping name; default: the mapping named
                                                 # like this file, beside it or one folder up
    cases:
      - name: happy path
        input_file: fixtures/order.json          # or `input: {...}` inline
        set: { Account.Name: null }              # optional overrides by dotted path
        expect: { external_id: ..., ... }        # the whole document
      - name: bad VAT rate
        input_file: fixtures/order.json
        set: { OrderItems.0.Tax_Rate__c: 7 }
        expect_error: ["rule 'vat_rate_allowed' failed on OrderItems[0].Tax_Rate__c"]

`expect_error` is a substring of the error text, or a list with one substring per
expected rule failure (the record must fail exactly those rules).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from revflow.mapping.compiler import load_mapping
from revflow.mapping.errors import MappingEvalError, MappingLoadError, MappingRuleError
from revflow.mapping.lint import GOLDEN_SUFFIXES
from revflow.mapping.loader import YamlList, YamlMap, parse_yaml, plain
from revflow.mapping.model import Mapping

__all__ = ["CaseResult", "diff", "discover_golden", "run_golden"]

CASE_KEYS = ("name", "input", "input_file", "set", "expect", "expect_error", "description")


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one golden case; `message` explains a failure."""

    file: str
    line: int
    name: str
    ok: bool
    message: str = ""

    def __str__(self) -> str:
        head = f"{self.file}:{self.line}: {'ok' if self.ok else 'FAILED'} {self.name}"
        return head if self.ok else head + "".join(f"\n    {m}" for m in self.message.split("\n"))


def discover_golden(paths: Iterable[str | Path] | str | Path) -> list[Path]:
    """Golden files (`*.test.yaml` / `*.test.yml`) among files and directories, sorted."""
    if isinstance(paths, str | Path):
        paths = [paths]
    found: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.name.endswith(GOLDEN_SUFFIXES))
        else:
            found.add(path)
    return sorted(found)


def run_golden(
    paths: Iterable[str | Path] | str | Path,
    *,
    mappings: AbcMapping[str, Mapping] | None = None,
) -> list[CaseResult]:
    """Run every case in the golden files under `paths`; never raises for bad files.

    `mappings` (name -> compiled mapping) is used when a file's `mapping:` is a name,
    e.g. to test the versions a MappingStore is about to serve.
    """
    runner = _Runner(mappings or {})
    results: list[CaseResult] = []
    for file in discover_golden(paths):
        results.extend(runner.file(file))
    return results


def diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Readable differences, one per field path (`lines[0].unit_price: expected ..., got ...`)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key, value in expected.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{sub}: missing (expected {value!r})")
            else:
                out.extend(diff(value, actual[key], sub))
        for key in actual.keys() - expected.keys():
            sub = f"{path}.{key}" if path else str(key)
            out.append(f"{sub}: unexpected {actual[key]!r}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        out = []
        for index in range(max(len(expected), len(actual))):
            sub = f"{path}[{index}]"
            if index >= len(actual):
                out.append(f"{sub}: missing (expected {expected[index]!r})")
            elif index >= len(expected):
                out.append(f"{sub}: unexpected {actual[index]!r}")
            else:
                out.extend(diff(expected[index], actual[index], sub))
        return out
    if _same(expected, actual):
        return []
    return [f"{path or '<document>'}: expected {expected!r}, got {actual!r}"]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b  # JSON does not tell 2 from 2.0
    return type(a) is type(b) and a == b


def _apply_set(record: Any, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    current = record
    for part in parts[:-1]:
        current = current[int(part)] if isinstance(current, list) else current[part]
    last = parts[-1]
    if isinstance(current, list):
        current[int(last)] = value
    else:
        current[last] = value


class _Runner:
    def __init__(self, named: AbcMapping[str, Mapping]) -> None:
        self.named = named
        self.loaded: dict[Path, Mapping | MappingLoadError] = {}

    def file(self, file: Path) -> list[CaseResult]:
        name = str(file)
        try:
            parsed = parse_yaml(file.read_text(encoding="utf-8"), name)
        except (OSError, UnicodeDecodeError) as exc:
            return [CaseResult(name, 1, "<file>", False, f"cannot read: {exc}")]
        tree = parsed.tree
        if parsed.problems or not isinstance(tree, YamlMap):
            text = "\n".join(map(str, parsed.problems)) or "a golden file must be a mapping"
            return [CaseResult(name, 1, "<file>", False, text)]
        mapping = self.mapping(file, tree.get("mapping"))
        cases = tree.get("cases")
        if not isinstance(cases, YamlList) or not cases:
            return [CaseResult(name, tree.pos.line, "<file>", False, "'cases' must be a list")]
        results = []
        for index, (case, pos) in enumerate(zip(cases, cases.item_pos, strict=True)):
            label = case.get("name", f"case {index + 1}") if isinstance(case, dict) else "?"
            try:
                message = self.case(file, mapping, case)
            except Exception as exc:  # a broken case must not stop the others
                message = f"{type(exc).__name__}: {exc}"
            results.append(CaseResult(name, pos.line, str(label), message is None, message or ""))
        return results

    def mapping(self, file: Path, ref: Any) -> Mapping | MappingLoadError | str:
        if isinstance(ref, str) and ref in self.named:
            return self.named[ref]
        if ref is None:
            stem = file.name
            for suffix in GOLDEN_SUFFIXES:
                stem = stem.removesuffix(suffix)
            if stem in self.named:
                return self.named[stem]
            candidates = [file.parent / f"{stem}.yaml", file.parent.parent / f"{stem}.yaml"]
            target = next((c for c in candidates if c.is_file()), None)
            if target is None:
                return f"no mapping given and no {stem}.yaml beside or above {file}"
        elif isinstance(ref, str):
            target = file.parent / ref
        else:
            return "'mapping' must be a file path or a mapping name"
        target = target.resolve()
        if target not in self.loaded:
            try:
                self.loaded[target] = load_mapping(target)
            except MappingLoadError as exc:
                self.loaded[target] = exc
        return self.loaded[target]

    def case(self, file: Path, mapping: Mapping | MappingLoadError | str, case: Any) -> str | None:
        if isinstance(mapping, str):
            return mapping
        if isinstance(mapping, MappingLoadError):
            return f"the mapping does not load:\n{mapping}"
        if not isinstance(case, YamlMap):
            return "a case must be a mapping with name, input and expect or expect_error"
        unknown = [k for k in case if k not in CASE_KEYS]
        if unknown:
            return f"unknown case key '{unknown[0]}' (allowed: {', '.join(CASE_KEYS)})"
        if ("expect" in case) == ("expect_error" in case):
            return "give exactly one of 'expect' and 'expect_error'"
        record = self.record(file, case)
        if isinstance(record, str):
            return record
        try:
            document = mapping.apply(record)
        except MappingEvalError as exc:
            if "expect" in case:
                return f"expected a document, got error: {exc}"
            return _match_error(plain(case["expect_error"]), exc)
        if "expect_error" in case:
            return f"expected error {plain(case['expect_error'])!r}, got a document"
        differences = diff(plain(case["expect"]), document)
        return "\n".join(differences) if differences else None

    def record(self, file: Path, case: YamlMap) -> Any:
        if ("input" in case) == ("input_file" in case):
            return "give exactly one of 'input' and 'input_file'"
        if "input" in case:
            record = plain(case["input"])
        else:
            source = file.parent / str(case["input_file"])
            try:
                text = source.read_text(encoding="utf-8")
                if source.suffix == ".json":
                    record = json.loads(text)
                else:
                    loaded = parse_yaml(text, str(source))
                    if loaded.problems:
                        return "\n".join(map(str, loaded.problems))
                    record = plain(loaded.tree)
            except (OSError, ValueError) as exc:
                return f"cannot read input_file {source}: {exc}"
        overrides = case.get("set") or {}
        if not isinstance(overrides, dict):
            return "'set' must map dotted paths to values"
        for dotted, value in overrides.items():
            try:
                _apply_set(record, str(dotted), plain(value))
            except (KeyError, IndexError, ValueError, TypeError):
                return f"set: no such path {dotted!r} in the input"
        return record


def _match_error(expected: Any, exc: MappingEvalError) -> str | None:
    text = str(exc)
    if isinstance(expected, str):
        return None if expected in text else f"expected error containing {expected!r}, got: {text}"
    if not isinstance(expected, list):
        return "'expect_error' must be text or a list of texts"
    actual = [str(f) for f in exc.failures] if isinstance(exc, MappingRuleError) else [text]
    remaining = list(actual)
    missing = []
    for want in map(str, expected):
        hit = next((a for a in remaining if want in a), None)
        if hit is None:
            missing.append(want)
        else:
            remaining.remove(hit)
    if not missing and not remaining:
        return None
    lines = [f"missing failure: {m}" for m in missing]
    lines += [f"unexpected failure: {r}" for r in remaining]
    return "\n".join(lines)
