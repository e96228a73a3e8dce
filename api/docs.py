"""OpenAPI texts and worked examples, computed from the real classifier at start-up."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from classifier import Classifier, examples
from classifier.models import MAX_BATCH, ErrorItem

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
    }
