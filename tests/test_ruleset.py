"""Loading fails loudly, by name, on a malformed rule set; a good one is hashed and complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from classifier import ruleset
from classifier.ruleset import RuleSetError, load

DOMAIN_RULES = ["S1", "S2", "S3", "A1", "N1", "N2", "N3", "N4", "N5", "U1", "U2", "U3",
                "B1", "B2", "B3", "B4", "R1"]


def test_every_domain_rule_is_there_once_with_title_and_source() -> None:
    rs = ruleset.load()
    assert [r.id for r in rs.rules] == DOMAIN_RULES
    for r in rs.rules:
        assert r.title_sv and r.title_en and "docs/definitions.md §" in r.source


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
        ("stages/acute.yaml", '    title_sv: "Akut', '    title_xx: "Akut', r"A1: missing 'title_sv'"),
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


DOCS = Path(__file__).resolve().parent.parent / "docs" / "definitions.md"
NOT_PUBLIC = re.compile(r"s\. 11\b|s\. 1[6-9]|s\. [5-9]\b|s\. 6, 8|Bilaga")


def test_every_source_cites_a_section_of_the_projects_own_account() -> None:
    """Issue 11.8: a reader can check each source in this repository (docs/definitions.md)."""
    headings = {m.group(1) for m in re.finditer(r"(?m)^#{2,3} (\d+(?:\.\d+)?)\.? ", DOCS.read_text(encoding="utf-8"))}
    rs = load()
    cited = [(r.id, r.source) for r in rs.rules]
    cited += [(f"table {k}", t["source"]) for k, t in rs.tables.items()]
    for who, source in cited:
        sections = re.findall(r"§(\d+(?:\.\d+)?)", source)
        if who.startswith("table"):
            continue
        assert sections, f"{who}: source cites no section of docs/definitions.md: {source}"
        assert set(sections) <= headings, f"{who}: {set(sections) - headings} not a heading of docs/definitions.md"


def test_sources_resting_on_pages_that_are_not_public_say_tolkning() -> None:
    """Issue 11.8: first visit p.11, treatment pp.16–19, scenarios and annexes are not in the public excerpt."""
    for r in load().rules:
        if NOT_PUBLIC.search(r.source):
            assert "[tolkning" in r.source, f"{r.id}: cites a page that is not public without [tolkning]: {r.source}"


def test_rule_set_is_provisional_and_says_so_everywhere(classifier) -> None:
    rs = load()
    assert rs.status == "provisional"
    assert rs.identity()["status"] == "provisional" and rs.describe()["status"] == "provisional"


def test_rule_content_is_the_content_its_version_was_released_with() -> None:
    """Issue 11.10: the rule files cannot change without a new version."""
    problem = load().release_problem()
    assert problem is None, problem


def test_a_change_without_a_release_is_caught_and_release_records_it(rules_copy) -> None:
    from classifier.ruleset import release

    assert load(rules_copy).release_problem() is None
    path = rules_copy / "stages" / "acute.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("urgent: true", "urgent: [true]"), encoding="utf-8")
    changed = load(rules_copy)
    problem = changed.release_problem()
    assert problem and "changed since version" in problem and "--release NEW_VERSION" in problem
    released = release(rules_copy, "2099.1")
    assert (released.version, released.release_problem()) == ("2099.1", None)
    assert released.sha256 != changed.sha256  # the version is part of the content
    assert 'version: "2099.1"' in (rules_copy / "ruleset.yaml").read_text(encoding="utf-8")


def test_version_must_be_a_string(rules_copy) -> None:
    path = rules_copy / "ruleset.yaml"
    path.write_text(re.sub(r'(?m)^version: .*$', "version: 2026.10", path.read_text(encoding="utf-8")),
                    encoding="utf-8")
    with pytest.raises(RuleSetError, match="'version' must be a non-empty str"):
        load(rules_copy)
