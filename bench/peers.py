"""The peers the classifier is measured against, each a drop-in for `Engine.decide`.

- `ZenDecider`: GoRules zen-engine evaluating a JDM decision table generated from the
  same rule files (one row per compiled term, hit policy `collect`, so overlaps would
  show exactly as in our engine).
- `plain_decide`: the limit, a hand-written Python function of the same decision on the
  same derived facts.
Everything around the decision (validation, derived facts, the answer) is shared, so
the ratios measure the decision step as the classifier uses it.
"""

from __future__ import annotations

import json
from typing import Any

import zen

from classifier import conditions as c
from classifier.engine import _WARNING_SEP, Decision, RuleSetDefect
from classifier.ruleset import RuleSet


def _cell(values: frozenset[c.Value], domain: tuple[c.Value, ...]) -> str:
    if len(values) == len(domain):
        return ""
    return ", ".join(json.dumps(v) for v in domain if v in values)


def jdm(ruleset: RuleSet) -> dict[str, Any]:
    """The rule set as a JDM graph: input -> one decision table (collect) -> output."""
    facts = list(ruleset.domains)
    rows = []
    named: list[tuple[str, c.Cond]] = []
    for rule in ruleset.rules:
        named.append((rule.id, rule.effective))
        named += [(f"{rule.id}{_WARNING_SEP}{w.code}", c.All((rule.effective, w.when)))
                  for w in rule.warnings if w.when is not None]
    for name, cond in named:
        for i, term in enumerate(c.disjoint_dnf(cond, ruleset.domains)):
            row = {"_id": f"{name}#{i}", "out": json.dumps(name)}
            row.update({f"i_{f}": _cell(term.get(f, frozenset(ruleset.domains[f])), ruleset.domains[f])
                        for f in facts})
            rows.append(row)
    table = {
        "id": "table", "type": "decisionTableNode", "name": ruleset.name, "position": {"x": 300, "y": 0},
        "content": {"hitPolicy": "collect",
                    "inputs": [{"id": f"i_{f}", "name": f, "field": f} for f in facts],
                    "outputs": [{"id": "out", "name": "rule", "field": "rule"}],
                    "rules": rows},
    }
    return {"contentType": "application/vnd.gorules.decision",
            "nodes": [{"id": "in", "type": "inputNode", "name": "in", "position": {"x": 0, "y": 0}}, table,
                      {"id": "out", "type": "outputNode", "name": "out", "position": {"x": 600, "y": 0}}],
            "edges": [{"id": "e1", "type": "edge", "sourceId": "in", "targetId": "table"},
                      {"id": "e2", "type": "edge", "sourceId": "table", "targetId": "out"}]}


class ZenDecider:
    """zen-engine behind the same `decide` interface as `classifier.engine.Engine`."""

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self.decision = zen.ZenEngine().create_decision(json.dumps(jdm(ruleset)))

    def decide(self, facts: dict[str, Any]) -> Decision:
        names = sorted({r["rule"] for r in self.decision.evaluate(dict(facts))["result"]})
        rules = [n for n in names if _WARNING_SEP not in n]
        if len(rules) != 1:
            raise RuleSetDefect(rules, facts)
        rule = self.ruleset.rules_by_id[rules[0]]
        return Decision(rule.id, tuple(w.code for w in rule.warnings
                                       if w.when is None or f"{rule.id}{_WARNING_SEP}{w.code}" in names))


def plain_decide(f: dict[str, Any]) -> Decision:
    """docs/definitions.md §6 by hand: the fastest this decision can be in Python."""
    if f["setting"] == "evi" and f["pathway"] == "B":
        return Decision("S1", ())
    if f["activity"] == "advice":
        return Decision("S2", ())
    if not f["contact_form_included"]:
        return Decision("S3", ())
    if f["urgent"]:
        return Decision("A1", ())
    act, ok_med = f["activity"], not f["pharmacological"] or f["medication_covered"]
    if f["new_care_commitment"]:
        if act == "investigation":
            if f["direct_start_allowed"]:
                return Decision("N2", ())
            return Decision("N3", ("direct_start_criteria_not_met",))
        if act == "treatment":
            if f["direct_start_allowed"] and ok_med:
                return Decision("N4", ())
            return Decision("N5", ("medication_not_covered",) if f["direct_start_allowed"]
                            else ("direct_start_criteria_not_met",))
        return Decision("N1", ())
    if act == "investigation":
        if not f["investigated_before"]:
            return Decision("U1", ())
        return Decision("U2", ()) if f["investigation_concluded"] or f["problem_gap"] else Decision("U3", ())
    if act == "treatment":
        if not ok_med:
            return Decision("B4", ("medication_not_covered",))
        if not f["treated_before"]:
            return Decision("B1", ())
        return Decision("B2", ()) if f["treatment_concluded"] or f["problem_gap"] else Decision("B3", ())
    return Decision("R1", ())


class PlainDecider:
    def decide(self, facts: dict[str, Any]) -> Decision:
        return plain_decide(facts)
