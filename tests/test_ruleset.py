"""Loading fails loudly, by name, on a malformed rule set; a good one is hashed and complete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given

from classifier import ruleset
from classifier.ruleset import RuleSetError, load
from tests.strategies import requests

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
        ("stages/acute.yaml", "outcome: acute", "outcome: emergency",
         r"A1.outcome: Input should be 'first_visit'.*got 'emergency'"),
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
    with pytest.raises(RuleSetError, match=r"ruleset.yaml.version: expected a quoted string .* got the float 2026.1"):
        load(rules_copy)


# ---- issue 12.1: the rule files are typed, unknown keys are errors at every level ----------------


@pytest.mark.parametrize(
    ("rel", "old", "new", "message"),
    [
        # A misspelt `when` under a warning used to make the warning unconditional.
        ("stages/new_commitment.yaml", "        when: {direct_start_allowed: false}\n",
         "        whne: {direct_start_allowed: false}\n",
         r"^stages/new_commitment.yaml: rule N5.warnings\[0\]: unknown key 'whne'; expected one of \['code', 'when'\]"),
        ("ruleset.yaml", "status: provisional\n", "status: provisional\nstatsu: confirmed\n",
         r"^ruleset.yaml: unknown key 'statsu'"),
        ("ruleset.yaml", "  limit_days: 30\n", "  limit_days: 30\n  limit_dyas: 31\n",
         r"^ruleset.yaml.wait: unknown key 'limit_dyas'; expected one of \['commitment_months', 'limit_days'\]"),
        ("ruleset.yaml", "  kva: tables/kva.yaml\n", "  kva: tables/kva.yaml\n  extra: tables/kva.yaml\n",
         r"^ruleset.yaml.tables: unknown key 'extra'"),
        ("facts.yaml", "    label_sv: Akut tillstånd\n", "    lable_sv: Akut tillstånd\n",
         r"^facts.yaml.facts.urgent: missing 'label_sv'\nfacts.yaml.facts.urgent: unknown key 'lable_sv'"),
        ("facts.yaml", "constraints:\n", "constraint:\n", r"^facts.yaml: unknown key 'constraint'"),
        ("facts.yaml", "    not: {setting: evi, pathway: A}\n", "    nto: {setting: evi, pathway: A}\n",
         r"^facts.yaml.constraints\[0\]: missing 'not'"),
        ("stages/acute.yaml", "title_en: Acute\n", "title_en: Acute\ntitel_sv: Akut\n",
         r"^stages/acute.yaml: unknown key 'titel_sv'"),
        ("stages/acute.yaml", "    outcome: acute\n", "    outcome: acute\n    unles: [S1]\n",
         r"^stages/acute.yaml: rule A1: unknown key 'unles'; expected one of \['id', 'outcome', "),
        ("tables/contact_forms.yaml", "video: {included: true,", "video: {inclded: true,",
         r"^tables/contact_forms.yaml.forms.video: missing 'included'"),
        ("tables/contact_types.yaml", "    measurement_point: false\n    care_guarantee: false\n  acute:",
         "    measurment_point: false\n    care_guarantee: false\n  acute:",
         r"tables/contact_types.yaml.contact_types.return_visit: unknown key 'measurment_point'"),
        ("tables/evi_checklist.yaml", "    required: false\n", "    requird: false\n",
         r"tables/evi_checklist.yaml.items\[7\]: unknown key 'requird'"),
        ("tables/exclusions.yaml", "    national_code: 2\n", "    national_code: '2'\n",
         r"tables/exclusions.yaml.codes.MOV.national_code: Input should be a valid integer, got '2'"),
        ("tables/kva.yaml", "AA085: {annex: 5,", "AA085: {anex: 5,",
         r"tables/kva.yaml.codes.AA085: unknown key 'anex'"),
        ("tables/medications.yaml", "{code: N06BA04, name:", "{code: N06BA04, nmae:",
         r"tables/medications.yaml.atc\[0\]: unknown key 'nmae'"),
        ("tables/warnings.yaml", "  medication_not_covered:\n    message_en:",
         "  medication_not_covered:\n    mesage_en:",
         r"tables/warnings.yaml.warnings.medication_not_covered: unknown key 'mesage_en'"),
        ("release.yaml", 'version: "2026.3"\n', 'version: "2026.3"\nreleased_by: me\n', r"release.yaml: unknown key"),
    ],
)
def test_an_unknown_or_mistyped_key_fails_naming_file_rule_and_key(rules_copy, rel, old, new, message) -> None:
    _edit(rules_copy, rel, old, new)
    with pytest.raises(RuleSetError, match=message):
        load(rules_copy)


@pytest.mark.parametrize(
    ("rel", "old", "new", "message"),
    [
        # Rule ids are joined with '!', '#' and '"' inside the engine.
        ("stages/acute.yaml", "  - id: A1", "  - id: A!1", r"rule A!1.id: String should match pattern"),
        ("stages/acute.yaml", "  - id: A1", "  - id: a1", r"rule a1.id: String should match pattern"),
        ("stages/scope.yaml", "unless: [S1]", "unless: ['S1#0']", r"rule S2.unless\[0\]: String should match"),
        ("tables/warnings.yaml", "  medication_not_covered:\n", "  medication!not_covered:\n",
         r"warnings.yaml.warnings: unknown key 'medication!not_covered': String should match pattern"),
        ("stages/new_commitment.yaml", "        when: {direct_start_allowed: true}\n",
         "        when: {direct_start_allowed: true}\n      - code: medication_not_covered\n",
         r"rule N5.warnings\[2\]: warning 'medication_not_covered' is listed twice"),
    ],
)
def test_ids_and_codes_are_safe_for_the_engine(rules_copy, rel, old, new, message) -> None:
    _edit(rules_copy, rel, old, new)
    with pytest.raises(RuleSetError, match=message):
        load(rules_copy)


@pytest.mark.parametrize(
    ("rel", "old", "new", "message"),
    [
        # The checklist against the request model's EviAssessment, both ways.
        ("tables/evi_checklist.yaml", "field: staff_competence_cap", "field: staff_competance_cap",
         r"evi_checklist.yaml: items\[0\] \(D1\): field 'staff_competance_cap' is not a field of "
         r"care_request.evi_assessment; expected one of \['staff_competence_cap'"),
        ("tables/evi_checklist.yaml", "field: referrer_assessment_doubted", "field: staff_competence_cap",
         r"evi_checklist.yaml: items\[\].field: missing \['referrer_assessment_doubted'\]; "
         r"listed twice \['staff_competence_cap'\]"),
        # Forms and exclusions against the request's allowed values, both ways.
        ("tables/contact_forms.yaml", "  other: {included: false, label_sv: Annan kontaktform}\n", "",
         r"contact_forms.yaml: forms: missing \['other'\]; expected exactly \['in_person', 'video', 'phone', "
         r"'text', 'other'\] \(classifier/models.py ContactForm"),
        ("tables/contact_forms.yaml", "  other: {", "  letter: {",
         r"contact_forms.yaml.forms: unknown key 'letter': "
         r"Input should be 'in_person', 'video', 'phone', 'text' or 'other'$"),
        ("tables/exclusions.yaml", "  SOV:\n", "  SOV_:\n",
         r"exclusions.yaml.codes: unknown key 'SOV_': Input should be 'PVV'"),
        ("tables/contact_types.yaml", "    wait_start: care_request_received\n", "",
         r"contact_types.yaml: contact_types.first_visit: a measurement point needs 'wait_start'"),
        ("tables/evi_checklist.yaml", "pathways_allowing_direct_start: [B, C]",
         "pathways_allowing_direct_start: [B, D]",
         r"evi_checklist.yaml.pathways_allowing_direct_start\[1\]: Input should be 'A', 'B' or 'C'"),
        # The pathways allowing direct start are the checklist table's; facts.yaml's constraint must agree.
        ("tables/evi_checklist.yaml", "pathways_allowing_direct_start: [B, C]", "pathways_allowing_direct_start: [C]",
         r"facts.yaml: constraints: a direct start \(direct_start_allowed: true\) by pathway 'B' is possible, "
         r"but tables/evi_checklist.yaml pathways_allowing_direct_start is \['C'\]"),
        # facts.yaml against the facts derive produces, both ways, and their values.
        ("facts.yaml", "constraints:\n",
         "  sibling_waiting:\n    values: [true, false]\n    label_sv: x\n    label_en: x\n    description: x\n"
         "constraints:\n",
         r"facts.yaml: facts.sibling_waiting: classifier/facts.py derive never produces this fact"),
        ("facts.yaml", "    values: [assessment, basic_investigation, investigation, treatment, follow_up, advice]",
         "    values: [assessment, basic_investigation, investigation, treatment, follow_up]",
         r"facts.yaml: facts.activity.values: missing \['advice'\]; expected exactly"),
        ("facts.yaml", "    values: [A, B, C, none]", "    values: [A, B, C, D, none]",
         r"facts.yaml: facts.pathway.values: not allowed \['D'\]"),
    ],
)
def test_tables_and_facts_agree_with_the_request_model_and_derive(rules_copy, rel, old, new, message) -> None:
    _edit(rules_copy, rel, old, new)
    with pytest.raises(RuleSetError, match=message):
        load(rules_copy)


def test_a_fact_derive_produces_but_facts_yaml_lacks_is_named(rules_copy) -> None:
    path = rules_copy / "facts.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  problem_gap:\n")
    path.write_text(text[:start] + text[text.index("constraints:\n"):], encoding="utf-8")
    with pytest.raises(RuleSetError, match=r"facts.yaml: facts: missing \['problem_gap'\], which classifier/facts.py"):
        load(rules_copy)


def test_valid_from_may_be_given_as_a_date(rules_copy) -> None:
    """The decision log's `valid_from` in ruleset.yaml is known to the schema (and typed)."""
    _edit(rules_copy, "ruleset.yaml", 'valid_from: "2025-01-01"\n', "valid_from: 2026-01-01\n")
    assert str(load(rules_copy).valid_from) == "2026-01-01"
    _edit(rules_copy, "ruleset.yaml", "valid_from: 2026-01-01\n", "valid_from: soon\n")
    with pytest.raises(RuleSetError, match=r"ruleset.yaml.valid_from: Input should be a valid date"):
        load(rules_copy)


