"""An independent oracle: a plain-Python reading of docs/definitions.md §4-7.

Written from the specification's text, sharing no code with classifier/ or rules/
(not even the date library): its own month arithmetic, its own tables copied from
docs/definitions.md §9, and the rules as one if/elif chain in the stage order of
section 6. It takes a request as JSON (already valid) and returns what docs/definitions.md
says the answer must be. The property tests check the engine against it.
"""

from __future__ import annotations

import calendar
import itertools
from datetime import date
from typing import Any

# docs/definitions.md §9: codes confirmed from public sources, and the groups "listed by prefix".
CONFIRMED_MEDICATIONS = ("N06BA04", "N06BA01", "N06BA02", "N06BA12", "N06BA09", "C02AC02", "N05CH01", "N06AB06")
PROVISIONAL_MEDICATIONS = ("N06AB", "N05A")  # listed by prefix, no public source yet
MEDICATION_PREFIXES = CONFIRMED_MEDICATIONS + PROVISIONAL_MEDICATIONS
INCLUDED_FORMS = ("in_person", "video", "phone")  # docs/definitions.md §9 [interpretation] default
COMMITMENT = ("first_visit", "investigation", "treatment", "return_visit")  # docs/definitions.md §4
CHECKLIST_TRUE = ("staff_competence_cap", "structured_assessment_sufficient", "examination_and_anamnesis",
                  "problem_mapping", "instrument_results", "parent_and_school_input", "interventions_documented")
MEASUREMENT = ("first_visit", "investigation", "treatment")


def plus_months(d: date, months: int) -> date:
    """Calendar months, clamped at the month's end (31 Jan + 1 month = end of February)."""
    total = d.month - 1 + months
    year, month = d.year + total // 12, total % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def over_12_months(x: date, d: date) -> bool:
    """X is more than 12 months before D when X + 12 calendar months < D."""
    return plus_months(x, 12) < d


def _d(s: str | None) -> date | None:
    return date.fromisoformat(s) if s else None


def facts(req: dict[str, Any]) -> dict[str, Any]:
    """docs/definitions.md §4, read literally.

    Section 3: events keep the order they are given, same-date events in that order. So
    every history item gets a place in the order (by date, same dates as given), and
    "on or after" between two events means "later in that order".
    """
    c = req["contact"]
    d = _d(c["date"])
    problem = c["health_problem"]
    modality = c.get("treatment_modality")
    ordered = sorted(enumerate(req.get("history") or []), key=lambda ih: (ih[1]["date"], ih[0]))
    history = [(place, h) for place, (_, h) in enumerate(ordered)]
    contacts = [(p, h) for p, h in history if h["type"] == "contact" and h["contact_type"] in COMMITMENT]
    closed = [p for p, h in history if h["type"] == "care_closed"]

    latest = max((p for p, _ in contacts), default=None)
    latest_date = _d(contacts[-1][1]["date"]) if contacts else None
    new_commitment = latest is None or over_12_months(latest_date, d) or any(x > latest for x in closed)

    same = [_d(h["date"]) for _, h in contacts if h["health_problem"] == problem]
    problem_gap = not same or over_12_months(max(same), d)

    # A commitment boundary: a closed event (ends what comes before it), or a commitment
    # contact more than 12 months after the one before it (ends what lies strictly before it).
    boundaries = closed + [b for (_, ha), (b, hb) in itertools.pairwise(contacts)
                           if over_12_months(_d(ha["date"]), _d(hb["date"]))]

    inv = [p for p, h in contacts if h["contact_type"] == "investigation" and h["health_problem"] == problem]
    inv_ended = [p for p, h in history if h["type"] == "investigation_concluded" and h["health_problem"] == problem]
    investigated = bool(inv)
    inv_concluded = investigated and any(x > max(inv) for x in inv_ended + boundaries)

    def modality_matches(other: str | None) -> bool:
        return modality is None or other is None or other == modality

    tr = [p for p, h in contacts if h["contact_type"] == "treatment" and h["health_problem"] == problem
          and modality_matches(h.get("treatment_modality"))]
    tr_ended = [p for p, h in history if h["type"] == "treatment_concluded"
                and h["health_problem"] == problem and modality_matches(h.get("treatment_modality"))]
    treated = bool(tr)
    tr_concluded = treated and any(x > max(tr) for x in tr_ended + boundaries)

    cr = req.get("care_request")
    evi = (cr or {}).get("evi_assessment") or {}
    failed = []
    if not cr or cr["pathway"] not in ("B", "C"):
        failed.append("pathway")
    failed += [k for k in CHECKLIST_TRUE if evi.get(k) is not True]  # D1-D7 positively met
    if evi.get("referrer_assessment_doubted") is True:  # X1: not answered means no doubt
        failed.append("referrer_assessment_doubted")

    meds = c.get("medications_atc") or []
    return {
        "new_care_commitment": new_commitment,
        "problem_gap": problem_gap,
        "investigated_before": investigated,
        "investigation_concluded": inv_concluded,
        "treated_before": treated,
        "treatment_concluded": tr_concluded,
        "direct_start_allowed": not failed,
        "pharmacological": modality == "pharmacological" or (modality is None and bool(meds)),
        "medication_covered": any(m.startswith(p) for m in meds for p in MEDICATION_PREFIXES),
    }


