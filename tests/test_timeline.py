"""API.md timeline: each contact's answer equals the single-contact answer with the derived history."""

from __future__ import annotations

import pytest

from classifier import InputError, examples
from classifier.models import TimelineRequest
from tests.helpers import timeline_requests

JOURNEYS = [e for e in examples.load() if e.timeline]


@pytest.mark.parametrize("journey", JOURNEYS, ids=[e.name for e in JOURNEYS])
def test_timeline_answer_equals_single_contact_answer(classifier, journey) -> None:
    results = classifier.classify_timeline(journey.timeline)["results"]
    requests = timeline_requests(TimelineRequest.model_validate(journey.timeline), results)
    assert len(requests) == len(results)
    for req, res in zip(requests, results, strict=True):
        assert classifier.classify_request(req) == res
        assert classifier.classify(req.model_dump(mode="json")) == res


def test_events_out_of_order_are_rejected(classifier) -> None:
    events = [
        {"type": "care_closed", "date": "2026-02-01"},
        {"type": "contact", "contact": {"id": "a", "date": "2026-01-01", "setting": "bup",
                                        "activity": "assessment", "health_problem": "F41"}},
    ]
    with pytest.raises(InputError) as exc:
        classifier.classify_timeline({"events": events})
    assert [e["path"] for e in exc.value.errors] == ["events[1].date"]


def test_one_bad_contact_rejects_the_whole_timeline(classifier) -> None:
    good = {"type": "contact", "contact": {"id": "a", "date": "2026-01-01", "setting": "bup",
                                          "activity": "assessment", "health_problem": "F41"}}
    bad = {"type": "contact", "contact": {"id": "b", "date": "2026-01-02", "setting": "bup",
                                         "health_problem": "F41"}}
    with pytest.raises(InputError) as exc:
        classifier.classify_timeline({"events": [good, bad]})
    assert [e["path"] for e in exc.value.errors] == ["events[1].contact.activity"]


# ---- the two event kinds of issue 14: care_request and decision ---------------------------------

def _c(cid: str, day: str, activity: str, problem: str = "F90", **extra) -> dict:
    return {"type": "contact", "contact": {"id": cid, "date": day, "setting": "bup", "activity": activity,
                                           "health_problem": problem, **extra}}


def _run(classifier, events: list[dict]) -> list[dict]:
    """Classify and check the metamorphic property on the way: each answer equals its single-contact answer."""
    results = classifier.classify_timeline({"events": events})["results"]
    for req, res in zip(timeline_requests(TimelineRequest.model_validate({"events": events}), results), results,
                        strict=True):
        assert classifier.classify_request(req) == res
    return results


def test_a_contact_takes_the_open_care_request_and_a_first_visit_ends_it(classifier) -> None:
    events = [{"type": "care_request", "date": "2026-01-10", "pathway": "A"},
              _c("a", "2026-02-01", "assessment"),
              _c("b", "2027-06-01", "assessment")]  # a new commitment (12-month rule): no open request left
    first, later = _run(classifier, events)
    assert first["contact_type"] == "first_visit"
    assert first["wait"]["start_date"] == "2026-01-10" and first["wait"]["days"] == 22
    assert later["contact_type"] == "first_visit" and later["wait"]["start_date"] is None
    assert [w["code"] for w in later["warnings"]] == ["missing_care_request"]


def test_a_direct_start_ends_the_care_request(classifier) -> None:
    from tests.helpers import FULL_CHECKLIST

    events = [{"type": "care_request", "date": "2026-01-10", "pathway": "B", "evi_assessment": FULL_CHECKLIST},
              {"type": "decision", "date": "2026-01-20", "area": "investigation", "health_problem": "F90"},
              _c("a", "2026-02-01", "investigation"),
              _c("b", "2027-06-01", "assessment")]
    direct, later = _run(classifier, events)
    assert (direct["contact_type"], direct["rule"]["id"]) == ("investigation", "N2")
    assert direct["wait"]["start_date"] == "2026-01-20"  # an investigation waits from its decision
    assert later["wait"]["start_date"] is None


def test_care_closed_ends_open_care_requests_and_decisions(classifier) -> None:
    events = [{"type": "care_request", "date": "2026-01-10", "pathway": "A"},
              {"type": "decision", "date": "2026-01-12", "area": "treatment", "health_problem": "F90"},
              {"type": "care_closed", "date": "2026-01-15"},
              _c("a", "2026-02-01", "assessment"),
              _c("b", "2026-02-10", "treatment")]
    first, treatment = _run(classifier, events)
    assert first["wait"]["start_date"] is None
    assert treatment["contact_type"] == "treatment" and treatment["wait"]["start_date"] is None