@given(requests())
def test_derive_produces_exactly_the_declared_facts_and_values(classifier, req) -> None:
    """FACT_VALUES (which facts.yaml must equal) is what derive really produces."""
    from classifier.errors import parse
    from classifier.facts import FACT_VALUES, HistoryIndex, derive
    from classifier.models import ClassifyRequest

    request = parse(ClassifyRequest, req)
    derived = derive(request.contact, request.care_request,
                     HistoryIndex.from_history(request.history, classifier.ruleset), classifier.ruleset)
    assert list(derived.facts) == list(FACT_VALUES)
    for fact, value in derived.facts.items():
        assert value in FACT_VALUES[fact] and type(value) is type(FACT_VALUES[fact][0]), (fact, value)


def test_every_docs_section_the_code_cites_exists_in_this_repository() -> None:
    """Users clone only this repository: 'docs/X.md §N' in code, pages and tests must name a real heading."""
    root = DOCS.parent.parent
    cites = 0
    for path in [*root.glob("classifier/**/*.py"), *root.glob("api/**/*.py"), *root.glob("api/workbench/*.html"),
                 *root.glob("tests/*.py"), *root.glob("bench/*.py")]:
        for name, section in re.findall(r"docs/(\w+)\.md (?:avsnitt )?§(\d+(?:\.\d+)?)", path.read_text("utf-8")):
            doc = root / "docs" / f"{name}.md"
            assert doc.is_file(), f"{path}: cites docs/{name}.md, which is not in the repository"
            headings = {m.group(1) for m in re.finditer(r"(?m)^#{2,3} (\d+(?:\.\d+)?)\.? ", doc.read_text("utf-8"))}
            assert section in headings, f"{path}: cites docs/{name}.md §{section}, not a heading there"
            cites += 1
    assert cites > 20
    workshop = re.compile(r"\b(MONTH|DOMAIN|NATIONAL)\.md")  # the workshop's spec files, not in this repository
    assert not [p for p in root.glob("**/*.py") if ".venv" not in p.parts and workshop.search(p.read_text("utf-8"))
                and p.name != "test_ruleset.py"]


