"""What the per-contact path works out once per rule set (answer texts, contact-type parts, direct-start
checklists; classifier/answer.py, classifier/facts.py) is kept apart per rule set: two rule sets in one
process, asked in turn, each answer in its own rule set's words and by its own checklist."""

from __future__ import annotations

from pathlib import Path

import yaml

from classifier import Classifier, examples

NAMES = ("first_visit/13_missing_care_request", "investigation/16_direct_start_item_not_answered",
         "scenarios/06_b_direct_start_refused_competence", "treatment/03_medication_not_covered")


def _edit(path: Path, change: str, to: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert change in text, change
    path.write_text(text.replace(change, to, 1), encoding="utf-8")


def test_two_rule_sets_in_turn_answer_each_by_its_own_tables(classifier: Classifier, rules_copy: Path) -> None:
    tables = rules_copy / "tables"
    _edit(tables / "contact_types.yaml", "label_en: First visit", "label_en: First visit (changed)")
    _edit(tables / "warnings.yaml", "message_en: \"No care request", "message_en: \"Changed: no care request")
    _edit(tables / "evi_checklist.yaml", "text_en: EVI staff", "text_en: Changed EVI staff")
    checklist = yaml.safe_load((tables / "evi_checklist.yaml").read_text(encoding="utf-8"))
    d5 = next(i for i in checklist["items"] if i["id"] == "D5")
    assert d5["unanswered"] == "not_met"
    text = (tables / "evi_checklist.yaml").read_text(encoding="utf-8")
    start = text.index("  - id: D5\n")
    end = text.index("unanswered: not_met", start)
    (tables / "evi_checklist.yaml").write_text(text[:end] + "unanswered: met" + text[end + len("unanswered: not_met"):],
                                               encoding="utf-8")
    changed = Classifier(rules_copy)
    assert changed.ruleset.sha256 != classifier.ruleset.sha256
    requests = {e.name: e.request for e in examples.load() if e.name in NAMES}
    assert set(requests) == set(NAMES)

    for _ in range(2):  # in turn, so that whichever answered first has filled its memories
        for name, req in requests.items():
            ours, theirs = classifier.classify(req), changed.classify(req)
            if ours["contact_type"] == "first_visit":
                assert ours["label_en"] == "First visit"
            if theirs["contact_type"] == "first_visit":
                assert theirs["label_en"] == "First visit (changed)"
            if name == "first_visit/13_missing_care_request":
                assert ours["warnings"][0]["message"].startswith("No care request")
                assert theirs["warnings"][0]["message"].startswith("Changed: no care request")
            if name == "investigation/16_direct_start_item_not_answered":
                # D5 unanswered: not met by the rule set, met by the changed one (a direct start)
                assert ours["warnings"][0]["code"] == "direct_start_criteria_not_met"
                assert "D5" in ours["warnings"][0]["items_not_answered"]
                assert theirs["contact_type"] != ours["contact_type"] and not theirs["warnings"]
            if name == "scenarios/06_b_direct_start_refused_competence":
                assert "Changed EVI staff" not in ours["warnings"][0]["message"]
            if name == "treatment/03_medication_not_covered":
                assert ours == {**theirs, "ruleset": ours["ruleset"]}
