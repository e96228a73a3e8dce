"""Small builders for requests, so each test states only what it is about."""

from __future__ import annotations

from typing import Any

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