def rule(req: dict[str, Any], activity: str, f: dict[str, Any]) -> tuple[str, str, list[str]]:
    """docs/definitions.md §6 as one chain: (rule id, outcome, warning codes of the rule)."""
    c = req["contact"]
    cr = req.get("care_request")
    pathway = cr["pathway"] if cr else None
    if c["setting"] == "evi" and pathway == "B":
        return "S1", "outside_model", []
    if activity == "advice":
        return "S2", "outside_model", []
    if c.get("contact_form", "in_person") not in INCLUDED_FORMS:
        return "S3", "outside_model", []
    if c.get("urgent", False):
        return "A1", "acute", []
    no_medication_problem = not f["pharmacological"] or f["medication_covered"]
    if f["new_care_commitment"]:
        if activity in ("assessment", "basic_investigation", "follow_up"):
            return "N1", "first_visit", []
        if activity == "investigation":
            if f["direct_start_allowed"]:
                return "N2", "investigation", []
            return "N3", "first_visit", ["direct_start_criteria_not_met"]
        if f["direct_start_allowed"] and no_medication_problem:
            return "N4", "treatment", []
        if not f["direct_start_allowed"]:
            return "N5", "first_visit", ["direct_start_criteria_not_met"]
        return "N5", "first_visit", ["medication_not_covered"]
    if activity == "investigation":
        if not f["investigated_before"]:
            return "U1", "investigation", []
        if f["investigation_concluded"] or f["problem_gap"]:
            return "U2", "investigation", []
        return "U3", "return_visit", []
    if activity == "treatment":
        if not no_medication_problem:
            return "B4", "return_visit", ["medication_not_covered"]
        if not f["treated_before"]:
            return "B1", "treatment", []
        if f["treatment_concluded"] or f["problem_gap"]:
            return "B2", "treatment", []
        return "B3", "return_visit", []
    return "R1", "return_visit", []


def answer(req: dict[str, Any]) -> dict[str, Any]:
    """The fields docs/definitions.md fixes: contact type, rule id, wait, warning codes (sorted)."""
    c = req["contact"]
    f = facts(req)
    rid, outcome, warnings = rule(req, c["activity"], f)  # docs/definitions.md §3: always sent; codes never decide
    meds = c.get("medications_atc") or []
    on_provisional_only = f["medication_covered"] and not any(m.startswith(CONFIRMED_MEDICATIONS) for m in meds)
    if on_provisional_only and rule(req, c["activity"], {**f, "medication_covered": False})[0] != rid:
        warnings = [*warnings, "provisional_medication"]  # the answer rests on the provisional part of the list
    wait = None
    if outcome in MEASUREMENT:  # docs/definitions.md §7
        cr = req.get("care_request")
        if outcome == "first_visit":
            basis, start = "care_request_received", _d(cr["received_date"]) if cr else None
            missing = "missing_care_request"
        else:
            basis, start = "decision", _d(c.get("decision_date"))
            missing = "missing_decision_date"
        excl = c.get("wait_exclusion")
        wait = {"start_date": None, "start_basis": basis, "days": None, "limit_days": 30, "within_limit": None,
                "exclusion": excl, "in_numerator": None, "in_denominator": None}
        if start is None:
            warnings = [*warnings, missing]
        else:
            days = (_d(c["date"]) - start).days
            within = days <= 30
            wait.update(start_date=start.isoformat(), days=days, within_limit=within,
                        in_numerator=within and excl not in ("MOV", "SOV"),
                        in_denominator=excl not in ("MOV", "SOV") and not (excl == "PVV" and days >= 31))
    return {"contact_type": outcome, "rule": rid, "wait": wait, "warnings": sorted(warnings)}
