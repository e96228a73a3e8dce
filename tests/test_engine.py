"""The durable-rules engine as we use it: unique hit, defects named, no leaks, thread safe."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from classifier import Classifier, conditions, ruleset
from classifier.engine import Engine, EngineError, RuleSetDefect
from classifier.verify import valid_combinations, verify
from tests.helpers import contact, hist, request


def valid_assignments(rs):
    yield from valid_combinations(rs)


def test_exactly_one_rule_for_every_valid_fact_combination(classifier) -> None:
    report = verify(classifier.ruleset, classifier.engine)
    assert report.ok, report.text()
    assert report.combinations == len(valid_combinations(classifier.ruleset)) > 30000


def test_verifier_reports_overlaps_gaps_and_dead_rules(rules_copy, capsys, monkeypatch) -> None:
    _overlap(rules_copy)
    path = rules_copy / "stages" / "ongoing.yaml"
    path.write_text(path.read_text().replace("activity: [assessment, basic_investigation, follow_up]",
                                             "activity: [assessment, basic_investigation]"))
    scope = rules_copy / "stages" / "scope.yaml"
    scope.write_text(scope.read_text().replace("when: {activity: advice}", "when: {activity: advice, urgent: true}"))
    report = verify(ruleset.load(rules_copy))
    assert not report.ok
    assert report.overlaps and all(rules == ["U2", "U3"] for _, rules in report.overlaps)
    assert report.gaps and all(g["activity"] in ("follow_up", "advice") for g in report.gaps)
    assert report.never_fire == []
    text = report.text()
    assert "OVERLAP  U2, U3 all fire for" in text and "GAP      no rule fires for" in text
    monkeypatch.setenv("BUP_RULES_DIR", str(rules_copy))
    from classifier import cli
    from classifier.classify import default_classifier

    default_classifier.cache_clear()
    try:
        assert cli.main(["rules", "--verify"]) == 1
        assert "FAILED:" in capsys.readouterr().out
    finally:
        default_classifier.cache_clear()


def test_verifier_reports_a_rule_that_can_never_fire(rules_copy) -> None:
    acute = rules_copy / "stages" / "acute.yaml"
    never = "when: {urgent: true, setting: evi, pathway: B}"  # S1 always wins there
    acute.write_text(acute.read_text().replace("when: {urgent: true}", never))
    report = verify(ruleset.load(rules_copy))
    assert report.never_fire == ["A1"] and "NEVER    A1" in report.text()


def test_engine_agrees_with_the_condition_tree(classifier) -> None:
    """The compiled engine and the rule files' own conditions say the same thing."""
    rs = classifier.ruleset
    for i, facts in enumerate(valid_assignments(rs)):
        if i % 7:
            continue
        holding = [r.id for r in rs.rules if conditions.holds(r.effective, facts)]
        assert holding == [classifier.engine.ask(facts).rule_id]


def test_remembered_decisions_are_the_engines_own(classifier) -> None:
    """Every entry point's decision memory answers exactly what durable_rules answers, for every valid
    assignment (every seventh, in a shuffled order, asked twice: the second time from memory)."""
    engine = Engine(classifier.ruleset)
    sample = [facts for i, facts in enumerate(valid_assignments(classifier.ruleset)) if i % 7 == 0]
    for facts in sample + sample[::-1]:
        assert engine.decide(facts) == engine.ask(facts)
    assert engine.asked_engine == len(sample)


def test_remembered_decisions_take_every_fact_as_the_key(classifier) -> None:
    """Facts that differ in any one fact are different questions; a fact too many or too few is an error."""
    engine = Engine(classifier.ruleset)
    facts = next(valid_assignments(classifier.ruleset))
    first = engine.decide(facts)
    for name, values in classifier.ruleset.domains.items():
        for v in values:
            if v != facts[name]:
                other = {**facts, name: v}
                try:
                    expected = engine.ask(other)
                except RuleSetDefect:  # an assignment the constraints rule out
                    continue
                assert engine.decide(other) == expected
    assert engine.decide(facts) == first
    with pytest.raises(EngineError, match="expected the facts"):
        engine.decide({**facts, "extra": True})
    with pytest.raises(EngineError, match="expected the facts"):
        engine.decide({k: v for k, v in facts.items() if k != name})


