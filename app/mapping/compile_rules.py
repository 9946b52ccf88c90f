"""The mapping compiler's ``rules:`` section: checks a mapped record must pass."""

from __future__ import annotations

import difflib
from typing import Any

from revflow.mapping.compile_pieces import PiecesCompiler
from revflow.mapping.loader import Pos, YamlList, YamlMap, plain
from revflow.mapping.paths import PathRef, parse_path
from revflow.mapping.rules import NEEDS_PATH, OPTIONS, RULE_KEYS, Rule, RuleConfigError, build_check


class RulesCompiler(PiecesCompiler):
    """The ``rules:`` section."""

    def rules(self, tree: YamlMap) -> tuple[Rule, ...]:
        raw = tree.get("rules")
        if raw is None:
            return ()
        if not isinstance(raw, YamlList):
            self.problem(tree.value_pos["rules"], "rules", "'rules' must be a list")
            return ()
        out = []
        for index, (item, pos) in enumerate(zip(raw, raw.item_pos, strict=True)):
            rule = self.rule(item, pos, f"rules[{index}]")
            if rule is not None:
                out.append(rule)
        return tuple(out)

    def rule(self, item: Any, pos: Pos, key: str) -> Rule | None:
        if not isinstance(item, YamlMap) or not isinstance(item.get("rule"), str):
            self.problem(pos, key, f"{key}: a rule must be a mapping with 'rule: <name>'")
            return None
        kind = item["rule"]
        if kind not in OPTIONS:
            close = difflib.get_close_matches(kind, list(OPTIONS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(sorted(OPTIONS))
            self.problem(
                item.value_pos["rule"], key, f"{key}: unknown rule '{kind}'{hint} (known: {known})"
            )
            return None
        self.unknown_keys(item, (*RULE_KEYS, *OPTIONS[kind]), key, f"key in rule '{kind}'")
        name = kind
        if "name" in item:
            name = self.text(item, "name", key, required=False) or kind
        message = self.text(item, "message", key, required=False) if "message" in item else None
        if kind in NEEDS_PATH and "path" not in item:
            self.problem(pos, key, f"{key}: rule '{kind}' needs 'path'")
        each = self.path(item["each"], item.value_pos["each"], key) if "each" in item else None
        outer = self.base
        self.base = each.parts if each is not None else ()
        try:
            path = self.path(item["path"], item.value_pos["path"], key) if "path" in item else None
            when = (
                self.condition(item["when"], item.value_pos["when"], key)
                if "when" in item
                else None
            )
            opts = {k: plain(item[k]) for k in OPTIONS[kind] if k in item}
            if kind == "expr":
                if "expr" not in item:
                    self.problem(pos, key, f"{key}: rule 'expr' needs 'expr'")
                    return None
                opts["expr"] = self.expr(item["expr"], item.value_pos["expr"], key)
                if opts["expr"] is None:
                    return None

            def path_of(option: str, text: Any) -> PathRef:
                if not isinstance(text, str):
                    raise RuleConfigError(f"rule '{kind}': '{option}' must be a path")
                try:
                    found = parse_path(text)
                except ValueError as exc:
                    raise RuleConfigError(f"rule '{kind}': {exc}") from None
                self.record(found, item.value_pos.get(option, pos))
                return found

            check = build_check(kind, opts, path_of)
        except RuleConfigError as exc:
            self.problem(pos, key, f"{key}: {exc}")
            return None
        finally:
            self.base = outer
        return Rule(name, pos.line, path, each, when, check, message)
