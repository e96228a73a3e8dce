"""Strict input: every problem named by its JSON path; identity numbers never accepted."""

from __future__ import annotations

import pytest

from classifier import InputError
from classifier.privacy import looks_like_identity_number
from tests.helpers import contact, hist, request


def paths(classifier, req) -> list[str]:
    with pytest.raises(InputError) as exc:
        classifier.classify(req)
    return sorted(e["path"] for e in exc.value.errors)


@pytest.mark.parametrize(
    "value",
    ["201203121234", "20120312-1234", "120312-1234", "1203121234", "120312+1234", "19991231-9999",
     "120372-1234",  # samordningsnummer: day + 60
     "p-20120312-1234", "patient 1203121234"],
)
def test_identity_numbers_are_recognised(value: str) -> None:
    assert looks_like_identity_number(value)


@pytest.mark.parametrize("value", ["p-0001", "F90", "c-17", "2026-03-10", "12345", "121399-1234", "ref-9999-12"])
def test_ordinary_references_are_not(value: str) -> None:
    assert not looks_like_identity_number(value)


@pytest.mark.parametrize("field", ["patient.ref", "contact.id", "contact.health_problem"])
def test_identity_number_rejected_anywhere(classifier, field: str) -> None:
    req = request(contact("2026-02-26"), patient={"ref": "p-1"})
    section, key = field.split(".")
    req[section][key] = "20120312-1234"
    assert paths(classifier, req) == [field]


def test_every_problem_is_listed(classifier) -> None:
    req = {
        "contact": {"id": "x", "date": "2026-02-30", "setting": "home", "health_problem": "F90",
                    "urgent": "yes", "medications_atc": ["n06ba04"], "kva_codes": ["DU01"], "colour": 1},
        "history": [{"type": "visit", "date": "2026-01-01"}],
    }
    assert paths(classifier, req) == [
        "contact.colour", "contact.date", "contact.kva_codes[0]", "contact.medications_atc[0]",
        "contact.setting", "contact.urgent", "history[0].type",
    ]


@pytest.mark.parametrize("bad", ["2026-3-1", "20260301", "2026-03-01T00:00:00", 1767225600, None])
def test_dates_must_be_iso(classifier, bad) -> None:
    assert paths(classifier, request(contact(bad))) == ["contact.date"]


def test_contradictions_are_named(classifier) -> None:
    req = request(contact("2026-03-01", "investigation", setting="evi", decision_date="2026-03-02"),
                  [hist("2026-03-02", "first_visit")],
                  {"received_date": "2026-03-05", "pathway": "A"})
    assert paths(classifier, req) == [
        "care_request.pathway", "care_request.received_date", "contact.decision_date", "history[0].date"]


def test_too_long_history_is_rejected(classifier) -> None:
    req = request(contact("2026-03-01"), [hist("2026-01-01", "return_visit")] * 5001)
    assert paths(classifier, req) == ["history"]


def test_activity_needed_unless_a_kva_code_gives_it(classifier) -> None:
    assert paths(classifier, request(contact("2026-03-01", None))) == ["contact.activity"]
    assert paths(classifier, request(contact("2026-03-01", None, kva_codes=["AU006", "DU011"]))) == [
        "contact.activity"]
    answer = classifier.classify(request(contact("2026-03-01", None, kva_codes=["DU011"])))
    assert answer["facts"]["activity_source"] == "kva"


def test_answer_matches_the_response_model(classifier) -> None:
    from classifier.models import Classification

    req = request(contact("2026-02-26"), care_request={"received_date": "2026-02-02", "pathway": "A"})
    answer = classifier.classify(req)
    assert Classification.model_validate(answer).model_dump(mode="json", exclude_none=False)["rule"]["id"] == "N1"
