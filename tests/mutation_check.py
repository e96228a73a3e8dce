"""Mutation check of the rule set: flip each rule's outcome; the test suite must fail every time.

Run: .venv/bin/python -m tests.mutation_check [--jobs 2]. For each rule of rules/, a
temporary copy of the rule files gets that rule's outcome changed, and the tests that
read the rule set (examples, boundary tests, the oracle property) run against it with
BUP_RULES_DIR pointing there. A mutant the tests do not notice "survives": a change to
that rule could slip through unseen. Exit status 1 when any survives.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
TESTS = ["tests/test_examples.py", "tests/test_facts.py",
         "tests/test_properties.py::test_engine_agrees_with_the_independent_oracle"]
# The flipped outcome: a measurement point becomes a return visit and the other way round.
FLIP = {"first_visit": "return_visit", "investigation": "return_visit", "treatment": "return_visit",
        "return_visit": "first_visit", "acute": "first_visit", "outside_model": "first_visit"}


@dataclass(frozen=True)
class Mutant:
    rule: str
    file: str
    before: str
    after: str


def mutants() -> list[Mutant]:
    """One mutant per rule, found by reading the stage files as text (comments kept)."""
    out = []
    for path in sorted((RULES / "stages").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"^  - id: (\w+)$(.*?)^    outcome: (\w+)$", text, re.M | re.S):
            out.append(Mutant(m.group(1), str(path.relative_to(RULES)), m.group(3), FLIP[m.group(3)]))
    return out


def apply(mutant: Mutant, directory: Path) -> None:
    path = directory / mutant.file
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(rf"(^  - id: {mutant.rule}$.*?^    outcome: ){mutant.before}$", re.M | re.S)
    new, n = pattern.subn(rf"\g<1>{mutant.after}", text, count=1)
    assert n == 1, f"could not mutate {mutant.rule}"
    path.write_text(new, encoding="utf-8")


def run(mutant: Mutant) -> tuple[Mutant, bool, str]:
    """(mutant, killed, the first failing test)."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.rule}-") as tmp:
        rules = Path(tmp) / "rules"
        shutil.copytree(RULES, rules)
        apply(mutant, rules)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:logging", "-p", "no:cacheprovider",
             "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), *(str(ROOT / t) for t in TESTS)],
            cwd=tmp,  # keeps the mutant's failing examples out of the project's Hypothesis database
            env={**os.environ, "BUP_RULES_DIR": str(rules)}, capture_output=True, text=True, check=False,
        )
        failed = re.search(r"^FAILED (\S+?)(?: - |$)", done.stdout, re.M)
        return mutant, done.returncode != 0, failed.group(1) if failed else done.stdout.strip()[-200:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run, mutants()))
    survived = 0
    for mutant, killed, test in results:
        survived += not killed
        status = f"killed by {test}" if killed else "SURVIVED"
        print(f"{mutant.rule:<4} {mutant.before} -> {mutant.after:<14} {status}")
    print(f"{len(results)} mutants, {len(results) - survived} killed, {survived} survived")
    return 1 if survived or not results else 0


if __name__ == "__main__":
    sys.exit(main())
