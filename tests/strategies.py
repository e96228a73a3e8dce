"""Hypothesis strategies for valid requests (histories included) and for invalid ones.

Dates cluster around the 12-month and 30-day boundaries, where the rules are subtle.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from tests.oracle import plus_months

PROBLEMS = ["F41", "F90", "F84"]
MODALITIES = [None, "pharmacological", "psychological", "psychosocial", "other"]
TYPES = ["first_visit", "investigation", "treatment", "return_visit", "acute", "outside_model"]
ACTIVITIES = ["assessment", "basic_investigation", "investigation", "treatment", "follow_up", "advice"]
ATC = ["N06BA04", "N06AX12", "N06AB03", "N05AX08", "C02AC02", "A01AB01", "N05CH01"]
KVA_CODES = ["AA085", "AU006", "DU011", "DU118", "ZZ999"]  # echoed, never used to decide
CHECKLIST = ["staff_competence_cap", "structured_assessment_sufficient", "examination_and_anamnesis",
             "problem_mapping", "instrument_results", "parent_and_school_input", "interventions_documented"]

contact_dates = st.dates(min_value=date(2024, 3, 1), max_value=date(2027, 12, 31))


@st.composite
def date_before(draw: st.DrawFn, d: date, max_months: int = 30) -> date:
    """A date on or before d, often right at a 12-month boundary (give or take a few days)."""
    back = draw(st.one_of(st.sampled_from([0, 1, 11, 12, 13, 24]), st.integers(0, max_months)))
    jitter = draw(st.integers(-3, 3))
    return min(d, plus_months(d, -back) + timedelta(days=jitter))


def _maybe(draw: st.DrawFn, obj: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]) -> None:
    value = draw(st.one_of(st.just(_MISSING), strategy))
    if value is not _MISSING:
        obj[key] = value


_MISSING = object()


@st.composite
def history_items(draw: st.DrawFn, d: date) -> list[dict[str, Any]]:
    items = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["contact"] * 5 + ["investigation_concluded", "treatment_concluded",
                                                       "care_closed"]))
        # Often the date of an earlier item: same-date events are taken in the order given.
        earlier = sorted({i["date"] for i in items})
        when = draw(st.sampled_from(earlier)) if earlier and draw(st.integers(0, 3)) == 0 \
            else draw(date_before(d)).isoformat()
        if kind == "contact":
            item = {"type": "contact", "date": when, "setting": draw(st.sampled_from(["bup", "bup", "evi"])),
                    "contact_type": draw(st.sampled_from(TYPES)), "health_problem": draw(st.sampled_from(PROBLEMS))}
            _maybe(draw, item, "treatment_modality", st.sampled_from(MODALITIES))
        elif kind == "care_closed":
            item = {"type": "care_closed", "date": when}
        else:
            item = {"type": kind, "date": when, "health_problem": draw(st.sampled_from(PROBLEMS))}
            if kind == "treatment_concluded":
                _maybe(draw, item, "treatment_modality", st.sampled_from(MODALITIES))
        items.append(item)
    return items


@st.composite
def checklists(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    all_good = draw(st.booleans())
    out: dict[str, Any] = {}
    for key in CHECKLIST:
        value = True if all_good else draw(st.sampled_from([True, True, True, False, None]))
        if value is not None:
            out[key] = value
    doubted = draw(st.sampled_from([False, None] if all_good else [False, False, True, None]))
    if doubted and out.get("structured_assessment_sufficient") is True:
        doubted = False  # D2 yes with X1 yes is rejected as a contradiction (bad_requests covers it)
    if doubted is not None:
        out["referrer_assessment_doubted"] = doubted
    return out


@st.composite
def contacts(draw: st.DrawFn, d: date) -> dict[str, Any]:
    c: dict[str, Any] = {"id": "c-" + str(draw(st.integers(1, 999))), "date": d.isoformat(),
                         "setting": draw(st.sampled_from(["bup", "bup", "bup", "evi"])),
                         "health_problem": draw(st.sampled_from(PROBLEMS))}
    c["activity"] = draw(st.sampled_from([*ACTIVITIES, "investigation", "treatment"]))
    kva = draw(st.lists(st.sampled_from(KVA_CODES), max_size=2))
    if kva:
        c["kva_codes"] = kva
    _maybe(draw, c, "urgent", st.sampled_from([False, False, False, True]))
    _maybe(draw, c, "treatment_modality", st.sampled_from(MODALITIES))
    _maybe(draw, c, "medications_atc", st.lists(st.sampled_from(ATC), max_size=2))
    _maybe(draw, c, "contact_form", st.sampled_from(["in_person", "in_person", "video", "phone", "text", "other"]))
    _maybe(draw, c, "decision_date", st.one_of(st.none(), st.integers(0, 62).map(
        lambda n: (d - timedelta(days=n)).isoformat())))
    _maybe(draw, c, "wait_exclusion", st.sampled_from([None, None, "PVV", "MOV", "SOV"]))
    return c


@st.composite
def care_requests(draw: st.DrawFn, d: date, setting: str) -> dict[str, Any] | None:
    if setting == "bup" and draw(st.integers(0, 4)) == 0:
        return None  # an En väg in contact always needs its care request (docs/definitions.md §5)
    pathways = ["B", "C"] if setting == "evi" else ["A", "B", "C"]
    cr: dict[str, Any] = {"received_date": (d - timedelta(days=draw(st.integers(0, 62)))).isoformat(),
                          "pathway": draw(st.sampled_from(pathways))}
    evi = draw(checklists())
    if evi is not None:
        cr["evi_assessment"] = evi
    return cr


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid POST /v1/classify request."""
    d = draw(contact_dates)
    c = draw(contacts(d))
    req: dict[str, Any] = {"contact": c, "history": draw(history_items(d))}
    cr = draw(care_requests(d, c["setting"]))
    if cr is not None:
        req["care_request"] = cr
    if draw(st.booleans()):
        req["patient"] = {"ref": "p-" + str(draw(st.integers(1, 99)))}
    return req


