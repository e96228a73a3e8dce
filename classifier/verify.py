"""Decision-table verification of the rule set, through the real engine (like a DMN verifier).

The classification rules decide on finitely many discrete facts, so the whole space
of fact combinations that valid input can produce (facts.yaml `constraints`) is
enumerated and each combination is asserted into the compiled durable-rules engine.
Exactly one classification rule must fire for every one: a combination with none is
a gap, with several an overlap. Rules that never fire are reported too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from classifier import conditions
from classifier.engine import Engine
from classifier.ruleset import RuleSet


@dataclass
class Report:
    combinations: int = 0
    fired: Counter[str] = field(default_factory=Counter)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    overlaps: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)
    never_fire: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.gaps or self.overlaps or self.never_fire)

    def text(self, limit: int = 20) -> str:
        """A human-readable report: counts per rule, then each defect with its facts."""
        lines = [f"{self.combinations} fact combinations checked through the engine"]
        for rid, n in self.fired.items():
            lines.append(f"  {rid:<4} fires for {n} combinations")
        for facts in self.gaps[:limit]:
            lines.append(f"GAP      no rule fires for {_fmt(facts)}")
        for facts, rules in self.overlaps[:limit]:
            lines.append(f"OVERLAP  {', '.join(rules)} all fire for {_fmt(facts)}")
        for rid in self.never_fire:
            lines.append(f"NEVER    {rid} fires for no valid combination")
        hidden = max(len(self.gaps) - limit, 0) + max(len(self.overlaps) - limit, 0)
        if hidden:
            lines.append(f"... and {hidden} more")
        lines.append(
            "OK: exactly one rule for every combination" if self.ok else
            f"FAILED: {len(self.gaps)} gap(s), {len(self.overlaps)} overlap(s), "
            f"{len(self.never_fire)} rule(s) never fire"
        )
        return "\n".join(lines)


def _fmt(facts: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in facts.items())


def valid_combinations(ruleset: RuleSet) -> list[dict[str, Any]]:
    """Every assignment of the facts that satisfies facts.yaml's constraints."""
    names = list(ruleset.domains)
    return [
        a for a in conditions.assignments(ruleset.domains, names)
        if all(conditions.holds(c, a) for _, c in ruleset.constraints)
    ]


def verify(ruleset: RuleSet, engine: Engine | None = None) -> Report:
    """Run every valid fact combination through the engine and collect gaps, overlaps, dead rules."""
    engine = engine or Engine(ruleset)
    report = Report()
    for facts in valid_combinations(ruleset):
        report.combinations += 1
        rules = [n for n in engine.fired(facts) if n in ruleset.rules_by_id]
        if not rules:
            report.gaps.append(facts)
        elif len(rules) > 1:
            report.overlaps.append((facts, rules))
        else:
            report.fired[rules[0]] += 1
    report.fired = Counter({r.id: report.fired[r.id] for r in ruleset.rules})
    report.never_fire = [r.id for r in ruleset.rules if not report.fired[r.id]]
    return report
