"""API.md timeline: each contact's answer equals the single-contact answer with the derived history."""

from __future__ import annotations

import pytest

from classifier import InputError, examples
from classifier.classify import timeline_requests
from classifier.models import TimelineRequest

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
