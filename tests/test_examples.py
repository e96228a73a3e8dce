"""Every clinical example under examples/ is answered as its file says."""

from __future__ import annotations

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