# -- medications: a confirmed entry names its public source; a provisional one that decides warns ----


def test_a_confirmed_medication_without_its_source_is_refused_by_name(rules_copy: Path) -> None:
    """Issue 21 item 7: `confirmed: true` must say which public source confirms it."""
    _edit(rules_copy, "tables/medications.yaml",
          'sertraline, confirmed: true, source: "WHO ATC index, N06AB06 Sertraline: '
          'https://atcddd.fhi.no/atc_ddd_index/?code=N06AB06"}', "sertraline, confirmed: true}")
    with pytest.raises(RuleSetError, match=r"tables/medications\.yaml\.atc\[7\]: N06AB06 \(sertraline\) is "
                                           r"confirmed: true but names no source"):
        load(rules_copy)


def test_every_confirmed_medication_names_a_public_source_for_its_own_code() -> None:
    atc = load().tables["medications"]["atc"]
    confirmed = [e for e in atc if e["confirmed"]]
    assert confirmed and all(e.get("source") for e in confirmed)
    for e in confirmed:  # the source is the public page of this very code
        assert e["code"] in e["source"] and "https://atcddd.fhi.no/atc_ddd_index/?code=" + e["code"] in e["source"]
    assert [e["code"] for e in atc if not e["confirmed"]] == ["N06AB", "N05A"]