def test_the_service_and_the_month_share_one_engine_and_its_memory(classifier) -> None:
    """One decision path: the counting classifier (month, impact) is the service's engine, not a second one."""
    assert classifier.for_counting().engine is classifier.engine


def test_a_defect_is_never_remembered(rules_copy) -> None:
    _overlap(rules_copy)
    c = Classifier(rules_copy).for_counting()
    history = [hist("2026-01-10", "first_visit", "F90"), hist("2026-02-01", "investigation", "F90"),
               {"type": "investigation_concluded", "date": "2026-03-01", "health_problem": "F90"}]
    for _ in range(2):
        with pytest.raises(RuleSetDefect, match="several rules fired: U2, U3"):
            c.classify(request(contact("2026-03-10", "investigation", "F90"), history))
    assert c.engine.asked_engine == 2


def _overlap(rules_copy: Path) -> None:
    path = rules_copy / "stages" / "ongoing.yaml"
    text = path.read_text()
    # U3 without its "not concluded" condition overlaps U2.
    path.write_text(text.replace("      investigation_concluded: false\n      problem_gap: false\n",
                                 "      problem_gap: false\n", 1))


def test_an_overlap_is_a_named_defect_not_a_silent_pick(rules_copy) -> None:
    _overlap(rules_copy)
    c = Classifier(rules_copy)
    history = [hist("2026-01-10", "first_visit", "F90"), hist("2026-02-01", "investigation", "F90"),
               {"type": "investigation_concluded", "date": "2026-03-01", "health_problem": "F90"}]
    with pytest.raises(RuleSetDefect, match="several rules fired: U2, U3"):
        c.classify(request(contact("2026-03-10", "investigation", "F90"), history))


def test_a_gap_is_a_named_defect(rules_copy) -> None:
    path = rules_copy / "stages" / "ongoing.yaml"
    path.write_text(path.read_text().replace("activity: [assessment, basic_investigation, follow_up]",
                                             "activity: [assessment, basic_investigation]"))
    c = Classifier(rules_copy)
    with pytest.raises(RuleSetDefect, match="no classification rule fired"):
        c.classify(request(contact("2026-03-10", "follow_up"), [hist("2026-01-10", "first_visit")]))


def test_nothing_is_left_in_the_engine(classifier) -> None:
    e = classifier.engine
    for facts in list(valid_assignments(classifier.ruleset))[:500]:
        e.ask(facts)
    with __import__("classifier.engine", fromlist=["_LOCK"])._LOCK:
        assert e._host.get_facts(e._name) == []
        state = e._host.get_state(e._name)
    assert "exception" not in state


def test_an_engine_failure_is_raised_and_leaves_nothing_behind(classifier, monkeypatch) -> None:
    from classifier import engine as engine_module

    e = Engine(classifier.ruleset)
    facts = next(valid_assignments(classifier.ruleset))
    expected = e.ask(facts)

    def boom(*_args):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine_module._c, "complete_and_start_action", boom)
    with pytest.raises(EngineError, match=r"action loop: boom"):
        e.ask(facts)
    with pytest.raises(EngineError, match=r"action loop: boom"):
        Engine(classifier.ruleset).decide(facts)  # a failure on first sight is raised, not remembered
    monkeypatch.undo()
    assert e.ask(facts) == expected  # the half-done session was replaced: the engine answers right again
    fresh = Engine(classifier.ruleset)
    for other in list(valid_assignments(classifier.ruleset))[:300]:
        assert e.ask(other) == fresh.ask(other)
    with engine_module._LOCK:
        assert e._host.get_facts(e._name) == []


def test_compiled_terms_are_disjoint_and_equivalent(classifier) -> None:
    """One engine action per rule: the terms of a rule never hold together."""
    rs = classifier.ruleset
    for rule in rs.rules:
        terms = conditions.disjoint_dnf(rule.effective, rs.domains)
        names = conditions.facts_of(rule.effective)
        for a in conditions.assignments(rs.domains, list(rs.domains) if len(names) > 9 else names):
            hits = sum(all(a[f] in v for f, v in t.items()) for t in terms)
            assert hits == int(conditions.holds(rule.effective, a)), (rule.id, a)