@st.composite
def timelines(draw: st.DrawFn) -> dict[str, Any]:
    """A valid timeline: events in date order, contacts and the three other events."""
    start = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 1, 1)))
    events, day = [], start
    for _ in range(draw(st.integers(1, 10))):
        day += timedelta(days=draw(st.sampled_from([0, 1, 7, 20, 31, 60, 180, 365, 366, 400])))
        kind = draw(st.sampled_from(["contact"] * 6 + ["investigation_concluded", "treatment_concluded",
                                                       "care_closed", "care_request", "decision", "decision"]))
        if kind == "contact":
            c = draw(contacts(day))
            ev: dict[str, Any] = {"type": "contact", "contact": c}
            if draw(st.booleans()):
                c.pop("decision_date", None)  # so that it takes an open decision, if any
            cr = draw(care_requests(day, c["setting"]))
            if cr is not None:
                ev["care_request"] = cr
        elif kind == "care_request":
            ev = {"type": "care_request", "date": day.isoformat(), "pathway": draw(st.sampled_from(["A", "B", "C"]))}
            evi = draw(checklists())
            if evi is not None:
                ev["evi_assessment"] = evi
            _maybe(draw, ev, "wait_exclusion", st.sampled_from(["PVV", "MOV", "SOV"]))
        elif kind == "decision":
            ev = {"type": "decision", "date": day.isoformat(),
                  "area": draw(st.sampled_from(["investigation", "treatment"])),
                  "health_problem": draw(st.sampled_from(PROBLEMS))}
            _maybe(draw, ev, "treatment_modality", st.sampled_from(["pharmacological", "psychological"]))
            _maybe(draw, ev, "wait_exclusion", st.sampled_from(["PVV", "MOV", "SOV"]))
        elif kind == "care_closed":
            ev = {"type": "care_closed", "date": day.isoformat()}
        else:
            ev = {"type": kind, "date": day.isoformat(), "health_problem": draw(st.sampled_from(PROBLEMS))}
        events.append(ev)
    return {"events": events}


IDENTITY_NUMBERS = st.builds(
    lambda century, yy, mm, dd, sep, tail: f"{century}{yy:02d}{mm:02d}{dd:02d}{sep}{tail:04d}",
    st.sampled_from(["", "19", "20"]), st.integers(0, 99), st.integers(1, 12),
    st.one_of(st.integers(1, 28), st.integers(61, 88)), st.sampled_from(["", "-", "+"]), st.integers(0, 9999),
)


@st.composite
def bad_requests(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid request with one corruption, and the JSON path the error must name."""
    req = draw(requests())
    c = req["contact"]
    kind = draw(st.sampled_from(["wrong_type", "missing", "impossible_date", "contradiction", "identity",
                                 "unknown_field", "bad_enum", "bad_code", "huge_history"]))
    if kind == "wrong_type":
        field, value = draw(st.sampled_from([("urgent", "yes"), ("urgent", 1), ("date", 20260101),
                                             ("medications_atc", "N06BA04"), ("setting", True), ("id", 17)]))
        c[field] = value
        return req, f"contact.{field}"
    if kind == "missing":
        field = draw(st.sampled_from(["id", "date", "setting", "activity", "health_problem"]))
        del c[field]
        return req, f"contact.{field}"
    if kind == "impossible_date":
        c["date"] = draw(st.sampled_from(["2026-02-29", "2025-13-01", "2026-04-31", "2026-00-10", "tomorrow"]))
        return req, "contact.date"
    if kind == "contradiction" and draw(st.booleans()):
        if draw(st.booleans()):  # En väg in without its care request: the pathway is never guessed
            c["setting"] = "evi"
            req.pop("care_request", None)
            return req, "care_request"
        cr = req.setdefault("care_request", {"received_date": c["date"], "pathway": "B"})
        evi = cr.setdefault("evi_assessment", {})
        evi.update(structured_assessment_sufficient=True, referrer_assessment_doubted=True)
        return req, "care_request.evi_assessment.referrer_assessment_doubted"
    if kind == "contradiction":
        d = date.fromisoformat(c["date"])
        c["decision_date"] = (d + timedelta(days=draw(st.integers(1, 400)))).isoformat()
        return req, "contact.decision_date"
    if kind == "identity":
        where = draw(st.sampled_from(["patient.ref", "contact.id", "contact.health_problem"]))
        section, key = where.split(".")
        req.setdefault(section, {})[key] = draw(IDENTITY_NUMBERS)
        return req, where
    if kind == "unknown_field":
        name = draw(st.sampled_from(["activty", "decisionDate", "personnummer", "notes"]))
        c[name] = "x"
        return req, f"contact.{name}"
    if kind == "bad_enum":
        field = draw(st.sampled_from(["setting", "contact_form", "wait_exclusion", "treatment_modality"]))
        c[field] = "unknown-value"
        return req, f"contact.{field}"
    if kind == "bad_code":
        c["medications_atc"] = [draw(st.sampled_from(["n06ba04", "N06B", "N06BA0X", "methylphenidate"]))]
        return req, "contact.medications_atc[0]"
    req["history"] = [{"type": "care_closed", "date": "2024-01-01"}] * 5001
    return req, "history"