def test_a_contact_takes_the_decision_of_its_area_and_problem_until_a_measurement_point_ends_it(classifier) -> None:
    events = [{"type": "care_request", "date": "2026-01-05", "pathway": "A"},
              _c("a", "2026-01-20", "assessment"),
              {"type": "decision", "date": "2026-02-01", "area": "treatment", "health_problem": "F90"},
              {"type": "decision", "date": "2026-02-03", "area": "investigation", "health_problem": "F41"},
              {"type": "decision", "date": "2026-02-05", "area": "investigation", "health_problem": "F90"},
              _c("b", "2026-03-01", "investigation"),           # takes F90's investigation decision
              _c("c", "2026-03-09", "investigation", "F41"),    # takes F41's
              _c("d", "2026-03-10", "treatment"),               # takes the treatment decision
              _c("e", "2026-06-01", "investigation", "F41")]    # F41's decision has ended: a return visit
    _, inv90, inv41, tr, again = _run(classifier, events)
    assert (inv90["contact_type"], inv90["wait"]["start_date"], inv90["wait"]["days"]) == (
        "investigation", "2026-02-05", 24)
    assert (inv41["contact_type"], inv41["wait"]["start_date"]) == ("investigation", "2026-02-03")
    assert (tr["contact_type"], tr["wait"]["start_date"], tr["wait"]["days"]) == ("treatment", "2026-02-01", 37)
    assert again["contact_type"] == "return_visit" and again["wait"] is None


def test_a_concluded_event_ends_the_decision_of_its_area_only(classifier) -> None:
    events = [{"type": "care_request", "date": "2026-01-05", "pathway": "A"},
              _c("a", "2026-01-20", "assessment"),
              {"type": "decision", "date": "2026-02-01", "area": "investigation", "health_problem": "F90"},
              {"type": "decision", "date": "2026-02-02", "area": "treatment", "health_problem": "F90"},
              {"type": "investigation_concluded", "date": "2026-02-10", "health_problem": "F90"},
              _c("b", "2026-03-01", "investigation"),
              _c("c", "2026-03-02", "treatment")]
    _, inv, tr = _run(classifier, events)
    assert inv["contact_type"] == "investigation" and inv["wait"]["start_date"] is None
    assert [w["code"] for w in inv["warnings"]] == ["missing_decision_date"]
    assert tr["wait"]["start_date"] == "2026-02-02"


def test_what_the_contact_sends_itself_wins(classifier) -> None:
    events = [{"type": "care_request", "date": "2026-01-05", "pathway": "A", "wait_exclusion": "MOV"},
              {**_c("a", "2026-01-20", "assessment"),
               "care_request": {"received_date": "2026-01-15", "pathway": "A"}}]
    (first,) = _run(classifier, events)
    assert first["wait"]["start_date"] == "2026-01-15" and first["wait"]["exclusion"] is None


def test_the_wait_takes_the_exclusion_of_the_event_it_starts_at(classifier) -> None:
    events = [{"type": "care_request", "date": "2026-01-05", "pathway": "A", "wait_exclusion": "PVV"},
              _c("a", "2026-02-20", "assessment"),
              {"type": "decision", "date": "2026-02-21", "area": "investigation", "health_problem": "F90",
               "wait_exclusion": "MOV"},
              _c("b", "2026-03-01", "investigation")]
    first, inv = _run(classifier, events)
    assert (first["wait"]["exclusion"], first["wait"]["days"], first["wait"]["in_denominator"]) == ("PVV", 46, False)
    assert (inv["wait"]["exclusion"], inv["wait"]["in_numerator"]) == ("MOV", False)


def test_a_care_request_during_ongoing_care_is_ended_by_the_next_commitment_contact(classifier) -> None:
    events = [_c("a", "2026-01-20", "assessment", care_request=None),
              {"type": "care_request", "date": "2026-02-01", "pathway": "A"},
              _c("b", "2026-02-10", "follow_up"),  # a return visit: takes it and ends it
              _c("c", "2027-09-01", "assessment")]
    events[0]["care_request"] = {"received_date": "2026-01-01", "pathway": "A"}
    del events[0]["contact"]["care_request"]
    first, ret, later = _run(classifier, events)
    assert (first["contact_type"], ret["contact_type"]) == ("first_visit", "return_visit")
    assert later["contact_type"] == "first_visit" and later["wait"]["start_date"] is None


def test_new_event_kinds_are_validated_by_path(classifier) -> None:
    events = [{"type": "decision", "date": "2026-01-01", "area": "assessment", "health_problem": "F90"},
              {"type": "care_request", "date": "2026-01-02", "pathway": "D", "extra": 1}]
    with pytest.raises(InputError) as exc:
        classifier.classify_timeline({"events": events})
    paths = sorted(e["path"] for e in exc.value.errors)
    assert paths == ["events[0].decision.area", "events[1].care_request.extra", "events[1].care_request.pathway"]


def test_the_api_accepts_the_new_kinds(classifier) -> None:
    from tests.client import client

    events = [{"type": "care_request", "date": "2026-01-10", "pathway": "A"}, _c("a", "2026-02-01", "assessment")]
    r = client.post("/v1/classify/timeline", json={"events": events})
    assert r.status_code == 200
    assert r.json()["results"][0]["wait"]["start_date"] == "2026-01-10"


def test_an_evi_contact_cannot_take_a_pathway_a_care_request(classifier) -> None:
    events = [{"type": "care_request", "date": "2026-01-10", "pathway": "A"},
              {"type": "contact", "contact": {"id": "a", "date": "2026-02-01", "setting": "evi",
                                              "activity": "assessment", "health_problem": "F41"}}]
    with pytest.raises(InputError) as exc:
        classifier.classify_timeline({"events": events})
    (err,) = exc.value.errors
    assert err["path"] == "events[1].care_request.pathway" and "care_request event of 2026-01-10" in err["message"]
