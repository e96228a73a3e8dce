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
        "contact.activity", "contact.colour", "contact.date", "contact.kva_codes[0]", "contact.medications_atc[0]",
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


def test_activity_is_required_and_kva_codes_never_stand_in(classifier) -> None:
    """docs/definitions.md §9: codes never decide the contact type; they are validated and echoed."""
    assert paths(classifier, request(contact("2026-03-01", None))) == ["contact.activity"]
    assert paths(classifier, request(contact("2026-03-01", None, kva_codes=["DU011"]))) == ["contact.activity"]
    history = [hist("2026-01-10", "first_visit")]
    answer = classifier.classify(request(contact("2026-03-01", "investigation", kva_codes=["DU011", "ZZ999"]), history))
    assert answer["rule"]["id"] == "U1"
    assert answer["kva_codes"] == ["DU011", "ZZ999"]
    assert answer["warnings"] == [w for w in answer["warnings"] if w["code"] != "kva_activity_mismatch"]
    assert "activity_source" not in answer["facts"]


def test_evi_contact_needs_its_care_request(classifier) -> None:
    """docs/definitions.md §5: B or C is a fact the journal sends, never a guess."""
    assert paths(classifier, request(contact("2026-03-01", "assessment", setting="evi"))) == ["care_request"]


D_ITEMS = ("staff_competence_cap", "structured_assessment_sufficient", "examination_and_anamnesis",
           "problem_mapping", "instrument_results", "parent_and_school_input", "interventions_documented")


def test_d2_true_with_x1_true_is_a_contradiction(classifier) -> None:
    evi = {**dict.fromkeys(D_ITEMS, True), "referrer_assessment_doubted": True}
    req = request(contact("2026-03-01", "investigation"), care_request={
        "received_date": "2026-02-01", "pathway": "B", "evi_assessment": evi})
    assert paths(classifier, req) == ["care_request.evi_assessment.referrer_assessment_doubted"]
    evi["structured_assessment_sufficient"] = False  # D2 no and X1 yes: consistent, and no direct start
    assert classifier.classify(req)["rule"]["id"] == "N3"


def test_checklist_warning_names_items_answered_no_and_not_answered_apart(classifier) -> None:
    evi = {**dict.fromkeys(D_ITEMS, True), "problem_mapping": False}
    del evi["instrument_results"]
    req = request(contact("2026-03-01", "investigation"), care_request={
        "received_date": "2026-02-01", "pathway": "C", "evi_assessment": evi})
    answer = classifier.classify(req)
    (w,) = answer["warnings"]
    assert (answer["rule"]["id"], w["code"]) == ("N3", "direct_start_criteria_not_met")
    assert (w["items_not_met"], w["items_not_answered"]) == (["D4"], ["D5"])
    assert "not met: D4" in w["message"] and "not answered: D5" in w["message"]
    assert "ej uppfyllt: D4" in w["message_sv"] and "ej besvarat: D5" in w["message_sv"]
    assert "X1" not in w["message"]  # not answered = no doubt


def test_x1_not_answered_means_no_doubt(classifier) -> None:
    req = request(contact("2026-03-01", "investigation"), care_request={
        "received_date": "2026-02-01", "pathway": "B", "evi_assessment": dict.fromkeys(D_ITEMS, True)})
    assert classifier.classify(req)["rule"]["id"] == "N2"


def test_answer_matches_the_response_model(classifier) -> None:
    from classifier.models import Classification

    req = request(contact("2026-02-26"), care_request={"received_date": "2026-02-02", "pathway": "A"})
    answer = classifier.classify(req)
    assert Classification.model_validate(answer).model_dump(mode="json", exclude_none=False)["rule"]["id"] == "N1"
