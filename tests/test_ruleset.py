"""Loading fails loudly, by name, on a malformed rule set; a good one is hashed and complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from classifier import ruleset
from classifier.ruleset import RuleSetError

DOMAIN_RULES = ["S1", "S2", "S3", "A1", "N1", "N2", "N3", "N4", "N5", "U1", "U2", "U3",
                "B1", "B2", "B3", "B4", "R1"]


def test_every_domain_rule_is_there_once_with_title_and_source() -> None:
    rs = ruleset.load()
    assert [r.id for r in rs.rules] == DOMAIN_RULES
    for r in rs.rules:
        assert r.title_sv and r.title_en and "DOMAIN.md" in r.source


def test_hash_is_stable_and_changes_with_content(rules_copy: Path) -> None:
    a = ruleset.load(rules_copy).sha256
    assert a == ruleset.load(rules_copy).sha256 and re.fullmatch(r"[0-9a-f]{64}", a)
    table = rules_copy / "tables" / "medications.yaml"
    table.write_text(table.read_text() + "\n# a comment changes the audited content\n")
    assert ruleset.load(rules_copy).sha256 != a


def _edit(rules_copy: Path, rel: str, old: str, new: str) -> None:
    path = rules_copy / rel
    text = path.read_text()
    assert old in text, f"test setup: {old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("rel", "old", "new", "message"),
    [
        ("stages/acute.yaml", "when: {urgent: true}", "when: {urgnet: true}", r"A1.*unknown fact 'urgnet'"),
        ("stages/acute.yaml", "when: {urgent: true}", "when: {urgent: maybe}", r"A1.*unknown value"),
        ("stages/acute.yaml", "outcome: acute", "outcome: emergency", r"A1: unknown outcome 'emergency'"),
        ("stages/acute.yaml", "  - id: A1", "  - id: S1", r"duplicate rule id 'S1'"),
        ("stages/acute.yaml", "    source: \"", "    sourc: \"", r"A1: missing 'source'"),
        ("stages/acute.yaml", "    title_sv: Akut", "    title_xx: Akut", r"A1: missing 'title_sv'"),
        ("stages/new_commitment.yaml", "code: direct_start_criteria_not_met\n",
         "code: no_such_warning\n", r"N3.warnings\[0\]: unknown warning code"),
        ("stages/scope.yaml", "unless: [S1]", "unless: [S3]", r"S2: 'unless' names 'S3'"),
        ("ruleset.yaml", "  kva: tables/kva.yaml\n", "", r"tables: missing 'kva'"),
    ],
)
def test_malformed_rule_set_fails_with_a_clear_message(rules_copy, rel, old, new, message) -> None:
    _edit(rules_copy, rel, old, new)
    with pytest.raises(RuleSetError, match=message):
        ruleset.load(rules_copy)


def test_not_yaml_is_named(rules_copy: Path) -> None:
    (rules_copy / "stages" / "acute.yaml").write_text("rules: [unclosed\n")
    with pytest.raises(RuleSetError, match=r"acute.yaml: not valid YAML"):
        ruleset.load(rules_copy)


def test_data_tables_say_where_they_come_from_and_if_provisional() -> None:
    rs = ruleset.load()
    for name, table in rs.tables.items():
        assert table.get("source"), name
    for name in ("medications", "kva", "contact_forms"):
        assert rs.tables[name]["provisional"] is True
