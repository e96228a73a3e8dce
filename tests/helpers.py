"""Small builders for requests, so each test states only what it is about."""

from __future__ import annotations

from typing import Any

from classifier.models import HistoryContact

FULL_CHECKLIST = {
    "staff_competence_cap": True,
    "structured_assessment_sufficient": True,
    "examination_and_anamnesis": True,
    "problem_mapping": True,
    "instrument_results": True,
    "parent_and_school_input": True,
    "interventions_documented": True,
    "referrer_assessment_doubted": False,
}


def contact(date: str, activity: str | None = "assessment", problem: str = "F41", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": "c-1", "date": date, "setting": "bup", "health_problem": problem, **extra}
    if activity is not None:
        out["activity"] = activity
    return out


def hist(date: str, contact_type: str, problem: str = "F41", **extra: Any) -> dict[str, Any]:
    return {"type": "contact", "date": date, "setting": "bup", "contact_type": contact_type,
            "health_problem": problem, **extra}


def request(contact_: dict[str, Any], history: list[dict[str, Any]] | None = None,
            care_request: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"contact": contact_, "history": history or [], **extra}
    if care_request is not None:
        out["care_request"] = care_request
    return out


def _more_than_12_months(earlier: Any, later: Any) -> bool:
    from dateutil.relativedelta import relativedelta

    return earlier + relativedelta(months=12) < later


def timeline_requests(timeline: Any, results: list[dict[str, Any]]) -> list[Any]:
    """The single-contact request each timeline contact stands for: its derived history and what it took.

    Written apart from classifier.classify.TimelineFold, list by list, so the metamorphic
    test checks the fold's taking and ending of care requests and decisions (API.md,
    docs/month.md §1–2) instead of repeating it.
    """
    from classifier.models import CareRequest, ClassifyRequest

    requests: list[Any] = []
    history: list[Any] = []
    open_requests: list[tuple[Any, bool]] = []  # (care_request event, arrived during an ongoing commitment)
    open_decisions: list[Any] = []
    answers = iter(results)
    commitment = ("first_visit", "investigation", "treatment", "return_visit")

    def ongoing(day: Any) -> bool:
        contacts = [h for h in history if h.type == "contact" and h.contact_type in commitment]
        if not contacts:
            return False
        latest = max(h.date for h in contacts)
        closed = [h.date for h in history if h.type == "care_closed" and h.date >= latest]
        return not _more_than_12_months(latest, day) and not closed

    def matches(d: Any, area: str, problem: str, modality: str | None) -> bool:
        return d.area == area and d.health_problem == problem and (
            d.treatment_modality is None or modality is None or d.treatment_modality == modality)

    for event in timeline.events:
        if event.type == "care_request":
            open_requests.append((event, ongoing(event.date)))
        elif event.type == "decision":
            open_decisions.append(event)
        elif event.type == "contact":
            c, cr = event.contact, event.care_request
            cr_from = dec_from = None
            if cr is None and open_requests:
                cr_from = open_requests[-1][0]
                cr = CareRequest(received_date=cr_from.date, pathway=cr_from.pathway,
                                 evi_assessment=cr_from.evi_assessment)
            if c.decision_date is None and c.activity in ("investigation", "treatment"):
                found = [d for d in open_decisions if matches(d, c.activity, c.health_problem, c.treatment_modality)]
                if found:
                    dec_from = found[-1]
                    c = c.model_copy(update={"decision_date": dec_from.date})
            res = next(answers)
            wait = res["wait"]
            if wait is not None and c.wait_exclusion is None:
                src = cr_from if wait["start_basis"] == "care_request_received" else dec_from
                if src is not None and src.wait_exclusion is not None:
                    c = c.model_copy(update={"wait_exclusion": src.wait_exclusion})
            requests.append(ClassifyRequest(patient=timeline.patient, contact=c, care_request=cr,
                                            history=list(history)))
            ctype = res["contact_type"]
            history.append(HistoryContact(type="contact", date=c.date, setting=c.setting, contact_type=ctype,
                                          health_problem=c.health_problem, treatment_modality=c.treatment_modality))
            if ctype == "first_visit" or (res["measurement_point"] and res["rule"]["stage"] == "new_commitment"):
                open_requests = []
            elif ctype in commitment:
                open_requests = [(r, during) for r, during in open_requests if not during]
            if res["measurement_point"] and ctype in ("investigation", "treatment"):
                open_decisions = [d for d in open_decisions
                                  if not matches(d, ctype, c.health_problem, c.treatment_modality)]
        else:
            history.append(event)
            if event.type == "care_closed":
                open_requests, open_decisions = [], []
            elif event.type == "investigation_concluded":
                open_decisions = [d for d in open_decisions
                                  if not matches(d, "investigation", event.health_problem, None)]
            else:
                open_decisions = [d for d in open_decisions
                                  if not matches(d, "treatment", event.health_problem, event.treatment_modality)]
    return requests
