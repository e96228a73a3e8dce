"""Every clinical example under examples/ is answered as its file says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from classifier import examples

ALL = examples.load()


def test_there_are_examples_for_every_rule_firing_and_just_missing(classifier) -> None:
    ids = {r.id for r in classifier.ruleset.rules}
    fired = {r for e in ALL for r in e.fires}
    missed = {r for e in ALL for r in e.misses}
    assert ids - fired == set(), "rules without an example where they fire"
    assert ids - missed == set(), "rules without an example where they just miss"


@pytest.mark.parametrize("example", ALL, ids=[e.name for e in ALL])
def test_example(classifier, example) -> None:
    assert examples.check(classifier, example) == []


@pytest.mark.parametrize("example", [e for e in ALL if e.request and e.fires], ids=lambda e: e.name)
def test_declared_rule_is_the_one_that_fires(classifier, example) -> None:
    assert classifier.classify(example.request)["rule"]["id"] in example.fires


def test_the_library_is_organised_by_the_definitions_documents_sections() -> None:
    """Issue 5: at least 60 examples, each in a section of sections.yaml, scenarios A, B and C each shown."""
    sections = examples.sections()
    assert len(ALL) >= 60
    assert list(sections)[:6] == ["first_visit", "investigation", "treatment", "return_visit", "acute", "scenarios"]
    assert {e.section for e in ALL} <= set(sections)
    assert all(s["title_sv"] and s["title_en"] and s["source"] for s in sections.values())
    pathways = {e.request.get("care_request", {}).get("pathway") for e in ALL
                if e.section == "scenarios" and e.request}
    assert {"A", "B", "C"} <= pathways


@pytest.mark.parametrize("example", ALL, ids=[e.name for e in ALL])
def test_every_story_is_told_in_swedish(example) -> None:
    assert re.search(r"[åäöÅÄÖ]|\b(och|som|inte|till|med|för|ett)\b", example.story), example.story


def test_sections_file_is_not_read_as_an_example(tmp_path: Path) -> None:
    (tmp_path / examples.SECTIONS_FILE).write_text("sections: {}\n", encoding="utf-8")
    assert examples.load(tmp_path) == []
