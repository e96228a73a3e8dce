"""Pydantic v2 models of API.md's requests and answers.

Strict on purpose: this service decides money and care guarantees, so a misspelt
field, a string where a boolean belongs, an impossible date or a contradiction is an
error naming the field, never a silent guess. Values that look like Swedish personal
identity or coordination numbers are rejected wherever free text is accepted.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from classifier.privacy import reject_identity_number

MAX_HISTORY = 5000
MAX_BATCH = 10000
MAX_TIMELINE_EVENTS = 5000

Setting = Literal["bup", "evi"]
Activity = Literal["assessment", "basic_investigation", "investigation", "treatment", "follow_up", "advice"]
Modality = Literal["pharmacological", "psychological", "psychosocial", "other"]
ContactForm = Literal["in_person", "video", "phone", "text", "other"]
Exclusion = Literal["PVV", "MOV", "SOV"]
Pathway = Literal["A", "B", "C"]
ContactType = Literal["first_visit", "investigation", "treatment", "return_visit", "acute", "outside_model"]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    """Accept only 'YYYY-MM-DD' strings (or dates): no timestamps, no datetimes, no guessing."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or len(value) != 10 or not _ISO_DATE.fullmatch(value):
        raise ValueError("expected a date as 'YYYY-MM-DD'")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected a real calendar date as 'YYYY-MM-DD', got {value!r}") from None


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(reject_identity_number)]
AtcCode = Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$", examples=["N06BA04"])]
KvaCode = Annotated[str, Field(pattern=r"^(?:[A-Z]{2}[0-9]{3}|[A-Z]{3}[0-9]{2})$", examples=["DU011"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Patient(Strict):
    ref: Text | None = Field(None, description="A pseudonymous reference; never a personal identity number.")


class Contact(Strict):
    id: Text
    date: IsoDate
    setting: Setting
    activity: Activity | None = Field(
        None, description="Required unless kva_codes holds a code the KVÅ table maps to an activity."
    )
    urgent: bool = False
    health_problem: Text = Field(description="An opaque code (ICD-10, local question id); equal codes = same problem.")
    treatment_modality: Modality | None = None
    medications_atc: list[AtcCode] = Field(default_factory=list, max_length=50)
    kva_codes: list[KvaCode] = Field(default_factory=list, max_length=50)
    contact_form: ContactForm = "in_person"
    decision_date: IsoDate | None = None
    wait_exclusion: Exclusion | None = None


class EviAssessment(Strict):
    """The En väg in checklist (DOMAIN.md 4). A missing item counts as not fulfilled."""

    staff_competence_cap: bool | None = None
    structured_assessment_sufficient: bool | None = None
    examination_and_anamnesis: bool | None = None
    problem_mapping: bool | None = None
    instrument_results: bool | None = None
    parent_and_school_input: bool | None = None
    interventions_documented: bool | None = None
    referrer_assessment_doubted: bool | None = None


class CareRequest(Strict):
    received_date: IsoDate
    pathway: Pathway
    evi_assessment: EviAssessment | None = None


class HistoryContact(Strict):
    type: Literal["contact"]
    date: IsoDate
    setting: Setting
    contact_type: ContactType
    health_problem: Text
    treatment_modality: Modality | None = None


class InvestigationConcluded(Strict):
    type: Literal["investigation_concluded"]
    date: IsoDate
    health_problem: Text


class TreatmentConcluded(Strict):
    type: Literal["treatment_concluded"]
    date: IsoDate
    health_problem: Text
    treatment_modality: Modality | None = None


class CareClosed(Strict):
    type: Literal["care_closed"]
    date: IsoDate


HistoryItem = Annotated[
    HistoryContact | InvestigationConcluded | TreatmentConcluded | CareClosed, Field(discriminator="type")
]


def _contact_problems(contact: Contact, care_request: CareRequest | None, prefix: str) -> list[tuple[str, str]]:
    problems = []
    if care_request is not None:
        if contact.setting == "evi" and care_request.pathway == "A":
            problems.append((
                f"{prefix}care_request.pathway",
                "a contact at En väg in (contact.setting 'evi') cannot come by pathway 'A'; "
                "expected 'B' or 'C', or setting 'bup'",
            ))
        if care_request.received_date > contact.date:
            problems.append((
                f"{prefix}care_request.received_date",
                f"expected a date on or before the contact date {contact.date}",
            ))
    if contact.decision_date is not None and contact.decision_date > contact.date:
        problems.append(
            (f"{prefix}contact.decision_date", f"expected a date on or before the contact date {contact.date}")
        )
    return problems


class ClassifyRequest(Strict):
    """POST /v1/classify: one contact with the context the rules need."""

    patient: Patient | None = None
    contact: Contact
    care_request: CareRequest | None = None
    history: list[HistoryItem] = Field(default_factory=list, max_length=MAX_HISTORY)

    def problems(self) -> list[tuple[str, str]]:
        """The contradictions API.md lists, each as (JSON path, what was expected)."""
        out = _contact_problems(self.contact, self.care_request, "")
        out += [
            (f"history[{i}].date", f"expected a date on or before the contact date {self.contact.date}")
            for i, h in enumerate(self.history)
            if h.date > self.contact.date
        ]
        return out


class TimelineContact(Strict):
    type: Literal["contact"]
    contact: Contact
    care_request: CareRequest | None = None

    @property
    def date(self) -> date:
        return self.contact.date


class TimelineCareRequest(Strict):
    """A care request received on its date: later contacts sent without one take it while it is open."""

    type: Literal["care_request"]
    date: IsoDate = Field(description="The date the care request was received.")
    pathway: Pathway
    evi_assessment: EviAssessment | None = None
    wait_exclusion: Exclusion | None = Field(None, description="PVV/MOV/SOV that applies to the first-visit wait.")

    def as_care_request(self) -> CareRequest:
        """The care request a contact that takes this one is classified with."""
        return CareRequest(received_date=self.date, pathway=self.pathway, evi_assessment=self.evi_assessment)


class TimelineDecision(Strict):
    """A decision to investigate or treat: it starts the wait of that area for its health problem."""

    type: Literal["decision"]
    date: IsoDate = Field(description="The decision date (beslut om utredning / behandlingsbeslut).")
    area: Literal["investigation", "treatment"]
    health_problem: Text
    treatment_modality: Modality | None = None
    wait_exclusion: Exclusion | None = Field(None, description="PVV/MOV/SOV that applies to this wait.")


TimelineEvent = Annotated[
    TimelineContact | InvestigationConcluded | TreatmentConcluded | CareClosed | TimelineCareRequest
    | TimelineDecision,
    Field(discriminator="type"),
]


class TimelineRequest(Strict):
    """POST /v1/classify/timeline: one patient's events, in date order."""

    patient: Patient | None = None
    events: list[TimelineEvent] = Field(min_length=1, max_length=MAX_TIMELINE_EVENTS)

    def problems(self) -> list[tuple[str, str]]:
        """Events out of date order and the contradictions of each contact, by JSON path."""
        out = []
        for i, ev in enumerate(self.events):
            if i and ev.date < self.events[i - 1].date:
                expected = f"events must be in date order: expected on or after {self.events[i - 1].date}"
                out.append((f"events[{i}].date", expected))
            if isinstance(ev, TimelineContact):
                out += _contact_problems(ev.contact, ev.care_request, f"events[{i}].")
        return out


class BatchRequest(BaseModel):
    """POST /v1/classify/batch: each item is validated on its own, so one bad item fails alone."""

    model_config = ConfigDict(extra="forbid")
    items: list[dict] = Field(min_length=1, max_length=MAX_BATCH)


# ---- answers -------------------------------------------------------------------------


class Wait(BaseModel):
    start_date: date | None
    start_basis: Literal["care_request_received", "decision"]
    days: int | None
    limit_days: int
    within_limit: bool | None
    exclusion: Exclusion | None
    in_numerator: bool | None
    in_denominator: bool | None


class RuleRef(BaseModel):
    id: str
    stage: str
    title_sv: str
    title_en: str
    source: str


class Warning(BaseModel):
    code: str
    message: str
    message_sv: str
    items: list[str] | None = None


class RuleSetRef(BaseModel):
    name: str
    version: str
    sha256: str


class Classification(BaseModel):
    """The answer for one contact (API.md, response 200)."""

    contact_id: str
    contact_type: ContactType
    label_sv: str
    label_en: str
    measurement_point: bool
    care_guarantee: bool
    wait: Wait | None
    rule: RuleRef
    facts: dict[str, str | bool]
    warnings: list[Warning]
    ruleset: RuleSetRef


class ErrorItem(BaseModel):
    path: str = Field(description="JSON path of the offending field, e.g. 'contact.date' or 'history[3].type'.")
    message: str
    type: str


class ErrorEntry(BaseModel):
    index: int
    errors: list[ErrorItem]


class BatchResponse(BaseModel):
    results: list[Classification | ErrorEntry]


class TimelineResponse(BaseModel):
    results: list[Classification]
