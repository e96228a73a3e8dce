"""Mutation check of the rule set: change a rule; the test suite must notice every change that matters.

Run: .venv/bin/python -m tests.mutation_check [--all] [--jobs 2].

Mutants, each a copy of rules/ with one change to one rule:
- outcome: the rule's outcome flipped (a measurement point becomes a return visit and back);
- drop: one leaf (`fact: value`) of a condition removed;
- flip: a leaf's values replaced by the others of its fact (`true` <-> `false`);
- widen: one more value added to a leaf's set (facts with more than two values);
in each rule's `when` and in each warning's `when`.

Each mutant is first compared with the original in-process (verify.Space, every valid
fact combination): one that gives the same rule, outcome and warnings everywhere is
*equivalent* and needs no test. The others run the tests that read the rule set (the
examples first, `-x`) with BUP_RULES_DIR pointing at the copy. A mutant is *killed* only
when a test fails (pytest exit 1 with a FAILED test); exit 2-4, or errors without a
failure (a collection error, a rule set that does not load), is a *crash*, and a mutant
no test notices *survives*. Without --all one mutant per rule, target and operator runs
(the first that is not equivalent), which keeps `make test` short; --all runs every one.
Exit status 1 when any mutant survives or crashes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from classifier import ruleset as rs_module
from classifier.ruleset import DEFAULT_RULES_DIR, RuleSet, RuleSetError
from classifier.verify import Space

ROOT = Path(__file__).resolve().parent.parent
# The tests that read the rule set, in two runs: the fast ones first (the examples kill
# most mutants in seconds), then the oracle property, whose module imports the HTTP app
# (which classifies at import, so a rule set with a gap would stop its collection).
TESTS = (["tests/test_examples.py",
          "tests/test_engine.py::test_exactly_one_rule_for_every_valid_fact_combination",
          "tests/test_facts.py"],
         ["tests/test_properties.py::test_engine_agrees_with_the_independent_oracle"])
# The flipped outcome: a measurement point becomes a return visit and the other way round.
FLIP = {"first_visit": "return_visit", "investigation": "return_visit", "treatment": "return_visit",
        "return_visit": "first_visit", "acute": "first_visit", "outside_model": "first_visit"}
OPERATORS = ("outcome", "drop", "flip", "widen")

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Mutant:
    rule: str
    file: str
    index: int  # the rule's position in its stage file
    target: str  # "outcome", "when" or "warning <code>"
    operator: str
    loc: Loc  # inside the rule: the mapping that holds the leaf (or ("outcome",))
    key: str
    after: Any  # the leaf's new values (None: dropped), or the new outcome

    @property
    def name(self) -> str:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in (*self.loc, self.key))
        return f"{self.rule}{where}: {self.operator}" + ("" if self.operator == "drop" else f" -> {self.after}")


def _leaves(cond: Any, loc: Loc, may_empty: bool) -> Iterator[tuple[Loc, str, Any, bool]]:
    """(mapping location, fact, values, droppable) for every leaf of a YAML condition.

    `may_empty`: the condition may lose its last entry (it is one of several, or a
    warning's `when`, which then goes); a rule's `when` may not.
    """
    for key, val in cond.items():
        rest = may_empty or len(cond) > 1
        if key in ("any", "all"):
            for i, sub in enumerate(val):
                yield from _leaves(sub, (*loc, key, i), rest or len(val) > 1)
        elif key == "not":
            yield from _leaves(val, (*loc, key), rest)
        else:
            yield loc, key, val, rest


def mutants(rules_dir: Path = DEFAULT_RULES_DIR) -> list[Mutant]:
    """Every mutant of the rule set, in rule order (outcome, then `when`, then warnings)."""
    original = rs_module.load(rules_dir)
    out: list[Mutant] = []
    for rel in dict.fromkeys(r.file for r in original.rules):
        doc = yaml.safe_load((Path(rules_dir) / rel).read_text(encoding="utf-8"))
        for index, rule in enumerate(doc["rules"]):
            rid = rule["id"]
            out.append(Mutant(rid, rel, index, "outcome", "outcome", (), "outcome", FLIP[rule["outcome"]]))
            targets = [("when", ("when",), rule["when"])]
            targets += [(f"warning {w['code']}", ("warnings", i, "when"), w["when"])
                        for i, w in enumerate(rule.get("warnings") or []) if "when" in w]
            for target, base, cond in targets:
                # A warning's only leaf may go: the warning becomes unconditional.
                for loc, fact, val, droppable in _leaves(cond, base, target != "when"):
                    values = val if isinstance(val, list) else [val]
                    domain = original.domains[fact]
                    if droppable:
                        out.append(Mutant(rid, rel, index, target, "drop", loc, fact, None))
                    others = [v for v in domain if v not in values]
                    if others:
                        out.append(Mutant(rid, rel, index, target, "flip", loc, fact, others))
                    if len(domain) > 2:
                        out += [Mutant(rid, rel, index, target, "widen", loc, fact, [*values, v])
                                for v in others if len(values) + 1 < len(domain)]
    return out


def _mutated_rule(rule: dict[str, Any], mutant: Mutant) -> None:
    if mutant.operator == "outcome":
        rule["outcome"] = mutant.after
        return
    parents: list[tuple[Any, str | int]] = []
    node: Any = rule
    for part in mutant.loc:
        parents.append((node, part))
        node = node[part]
    if mutant.operator != "drop":
        node[mutant.key] = mutant.after[0] if len(mutant.after) == 1 else mutant.after
        return
    del node[mutant.key]
    while not node and parents:  # an emptied mapping goes too (a list item, or a warning's `when`)
        node, part = parents.pop()
        del node[part]


def write(mutant: Mutant, rules_dir: Path) -> None:
    """Apply the mutant to the copy of the rule files in `rules_dir` (the stage file is rewritten)."""
    path = rules_dir / mutant.file
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    _mutated_rule(doc["rules"][mutant.index], mutant)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=200), encoding="utf-8")


def equivalent(mutant: Mutant, original: RuleSet, space: Space, rules_dir: Path = DEFAULT_RULES_DIR) -> bool:
    """The mutant gives the same rule, outcome and warnings as the original on every valid combination.

    Computed in-process: the mutated stage file is parsed and checked as the loader does
    (a mutant that does not parse raises RuleSetError) and compared with verify.Space.
    """
    doc = yaml.safe_load((Path(rules_dir) / mutant.file).read_text(encoding="utf-8"))
    _mutated_rule(doc["rules"][mutant.index], mutant)
    _, parsed = rs_module.parse_stage(doc, mutant.file, original.domains, original.tables)
    by_id = {r.id: r for r in parsed}
    rules = [by_id.get(r.id, r) if r.file == mutant.file else r for r in original.rules]
    return space.decisions(rules) == space.decisions(original.rules)


def verdict(returncode: int, stdout: str) -> str:
    """killed only when a test failed; survived when all passed; anything else crashed."""
    if returncode == 0:
        return "survived"
    if returncode == 1 and re.search(r"^FAILED ", stdout, re.M):
        return "killed"
    return "crashed"


def run(mutant: Mutant, rules_dir: Path = DEFAULT_RULES_DIR) -> tuple[Mutant, str, str]:
    """(mutant, verdict, the first failing test or the end of pytest's output)."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.rule}-") as tmp:
        rules = Path(tmp) / "rules"
        shutil.copytree(rules_dir, rules)
        write(mutant, rules)
        for tests in TESTS:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:logging", "-p", "no:cacheprovider",
                 "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), *(str(ROOT / t) for t in tests)],
                cwd=tmp,  # keeps the mutant's failing examples out of the project's Hypothesis database
                env={**os.environ, "BUP_RULES_DIR": str(rules)}, capture_output=True, text=True, check=False,
            )
            result = verdict(done.returncode, done.stdout)
            if result != "survived":
                break
        failed = re.search(r"^FAILED (\S+?)(?: - |$)", done.stdout, re.M)
        detail = failed.group(1) if failed else f"exit {done.returncode}: " + done.stdout.strip()[-300:]
        return mutant, result, detail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--all", action="store_true", help="run every mutant, not one per rule, target and operator")
    parser.add_argument("--rules-dir", type=Path, default=DEFAULT_RULES_DIR)
    args = parser.parse_args(argv)
    original = rs_module.load(args.rules_dir)
    space = Space(original)
    found = mutants(args.rules_dir)
    equivalents, invalid, candidates = [], [], []
    for m in found:
        try:
            (equivalents if equivalent(m, original, space, args.rules_dir) else candidates).append(m)
        except RuleSetError as exc:  # a mutant the generator should not have made
            invalid.append((m, str(exc)))
    if not args.all:
        chosen: dict[tuple[str, str, str], Mutant] = {}
        for m in candidates:
            chosen.setdefault((m.rule, m.target, m.operator), m)
        candidates = list(chosen.values())
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda m: run(m, args.rules_dir), candidates))
    counts = {"killed": 0, "survived": 0, "crashed": 0}
    for mutant, result, detail in results:
        counts[result] += 1
        print(f"{mutant.name:<60} {result.upper() if result != 'killed' else 'killed by'} "
              f"{detail if result != 'survived' else ''}".rstrip())
    for mutant in equivalents:
        print(f"{mutant.name:<60} equivalent (same decision and warnings on every valid combination)")
    for mutant, problem in invalid:
        print(f"{mutant.name:<60} INVALID mutant: {problem}")
    scope = "all mutants" if args.all else (
        f"one per rule, target and operator of {len(found) - len(equivalents) - len(invalid)} "
        "non-equivalent; --all runs every one")
    print(f"{len(results) + len(equivalents)} mutants, {counts['killed']} killed, {len(equivalents)} equivalent, "
          f"{counts['survived']} survived, {counts['crashed']} crashed, {len(invalid)} invalid ({scope})")
    bad = counts["survived"] or counts["crashed"] or invalid or not results
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
