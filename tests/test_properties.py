"""Property-based regression tests: the engine against an independent oracle, and invariants.

Each invariant is named after the docs/definitions.md / API.md sentence it protects. A change to a
rule file that changes an answer nobody meant to change fails here.
"""

from __future__ import annotations

import json
import os
import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from classifier import InputError
from classifier.models import TimelineRequest
from tests import oracle
from tests.client import client
from tests.helpers import timeline_requests
from tests.strategies import bad_requests, requests, timelines

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
ORACLE_EXAMPLES = 50_000 if LONG else 2_000


def view(answer: dict) -> dict:
    return {"contact_type": answer["contact_type"], "rule": answer["rule"]["id"], "wait": answer["wait"],
            "warnings": sorted(w["code"] for w in answer["warnings"])}


@settings(max_examples=ORACLE_EXAMPLES)
@given(requests())
def test_engine_agrees_with_the_independent_oracle(classifier, req) -> None:
    assert view(classifier.classify(req)) == oracle.answer(req)


@settings(max_examples=ORACLE_EXAMPLES // 4)
@given(timelines())
def test_timeline_agrees_with_the_oracle_and_with_single_contacts(classifier, tl) -> None:
    """API.md: each contact is classified with the history formed by the events before it."""
    try:
        results = classifier.classify_timeline(tl)["results"]
    except InputError:
        return  # e.g. a generated decision date after its contact; covered by the bad-input tests
    for req, res in zip(timeline_requests(TimelineRequest.model_validate(tl), results), results, strict=True):
        single = req.model_dump(mode="json", exclude_none=True)
        assert classifier.classify(single) == res
        assert view(res) == oracle.answer(single)


@settings(max_examples=ORACLE_EXAMPLES // 4)
@given(timelines())
def test_a_counting_fold_answers_what_the_explaining_one_does(classifier, tl) -> None:
    """The month's classifier (each fact assignment decided once, answers without their explanation)
    gives every contact the type, rule, wait and warning codes the service's own answer has."""
    counting = classifier.for_counting()
    try:
        full = classifier.classify_timeline(tl)["results"]
    except InputError:
        return
    lean = counting.classify_timeline(tl)["results"]
    assert lean == counting.classify_timeline(tl)["results"]  # the second time from the decisions remembered
    assert [{"contact_id": a["contact_id"], "contact_type": a["contact_type"],
             "measurement_point": a["measurement_point"], "wait": a["wait"],
             "rule": {"id": a["rule"]["id"], "stage": a["rule"]["stage"]},
             "warnings": [{"code": w["code"]} for w in a["warnings"]], "ruleset": a["ruleset"]} for a in full] == [
        {**b, "warnings": [{"code": w["code"]} for w in b["warnings"]]} for b in lean]


@given(requests())
def test_acute_and_outside_model_are_never_measurement_points(classifier, req) -> None:
    """docs/definitions.md §2: acute contacts and outside_model are not measurement points (no wait)."""
    a = classifier.classify(req)
    if a["contact_type"] in ("acute", "outside_model", "return_visit"):
        assert a["measurement_point"] is False and a["care_guarantee"] is False and a["wait"] is None


@given(requests())
def test_wait_is_null_exactly_when_not_a_measurement_point(classifier, req) -> None:
    """API.md: `wait` is null when the contact is not a measurement point."""
    a = classifier.classify(req)
    assert (a["wait"] is None) == (not a["measurement_point"])
    assert a["measurement_point"] == (a["contact_type"] in ("first_visit", "investigation", "treatment"))


@given(requests())
def test_wait_flags(classifier, req) -> None:
    """docs/definitions.md §7: within the limit is days <= 30; the numerator implies the denominator;
    MOV and SOV are never counted; PVV leaves the denominator exactly from 31 days."""
    w = classifier.classify(req)["wait"]
    if w is None or w["days"] is None:
        return
    assert w["within_limit"] == (w["days"] <= 30)
    assert not w["in_numerator"] or w["in_denominator"]
    if w["exclusion"] in ("MOV", "SOV"):
        assert w["in_numerator"] is False and w["in_denominator"] is False
    if w["exclusion"] == "PVV":
        assert w["in_denominator"] == (w["days"] < 31)
        assert w["in_numerator"] == w["within_limit"]
    if w["exclusion"] is None:
        assert w["in_denominator"] is True and w["in_numerator"] == w["within_limit"]


@given(requests(), st.randoms(use_true_random=False))
def test_only_the_order_within_a_date_matters(classifier, req, rnd: random.Random) -> None:
    """docs/definitions.md §3: events on different dates may be sent in any order; same-date ones keep theirs.

    The history is shuffled, then same-date items are put back in their relative order.
    """
    shuffled = rnd.sample(req["history"], len(req["history"]))
    by_date: dict[str, list[dict]] = {}
    for item in req["history"]:
        by_date.setdefault(item["date"], []).append(item)
    queues = {d: iter(items) for d, items in by_date.items()}
    reordered = [next(queues[item["date"]]) for item in shuffled]
    assert classifier.classify({**req, "history": reordered}) == classifier.classify(req)


@given(requests())
def test_the_order_within_a_date_can_change_the_answer_only_as_the_oracle_says(classifier, req) -> None:
    """Reversing each date's items is a different request; engine and oracle still agree on it."""
    by_date: dict[str, list[dict]] = {}
    for item in req["history"]:
        by_date.setdefault(item["date"], []).append(item)
    reversed_req = {**req, "history": [i for d in sorted(by_date) for i in reversed(by_date[d])]}
    got = classifier.classify(reversed_req)
    want = oracle.answer(reversed_req)
    assert (got["contact_type"], got["rule"]["id"]) == (want["contact_type"], want["rule"])


@given(requests(), st.lists(st.sampled_from(["contact", "investigation_concluded", "treatment_concluded"]),
                            min_size=1, max_size=4), st.integers(1, 400))
def test_history_older_than_a_care_closed_boundary_does_not_change_the_answer(classifier, req, kinds, back) -> None:
    """docs/definitions.md §4: "When a care commitment ends, everything in it ends with it."

    With a care_closed event followed by a commitment contact, anything added before the
    closing leaves the contact type, measurement point, wait and warnings as they were.
    (The rule may move between the two rules of the same outcome, U1<->U2 or B1<->B2,
    because "investigated before"/"treated before" read the whole history.)
    """
    d = date.fromisoformat(req["contact"]["date"])
    closed = d - timedelta(days=30)
    base = {**req, "history": [{"type": "care_closed", "date": closed.isoformat()},
                               {"type": "contact", "date": (closed + timedelta(days=1)).isoformat(),
                                "setting": "bup", "contact_type": "first_visit", "health_problem": "F41"}]}
    old = (closed - timedelta(days=back)).isoformat()
    extra = [{"type": "contact", "date": old, "setting": "bup", "contact_type": t, "health_problem": p}
             for t, p in [("investigation", "F41"), ("treatment", "F90"), ("first_visit", "F84"),
                          ("return_visit", "F41")]]
    extra += [{"type": k, "date": old, "health_problem": "F41"} for k in kinds if k != "contact"]
    try:
        before = classifier.classify(base)
    except InputError:
        return
    after = classifier.classify({**base, "history": base["history"] + extra})
    same = ("contact_type", "measurement_point", "wait", "warnings")
    assert {k: after[k] for k in same} == {k: before[k] for k in same}
    family = {"U1": "U", "U2": "U", "B1": "B", "B2": "B"}
    assert family.get(after["rule"]["id"], after["rule"]["id"]) == family.get(before["rule"]["id"],
                                                                            before["rule"]["id"])


@given(requests())
def test_the_same_request_gives_the_same_answer_byte_for_byte(classifier, req) -> None:
    """docs/definitions.md §9: an answer can be audited later; the same input always gives the same bytes."""
    a = json.dumps(classifier.classify(req), sort_keys=False).encode()
    b = json.dumps(classifier.classify(json.loads(json.dumps(req))), sort_keys=False).encode()
    assert a == b


@given(bad_requests())
def test_every_bad_request_is_a_422_naming_the_field(bad) -> None:
    """API.md: errors are 422 with a body that names every offending field; never a 500 or an answer."""
    req, path = bad
    r = client.post("/v1/classify", json=req)
    assert r.status_code == 422, r.text[:500]
    errors = r.json()["errors"]
    assert path in [e["path"] for e in errors], errors
    assert all(e["message"] for e in errors)
