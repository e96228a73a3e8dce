"""OpenAPI texts and worked examples, computed from the real classifier at start-up."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from classifier import Classifier, InputError, errors, examples
from classifier.models import MAX_BATCH, ErrorItem
from classifier.reporting import records, report

DESCRIPTION = """
Classifies child and adolescent psychiatry (BUP) care contacts for the national wait-time
follow-up of the 2025–2026 agreement: the contact type (first visit, investigation,
treatment, return visit, acute, or outside the model), whether it is a measurement point,
the wait with numerator/denominator membership, and the single rule that fired with its
source in SKR's definitions document, the facts it used and the rule set's content hash.

The service needs no identity: values that look like Swedish personal identity or
coordination numbers are rejected. Unknown fields are rejected. Every error lists each
problem with its JSON path and what was expected.
"""


class ErrorResponse(BaseModel):
    detail: str
    errors: list[ErrorItem] = Field(description="Every problem found, each with its JSON path.")


ERROR_EXAMPLE = {
    "detail": "invalid request: 2 problem(s)",
    "errors": [
        {"path": "contact.date", "message": "expected a real calendar date as 'YYYY-MM-DD', got '2026-02-30'",
         "type": "value_error"},
        {"path": "patient.ref", "message": "looks like a Swedish personal identity or coordination number; "
         "send a pseudonymous reference instead (the service needs no identity)", "type": "value_error"},
    ],
}

BATCH_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array", "minItems": 1, "maxItems": MAX_BATCH,
            "description": "Requests as for POST /v1/classify. Each item is validated on its own: an invalid "
                           "item gets {index, errors} in its place and the others are still answered.",
            # Any object is accepted at this level (API.md): a ClassifyRequest is answered,
            # anything else gets its error entry, so the item schema documents, not rejects.
            "items": {"anyOf": [{"$ref": "#/components/schemas/ClassifyRequest"}, {"type": "object"}]},
        }
    },
}

SHOWN = {
    "direct_start": "investigation/09_direct_start_scenario_b",
    "first_visit": "first_visit/01_new_referral_assessment_scenario_a",
    "return_visit": "investigation/02_second_contact_same_investigation",
    "refused": "investigation/10_direct_start_refused_parent_school_missing",
    "journey": "timeline/01_adhd_journey",
}


def worked_examples(clf: Classifier) -> dict[str, Any]:
    """Request and answer examples for every endpoint, from examples/ through the real classifier."""
    by_name = {e.name: e for e in examples.load()}
    picked = {key: by_name[name] for key, name in SHOWN.items()}
    single = {k: v for k, v in picked.items() if v.request is not None}
    classify = {k: {"summary": v.title, "value": v.request} for k, v in single.items()}
    batch_items = [single["first_visit"].request, single["return_visit"].request]
    journey = picked["journey"]
    return {
        "classify": classify,
        "classify_answer": clf.classify(single["direct_start"].request),
        "batch": {"two": {"summary": "Two independent contacts", "value": {"items": batch_items}}},
        "batch_answer": clf.classify_batch({"items": batch_items}),
        "timeline": {"journey": {"summary": journey.title, "value": journey.timeline}},
        "timeline_answer": clf.classify_timeline(journey.timeline),
        "ruleset": clf.ruleset.describe(),
        "report": {"small": {"summary": "One region, a month and its baseline", "value": REPORT_EXAMPLE}},
        "report_answer": monthly_report(REPORT_EXAMPLE),
    }


class MonthlyReportRequest(BaseModel):
    """POST /v1/reports/monthly: the records of `bup-classifier report`, as JSON (examples/reports/README.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    year: int = Field(ge=2024, le=2100, description="The agreement year; last year's months are the baseline.")
    completed: list[dict[str, Any]] = Field(default_factory=list, max_length=2_000_000,
                                            description="Classified contacts with region, unit and date.")
    waiting: list[dict[str, Any]] = Field(default_factory=list, max_length=2_000_000,
                                          description="Month-end waiting lists, one patient per record.")
    counts: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000,
                                         description="Already aggregated monthly counts.")
    shares: dict[str, float] = Field(description="Each region's share (0–1) of the national pots; they may not "
                                     "sum above 1.")
    final: bool = Field(False, description="The year's reporting is declared final: money held for months not "
                                           "reported is settled (target not met, to the bonus pot).")
    publish: bool = Field(False, description="Figures for publication: counts of 1–4 contacts are null, named in "
                                             "the row's `suppressed` list, with every share derived from them.")


def monthly_report(payload: object) -> dict[str, Any]:
    """Validate and build a monthly report; every bad record is a 422 naming the record and field."""
    req = errors.parse(MonthlyReportRequest, payload)
    try:
        return report.monthly_report(
            req.year, shares=records.Source("shares", [{"region": r, "share": v} for r, v in req.shares.items()]),
            completed=req.completed, waiting=req.waiting, counts=req.counts, final=req.final, publish=req.publish)
    except records.ReportInputError as exc:
        raise InputError(exc.items()) from None


REPORT_EXAMPLE = {
    "year": 2025,
    "completed": [
        {"region": "Region Nord", "unit": "BUP Nord 1", "date": "2025-03-12", "contact_type": "first_visit",
         "in_numerator": True, "in_denominator": True},
        {"region": "Region Nord", "unit": "BUP Nord 1", "date": "2024-03-20", "contact_type": "first_visit",
         "in_numerator": False, "in_denominator": True},
    ],
    "waiting": [{"region": "Region Nord", "unit": "BUP Nord 1", "month": "2025-03", "area": "first_visit",
                 "wait_start": "2025-03-10"}],
    "shares": {"Region Nord": 0.052},
    "final": False,
    "publish": False,
}
