"""Every outcome flip of every rule is caught by the suite (see tests/mutation_check.py)."""

from __future__ import annotations

import pytest

from tests import mutation_check


def test_there_is_one_mutant_per_rule(classifier) -> None:
    rules = sorted(m.rule for m in mutation_check.mutants())
    assert rules == sorted(r.id for r in classifier.ruleset.rules)


@pytest.mark.slow
def test_no_mutant_survives(capsys) -> None:
    code = mutation_check.main(["--jobs", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 survived" in out
