"""Decision-table verification of the rule set, through the real engine (like a DMN verifier).

The classification rules decide on finitely many discrete facts, so the whole space
of fact combinations that valid input can produce (facts.yaml `constraints`) is
enumerated and each combination is asserted into the compiled durable-rules engine.
Exactly one classification rule must fire for every one: a combination with none is
a gap, with several an overlap. Rules that never fire are reported too, and so are
conditional warnings that never fire where their rule fires, fire wherever it fires
(the condition says nothing), or read a fact their rule's own condition does not read.

`Space` is the same set of combinations as bits of one integer per condition, so two
rule sets can be compared on every combination in microseconds (the mutation check's
equivalence filter).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from classifier import conditions
from classifier.engine import _WARNING_SEP as _SEP
from classifier.engine import Engine
from classifier.ruleset import Rule, RuleSet


@dataclass
class Report:
    combinations: int = 0
    fired: Counter[str] = field(default_factory=Counter)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    overlaps: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)
    never_fire: list[str] = field(default_factory=list)
    # Per conditional warning ("RULE!code"): the combinations where it fires with its rule.
    warned: Counter[str] = field(default_factory=Counter)
    never_warn: list[str] = field(default_factory=list)
    always_warn: list[str] = field(default_factory=list)
    # (rule!code, facts its `when` reads that the rule's `when` does not)
    outside_facts: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.gaps or self.overlaps or self.never_fire or self.never_warn or self.always_warn
                    or self.outside_facts)

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
        for key, n in self.warned.items():
            lines.append(f"  {key} warns for {n} of {self.fired[key.split(_SEP)[0]]} combinations of its rule")
        for key in self.never_warn:
            lines.append(f"NEVER    warning {key} fires for no valid combination where its rule fires")
        for key in self.always_warn:
            lines.append(f"ALWAYS   warning {key} fires wherever its rule fires: drop its `when` or fix it")
        for key, facts in self.outside_facts:
            lines.append(f"FACTS    warning {key} reads {facts}, which its rule's `when` does not read")
        hidden = max(len(self.gaps) - limit, 0) + max(len(self.overlaps) - limit, 0)
        if hidden:
            lines.append(f"... and {hidden} more")
        lines.append(
            "OK: exactly one rule for every combination; every conditional warning fires for some "
            "combinations of its rule, not all" if self.ok else
            f"FAILED: {len(self.gaps)} gap(s), {len(self.overlaps)} overlap(s), "
            f"{len(self.never_fire)} rule(s) never fire, "
            f"{len(self.never_warn) + len(self.always_warn) + len(self.outside_facts)} warning condition(s) wrong"
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
    warned: Counter[str] = Counter()
    for facts in valid_combinations(ruleset):
        report.combinations += 1
        names = engine.fired(facts)
        rules = [n for n in names if n in ruleset.rules_by_id]
        if not rules:
            report.gaps.append(facts)
        elif len(rules) > 1:
            report.overlaps.append((facts, rules))
        else:
            report.fired[rules[0]] += 1
            warned.update(n for n in names if n.startswith(rules[0] + _SEP))
    report.fired = Counter({r.id: report.fired[r.id] for r in ruleset.rules})
    report.never_fire = [r.id for r in ruleset.rules if not report.fired[r.id]]
    for rule in ruleset.rules:
        for w in rule.warnings:
            if w.when is None:
                continue
            key = f"{rule.id}{_SEP}{w.code}"
            report.warned[key] = warned[key]
            outside = [f for f in conditions.facts_of(w.when) if f not in rule.used_facts]
            if outside:
                report.outside_facts.append((key, outside))
            if report.fired[rule.id] and not warned[key]:
                report.never_warn.append(key)
            elif report.fired[rule.id] and warned[key] == report.fired[rule.id]:
                report.always_warn.append(key)
    return report


class Space:
    """The valid fact combinations, one bit each: a condition's truth table is one int."""

    def __init__(self, ruleset: RuleSet):
        combos = valid_combinations(ruleset)
        self.size = len(combos)
        self.full = (1 << self.size) - 1
        bits = {(f, v): ["0"] * self.size for f, vs in ruleset.domains.items() for v in vs}
        for i, facts in enumerate(combos):
            for f, v in facts.items():
                bits[(f, v)][self.size - 1 - i] = "1"
        self._leaf = {key: int("".join(b), 2) for key, b in bits.items()}

    def mask(self, cond: conditions.Cond) -> int:
        """The combinations where the condition holds."""
        if isinstance(cond, conditions.Leaf):
            out = 0
            for v in cond.values:
                out |= self._leaf[(cond.fact, v)]
            return out
        if isinstance(cond, conditions.Not):
            return self.full ^ self.mask(cond.part)
        if isinstance(cond, conditions.AnyOf):
            out = 0
            for p in cond.parts:
                out |= self.mask(p)
            return out
        out = self.full
        for p in cond.parts:
            out &= self.mask(p)
        return out

    def decisions(self, rules: Iterable[Rule]) -> tuple[dict[str, tuple[str, int]], dict[str, int]]:
        """Where each rule decides (with its outcome) and where each warning is given.

        Computed from the rules' own `when`, stage order and `unless` (what `effective`
        means), so rules parsed without the loader's pruning compare too. Two rule sets
        with equal decisions give the same rule, outcome and warnings on every valid
        combination (rules and warnings that never apply are left out).
        """
        decided, earlier, stage, in_stage = {}, 0, None, 0
        out_rules, out_warnings = {}, {}
        for rule in rules:
            if rule.stage != stage:
                earlier, stage, in_stage = earlier | in_stage, rule.stage, 0
            where = self.mask(rule.when) & ~earlier
            for u in rule.unless:
                where &= ~decided[u]
            decided[rule.id] = where
            in_stage |= where
            if where:
                out_rules[rule.id] = (rule.outcome, where)
            for w in rule.warnings:
                warns = where & self.mask(w.when) if w.when is not None else where
                if warns:
                    out_warnings[f"{rule.id}{_SEP}{w.code}"] = warns
        return out_rules, out_warnings