def _treatment(codes: list[str], activity: str = "treatment") -> dict[str, object]:
    """A pharmacological contact after a first visit (examples/treatment/19 and 20)."""
    return {"contact": {"id": "c", "date": "2026-05-05", "setting": "bup", "activity": activity,
                        "health_problem": "F32", "treatment_modality": "pharmacological",
                        "medications_atc": codes, "decision_date": "2026-04-28"},
            "history": [{"type": "contact", "date": "2026-03-10", "setting": "bup", "contact_type": "first_visit",
                         "health_problem": "F32"}]}


def _codes(answer: dict[str, object]) -> list[str]:
    return [w["code"] for w in answer["warnings"]]  # type: ignore[attr-defined, index]


def test_an_answer_decided_by_a_provisional_medication_entry_warns(classifier) -> None:
    answer = classifier.classify(_treatment(["N06AB03"]))  # fluoxetine: only the provisional prefix N06AB
    assert (answer["contact_type"], answer["rule"]["id"]) == ("treatment", "B1")
    [warning] = [w for w in answer["warnings"] if w["code"] == "provisional_medication"]
    assert warning["items"] == ["N06AB03"]
    message = warning["message"]
    assert "N06AB03" in message and "(N06AB)" in message and '"Return visit"' in message
    assert "preliminär post" in warning["message_sv"] and "”Återbesök”" in warning["message_sv"]
    counted = classifier.for_counting().classify(_treatment(["N06AB03"]))  # the month counts it too
    assert "provisional_medication" in _codes(counted)


@pytest.mark.parametrize(("codes", "activity", "why"), [
    (["N06AB06"], "treatment", "sertraline matches the confirmed entry N06AB06 as well as the prefix"),
    (["N06AB03", "N06BA04"], "treatment", "methylphenidate, a confirmed entry, covers the treatment anyway"),
    (["N06AB03"], "assessment", "an assessment's type does not depend on the medication list"),
    (["N07BB01"], "treatment", "no entry matches: medication_not_covered, not a provisional cover"),
])
def test_no_provisional_warning_when_no_provisional_entry_decided(classifier, codes: list[str], activity: str,
                                                                  why: str) -> None:
    assert "provisional_medication" not in _codes(classifier.classify(_treatment(codes, activity))), why
