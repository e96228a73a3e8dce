"""docs/definitions.md §4 at its boundaries: the 12-month rule, month ends, closing, modality."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classifier.facts import more_than_months
from tests.helpers import contact, hist, request


@pytest.mark.parametrize(
    ("earlier", "later", "expected"),
    [
        ("2025-03-14", "2026-03-14", False),  # exactly 12 months is not more
        ("2025-03-14", "2026-03-15", True),  # one day more
        ("2024-02-29", "2025-02-28", False),  # from 29 Feb: 12 months is 28 Feb (clamped)
        ("2024-02-29", "2025-03-01", True),
        ("2025-01-31", "2026-01-31", False),
        ("2024-08-31", "2025-08-31", False),
        ("2024-08-31", "2025-09-01", True),
    ],
)
def test_more_than_12_months(earlier: str, later: str, expected: bool) -> None:
    assert more_than_months(date.fromisoformat(earlier), date.fromisoformat(later), 12) is expected


def test_month_end_clamping_for_one_month() -> None:
    # docs/definitions.md §4: "a month later than 31 January is the last day of February".
    assert not more_than_months(date(2026, 1, 31), date(2026, 2, 28), 1)
    assert more_than_months(date(2026, 1, 31), date(2026, 3, 1), 1)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)))
def test_12_month_boundary_is_sharp(d: date) -> None:
    """Exactly one day separates 'not more than 12 months' from 'more than 12 months'."""
    later = [d + timedelta(days=n) for n in range(360, 372)]
    flags = [more_than_months(d, x, 12) for x in later]
    assert flags == sorted(flags)  # monotone: False ... False True ... True
    assert True in flags and False in flags


def _type(classifier, req) -> tuple[str, str]:
    answer = classifier.classify(req)
    return answer["contact_type"], answer["rule"]["id"]


@pytest.mark.parametrize(("visit", "expected"), [("2026-03-14", "R1"), ("2026-03-15", "N1")])
def test_12_month_rule_in_a_request(classifier, visit: str, expected: str) -> None:
    req = request(contact(visit), [hist("2025-03-14", "return_visit")],
                  {"received_date": "2026-03-01", "pathway": "A"})
    assert _type(classifier, req)[1] == expected


@pytest.mark.parametrize(("closed", "expected"), [("2026-04-19", "R1"), ("2026-04-20", "N1"), ("2026-04-21", "N1")])
def test_closing_on_the_day_of_the_last_contact(classifier, closed: str, expected: str) -> None:
    req = request(contact("2026-05-18"),
                  [hist("2026-04-20", "return_visit"), {"type": "care_closed", "date": closed}],
                  {"received_date": "2026-05-04", "pathway": "A"})
    assert _type(classifier, req)[1] == expected


@pytest.mark.parametrize(("days", "within"), [(29, True), (30, True), (31, False)])
def test_30_day_limit(classifier, days: int, within: bool) -> None:
    visit = date(2026, 3, 2) + timedelta(days=days)
    req = request(contact(visit.isoformat()), care_request={"received_date": "2026-03-02", "pathway": "A"})
    wait = classifier.classify(req)["wait"]
    assert (wait["days"], wait["within_limit"], wait["in_numerator"], wait["in_denominator"]) == (
        days, within, within, True)


@pytest.mark.parametrize(("days", "in_denominator"), [(30, True), (31, False)])
def test_pvv_leaves_the_denominator_from_31_days(classifier, days: int, in_denominator: bool) -> None:
    visit = date(2026, 3, 2) + timedelta(days=days)
    req = request(contact(visit.isoformat(), wait_exclusion="PVV"),
                  care_request={"received_date": "2026-03-02", "pathway": "A"})
    assert classifier.classify(req)["wait"]["in_denominator"] is in_denominator


@pytest.mark.parametrize("code", ["MOV", "SOV"])
def test_mov_and_sov_are_never_counted(classifier, code: str) -> None:
    req = request(contact("2026-03-05", wait_exclusion=code),
                  care_request={"received_date": "2026-03-02", "pathway": "A"})
    wait = classifier.classify(req)["wait"]
    assert (wait["within_limit"], wait["in_numerator"], wait["in_denominator"]) == (True, False, False)


def test_treatment_modality_matching(classifier) -> None:
    history = [hist("2026-01-10", "first_visit", "F90"),
               hist("2026-02-01", "treatment", "F90", treatment_modality="psychological")]
    def facts(modality):
        c = contact("2026-03-01", "treatment", "F90", treatment_modality=modality, medications_atc=["N06BA04"])
        return classifier.classify(request(c, history))
    assert facts("pharmacological")["rule"]["id"] == "B1"  # a new modality is a new treatment
    assert facts("psychological")["rule"]["id"] == "B3"  # same modality: ongoing
    assert facts(None)["rule"]["id"] == "B3"  # no modality matches any modality


def test_concluded_event_for_another_modality_does_not_conclude(classifier) -> None:
    history = [hist("2026-01-10", "first_visit", "F90"),
               hist("2026-02-01", "treatment", "F90", treatment_modality="psychological"),
               {"type": "treatment_concluded", "date": "2026-02-20", "health_problem": "F90",
                "treatment_modality": "pharmacological"}]
    c = contact("2026-03-01", "treatment", "F90", treatment_modality="psychological", decision_date="2026-02-25")
    assert classifier.classify(request(c, history))["rule"]["id"] == "B3"


def test_investigation_concluded_for_another_problem_does_not_count(classifier) -> None:
    history = [hist("2026-01-10", "first_visit", "F90"), hist("2026-02-01", "investigation", "F90"),
               {"type": "investigation_concluded", "date": "2026-02-20", "health_problem": "F84"}]
    c = contact("2026-03-01", "investigation", "F90")
    assert classifier.classify(request(c, history))["rule"]["id"] == "U3"


def test_a_contact_that_opened_a_commitment_does_not_conclude_itself(classifier) -> None:
    """docs/definitions.md §4: a contact boundary ends only what lies strictly before it, never itself."""
    history = [hist("2024-01-10", "first_visit", "F90"), hist("2025-06-01", "investigation", "F90")]
    req = request(contact("2025-06-15", "investigation", "F90"), history)
    answer = classifier.classify(req)
    assert (answer["rule"]["id"], answer["facts"]["investigation_concluded"]) == ("U3", False)
    # ... but it ends what came before it: an investigation dated before the boundary contact.
    history = [hist("2024-01-10", "investigation", "F90"), hist("2025-06-01", "first_visit", "F90")]
    assert classifier.classify(request(contact("2025-06-15", "investigation", "F90"), history))["rule"]["id"] == "U2"


def test_treatment_that_opened_a_commitment_does_not_conclude_itself(classifier) -> None:
    history = [hist("2024-01-10", "first_visit", "F41"),
               hist("2025-06-01", "treatment", "F41", treatment_modality="psychological")]
    c = contact("2025-06-15", "treatment", "F41", treatment_modality="psychological")
    assert classifier.classify(request(c, history))["rule"]["id"] == "B3"


@pytest.mark.parametrize(("order", "rule"), [(("closed", "visit"), "R1"), (("visit", "closed"), "N1")])
def test_same_day_events_are_taken_in_the_order_given(classifier, order, rule) -> None:
    """docs/definitions.md §3: closed-then-visit opens a new commitment at the visit; visit-then-closed ends it."""
    items = {"closed": {"type": "care_closed", "date": "2026-03-01"},
             "visit": hist("2026-03-01", "first_visit", "F41")}
    history = [hist("2025-10-10", "first_visit", "F41"), *(items[k] for k in order)]
    assert classifier.classify(request(contact("2026-03-20", "follow_up", "F41"), history))["rule"]["id"] == rule


@pytest.mark.parametrize(("order", "rule"), [(("concluded", "inv"), "U3"), (("inv", "concluded"), "U2")])
def test_same_day_concluded_event_is_taken_in_order(classifier, order, rule) -> None:
    items = {"concluded": {"type": "investigation_concluded", "date": "2026-03-01", "health_problem": "F90"},
             "inv": hist("2026-03-01", "investigation", "F90")}
    history = [hist("2026-01-10", "first_visit", "F90"), *(items[k] for k in order)]
    assert classifier.classify(request(contact("2026-03-20", "investigation", "F90"), history))["rule"]["id"] == rule


def test_history_on_different_dates_may_come_in_any_order(classifier) -> None:
    history = [{"type": "care_closed", "date": "2026-03-01"}, hist("2026-01-10", "first_visit", "F41")]
    assert classifier.classify(request(contact("2026-03-20", "follow_up", "F41"), history))["rule"]["id"] == "N1"
