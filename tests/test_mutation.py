"""The suite notices every change to a rule that matters (see tests/mutation_check.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier import ruleset
from classifier.verify import Space
from tests import mutation_check as mc


def test_mutants_cover_every_rule_and_every_operator_in_rules_and_warnings(classifier) -> None:
    found = mc.mutants()
    assert sorted({m.rule for m in found if m.operator == "outcome"}) == sorted(r.id for r in classifier.ruleset.rules)
    assert {m.operator for m in found if m.target == "when"} == {"drop", "flip", "widen"}
    warning_ops = {(m.rule, m.target, m.operator) for m in found if m.target.startswith("warning")}
    assert ("N5", "warning direct_start_criteria_not_met", "drop") in warning_ops
    assert ("N5", "warning medication_not_covered", "flip") in warning_ops
    names = {m.name for m in found}
    assert "N4.when.any[1].medication_covered: flip -> [False]" in names
    assert "N4.when.any[1].medication_covered: drop" in names  # the list keeps its other item
    assert "N1.when.activity: widen -> ['assessment', 'basic_investigation', 'follow_up', 'investigation']" in names
    assert not any(m.rule == "A1" and m.operator == "drop" for m in found)  # A1's `when` has one leaf


def test_a_mutant_is_written_as_it_says(rules_copy: Path) -> None:
    mutant = next(m for m in mc.mutants() if m.name == "N5.warnings[0].when.direct_start_allowed: drop")
    mc.write(mutant, rules_copy)
    mutated = ruleset.load(rules_copy).rules_by_id["N5"]
    assert (mutated.warnings[0].code, mutated.warnings[0].when) == ("direct_start_criteria_not_met", None)
    assert mutated.when == ruleset.load().rules_by_id["N5"].when


def test_an_equivalent_mutant_is_recognised_and_a_real_change_is_not(rules_copy: Path) -> None:
    # `urgent: false` in N1 says nothing (A1, an earlier stage, takes every urgent contact):
    # dropping it changes no decision and no warning anywhere.
    path = rules_copy / "stages" / "new_commitment.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("      new_care_commitment: true\n", "      new_care_commitment: true\n"
                                 "      urgent: false\n", 1), encoding="utf-8")
    original = ruleset.load(rules_copy)
    space = Space(original)
    by_name = {m.name: m for m in mc.mutants(rules_copy)}
    assert mc.equivalent(by_name["N1.when.urgent: drop"], original, space, rules_copy)
    assert not mc.equivalent(by_name["N1.when.new_care_commitment: drop"], original, space, rules_copy)
    assert not mc.equivalent(by_name["N5.warnings[1].when.direct_start_allowed: drop"], original, space, rules_copy)


def test_only_a_failing_test_kills_a_mutant() -> None:
    assert mc.verdict(1, "...F\nFAILED tests/test_examples.py::test_x - AssertionError\n") == "killed"
    assert mc.verdict(0, "....\n") == "survived"
    assert mc.verdict(1, "ERROR tests/test_engine.py::test_x - RuleSetError: bad\n") == "crashed"
    for code in (2, 3, 4, 5):
        assert mc.verdict(code, "ERROR tests/test_properties.py - RuleSetDefect\nFAILED x\n") == "crashed"


def test_a_mutant_whose_rule_set_does_not_load_crashes_and_is_not_killed() -> None:
    broken = mc.Mutant("A1", "stages/acute.yaml", 0, "outcome", "outcome", (), "outcome", "emergency")
    mutant, result, detail = mc.run(broken)
    assert (mutant, result) == (broken, "crashed"), detail


@pytest.mark.slow
def test_no_mutant_survives(capsys) -> None:
    code = mc.main(["--jobs", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = out.strip().splitlines()[-1]
    assert " 0 survived, 0 crashed, 0 invalid" in summary and " equivalent" in summary, summary