def test_concurrent_classifications_match_sequential_ones(classifier) -> None:
    """32 threads at once: no crash, and each answer is the one it gets alone."""
    from classifier import examples

    reqs = [e.request for e in examples.load() if e.request and "error_paths" not in e.expect]
    expected = [classifier.classify(r) for r in reqs]
    errors: list[str] = []

    def worker(offset: int) -> None:
        for k in range(len(reqs)):
            i = (k + offset) % len(reqs)
            if classifier.classify(reqs[i]) != expected[i]:
                errors.append(reqs[i]["contact"]["id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_many_engines_can_coexist(rules_copy) -> None:
    """A rule set can be loaded again (a new uniquely named durable ruleset each time)."""
    a, b = Classifier(rules_copy), Classifier(rules_copy)
    req = request(contact("2026-02-26"), care_request={"received_date": "2026-02-02", "pathway": "A"})
    assert a.classify(req) == b.classify(req)
    assert ruleset.load(rules_copy).sha256 == a.ruleset.sha256


# ---- issue 12.2: the warning conditions are verified too ----------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field", "key", "line"),
    [
        ("        when: {direct_start_allowed: true}\n",
         "        when: {direct_start_allowed: true, pharmacological: false}\n",
         "never_warn", "N5!medication_not_covered", "NEVER    warning N5!medication_not_covered fires for no"),
        ("        when: {direct_start_allowed: false}\n", "        when: {activity: treatment}\n",
         "always_warn", "N5!direct_start_criteria_not_met",
         "ALWAYS   warning N5!direct_start_criteria_not_met fires wherever its rule fires"),
        ("        when: {direct_start_allowed: false}\n",
         "        when: {direct_start_allowed: false, urgent: false}\n",
         "outside_facts", ("N5!direct_start_criteria_not_met", ["urgent"]),
         "FACTS    warning N5!direct_start_criteria_not_met reads ['urgent']"),
    ],
)
def test_verifier_reports_warning_conditions_that_never_or_always_fire_or_read_other_facts(
    rules_copy, capsys, monkeypatch, old, new, field, key, line
) -> None:
    path = rules_copy / "stages" / "new_commitment.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    report = verify(ruleset.load(rules_copy))
    assert not (report.gaps or report.overlaps or report.never_fire)
    assert getattr(report, field) == [key] and not report.ok
    assert line in report.text() and "1 warning condition(s) wrong" in report.text()
    monkeypatch.setenv("BUP_RULES_DIR", str(rules_copy))
    from classifier import cli
    from classifier.classify import default_classifier

    default_classifier.cache_clear()
    try:
        assert cli.main(["rules", "--verify"]) == 1
        assert line in capsys.readouterr().out
    finally:
        default_classifier.cache_clear()


def test_the_real_warning_conditions_fire_sometimes_within_their_rule(classifier) -> None:
    report = verify(classifier.ruleset, classifier.engine)
    assert report.warned == {"N5!direct_start_criteria_not_met": 360, "N5!medication_not_covered": 54}
    assert report.fired["N5"] == 414


def test_the_bit_space_agrees_with_the_condition_tree(classifier) -> None:
    """Space.mask is the truth table of a condition over the valid combinations, as `holds` says."""
    from classifier.verify import Space

    rs = classifier.ruleset
    space = Space(rs)
    combos = valid_combinations(rs)
    assert space.size == len(combos)
    for rule in rs.rules:
        mask = space.mask(rule.effective)
        assert [bool(mask >> i & 1) for i in range(len(combos))] == [
            conditions.holds(rule.effective, a) for a in combos], rule.id
    rules, warnings = space.decisions(rs.rules)
    assert sum(bin(m).count("1") for _, m in rules.values()) == len(combos)  # exactly one rule each
    assert all(m == space.mask(rs.rules_by_id[rid].effective) for rid, (_, m) in rules.items())
    assert set(warnings) == {"N3!direct_start_criteria_not_met", "N5!direct_start_criteria_not_met",
                             "N5!medication_not_covered", "B4!medication_not_covered"}
