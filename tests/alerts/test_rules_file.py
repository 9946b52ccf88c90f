"""Alert rules files: the shipped example, its schema, and problems at file:line:col."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from revflow.alerts.channels.base import RecipientKind
from revflow.alerts.errors import AlertRuleError
from revflow.alerts.message import EventKind, Severity
from revflow.alerts.rules_file import compile_rules, lint_rules_file, load_rules_file
from revflow.resources import shipped

ALERTS = shipped("alerts")


def problems(text: str) -> list[str]:
    ruleset, found = compile_rules(text, "rules.yaml")
    assert ruleset is None if found else ruleset is not None
    return [f"{p}" + (f" [{p.key}]" if p.key else "") for p in found]


def test_the_shipped_rules_compile_and_match_the_schema() -> None:
    rules = load_rules_file(ALERTS / "rules.yaml")
    assert [r.name for r in rules.rules] == [
        "step-fallout",
        "big-order-jeopardy",
        "writeback-refused",
        "platform",
    ]
    fallout = rules.rules[0]
    assert fallout.events == {EventKind.STEP_FALLOUT}
    assert [t.to for t in fallout.levels[0].targets] == [RecipientKind.OWNER]
    assert fallout.levels[0].targets[0].channels == ("email", "slack", "salesforce")
    assert [lv.after_s for lv in fallout.levels] == [0.0, 1800.0, 7200.0]
    assert rules.teams["finance-ops"].addresses["email"] == "finance-ops@example.com"
    schema = json.loads((ALERTS / "rules.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(
        yaml.safe_load((ALERTS / "rules.yaml").read_text())
    )


def test_the_schema_refuses_what_the_linter_refuses() -> None:
    schema = json.loads((ALERTS / "rules.schema.json").read_text())
    bad = {"rules": [{"name": "x", "events": "nope", "notify": [{"to": "owner", "via": "fax"}]}]}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_problems_name_file_line_column_and_key() -> None:
    text = """\
version: 1
teams:
  ops: {email: ops@example.com}
rules:
  - name: a
    events: [step_fallout, nope]
    severity: loud
    notify:
      - to: team:finance
        via: [email, fax]
    escalate:
      - notify:
          - to: on_call
            via: email
    when:
      amount_above: lots
      colour: red
  - name: a
    events: step_fallout
    notify:
      - to: boss
        via: email
"""
    assert problems(text) == [
        "rules.yaml:6:13: rule 'a': unknown event 'nope' (one of: step_fallout, "
        "validation_failure, jeopardy_at_risk, jeopardy_late, webhook_endpoint_disabled, "
        "api_budget_exhausted, ingestion_incident, loop_down, permanent_query_error, mention) "
        "[events]",
        "rules.yaml:7:15: rule 'a': unknown severity 'loud' (one of: info, warning, error, "
        "critical) [severity]",
        "rules.yaml:9:13: rule 'a': unknown team 'finance' (teams: ops) [to]",
        "rules.yaml:10:14: rule 'a': unknown channel 'fax' (one of: email, slack, teams, "
        "salesforce, chatter, webhook) [via]",
        "rules.yaml:12:9: rule 'a': an escalation needs 'after' (a duration) [after]",
        "rules.yaml:16:21: rule 'a': 'when': 'amount_above' must be a whole number or a "
        "number, got text",
        "rules.yaml:17:7: unknown key 'colour' in rule 'a': 'when' (expected one of: plan, "
        "connector, error_class, amount_above, region, fields)",
        "rules.yaml:18:5: rule 'a': defined twice (first at line 5) [name]",
        "rules.yaml:21:13: rule 'a': 'to' must be owner, on_call, team:<name> or user:<email>, "
        "got 'boss' [to]",
    ]


def test_on_call_must_be_defined_to_be_named() -> None:
    text = "rules:\n  - name: a\n    events: loop_down\n    notify: [{to: on_call, via: email}]\n"
    assert problems(text) == [
        "rules.yaml:4:19: rule 'a': 'to: on_call' but the file has no 'on_call' [to]"
    ]


def test_escalations_come_later_one_after_another() -> None:
    text = """\
on_call: {email: oncall@example.com}
rules:
  - name: a
    events: loop_down
    notify: [{to: on_call, via: email}]
    escalate:
      - {after: 1h, notify: [{to: on_call, via: email}]}
      - {after: 30m, notify: [{to: on_call, via: email}]}
"""
    assert problems(text) == [
        "rules.yaml:8:9: rule 'a': escalations must come later one after another "
        "('after' 1800s) [escalate]"
    ]


def test_a_full_rule_compiles_to_plain_data() -> None:
    text = """\
order_fields: {amount: Amount__c, region: ShippingCountry}
rules:
  - name: big-erp
    events: step_fallout
    when:
      plan: order_fulfillment
      connector: [erp, sap]
      error_class: FatalError
      amount_above: 10000.50
      region: [DE, AT]
      fields: {Type: New, "Account.Industry": [Retail]}
    severity: critical
    notify: [{to: "user:ada@example.com", via: [email, email]}]
    throttle: {count: 3, per: 10m}
"""
    ruleset, found = compile_rules(text)
    assert found == [] and ruleset is not None
    rule = ruleset.rules[0]
    assert ruleset.amount_field == "Amount__c" and ruleset.region_field == "ShippingCountry"
    assert rule.severity is Severity.CRITICAL
    assert rule.when.plans == {"order_fulfillment"} and rule.when.connectors == {"erp", "sap"}
    assert str(rule.when.amount_above) == "10000.5"
    assert rule.when.fields == (
        ("Type", frozenset({"New"})),
        ("Account.Industry", frozenset({"Retail"})),
    )
    assert rule.levels[0].targets[0].name == "ada@example.com"
    assert rule.levels[0].targets[0].channels == ("email",)  # repeats dropped
    assert rule.throttle is not None and (rule.throttle.count, rule.throttle.per_s) == (3, 600.0)


def test_load_raises_with_every_problem_and_lint_returns_them(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - name: a\n    events: nope\n    notify: []\n")
    with pytest.raises(AlertRuleError) as caught:
        load_rules_file(path)
    assert f"{path}:3:13: rule 'a': unknown event 'nope'" in str(caught.value)
    assert [p.line for p in lint_rules_file(path)] == [3, 4]
    assert "cannot read" in lint_rules_file(tmp_path / "missing.yaml")[0].message


def test_invalid_yaml_is_a_problem_with_its_position() -> None:
    assert problems("rules: [\n")[0].startswith("rules.yaml:2:1: invalid YAML")


def test_a_digest_is_a_duration_of_a_minute_or_more() -> None:
    base = "rules:\n  - name: a\n    events: loop_down\n    notify: [{to: owner, via: email}]\n"
    ruleset, found = compile_rules(base + "    digest: 15m\n")
    assert found == [] and ruleset is not None and ruleset.rules[0].digest_s == 900.0
    assert problems(base + "    digest: 10s\n") == [
        "rules.yaml:5:13: rule 'a': 'digest' must be 1m or more [digest]"
    ]
