"""Pydantic v2 models of the HTTP contract's requests and answers (docs/reference.md is generated from them).

Strict on purpose: this service decides money and care guarantees, so a misspelt
field, a string where a boolean belongs, an impossible date or a contradiction is an
error naming the field, never a silent guess. Values that look like Swedish personal
identity or coordination numbers are rejected wherever free text is accepted.
"""

from __future__ import annotations

import functools
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
# These Literals are the one source of the allowed values: the rule loader checks the tables against them.
WaitBasis = Literal["care_request_received", "decision"]
RuleSetStatus = Literal["provisional", "confirmed"]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Dates the service accepts: far beyond any care contact, yet month arithmetic (12 months
# after a contact) can never leave Python's date range (year 9999 did: 500).
MIN_YEAR, MAX_YEAR = 1900, 2100


def _iso_date(value: object) -> object:
    """Accept only 'YYYY-MM-DD' strings (or dates): no timestamps, no datetimes, no guessing."""
    if type(value) is str:  # what a JSON body holds: checked first
        return _calendar_date(value)
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a date as 'YYYY-MM-DD'")
    return _calendar_date(value)


@functools.lru_cache(maxsize=8192)
def _calendar_date(value: str) -> date:
    """A checked 'YYYY-MM-DD' as a date; cached, as a month of contacts repeats a few hundred dates."""
    if len(value) != 10 or not _ISO_DATE.fullmatch(value):
        raise ValueError("expected a date as 'YYYY-MM-DD'")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected a real calendar date as 'YYYY-MM-DD', got {value!r}") from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise ValueError(f"expected a date in the years {MIN_YEAR}-{MAX_YEAR}, got {value!r}")
    return parsed


@functools.lru_cache(maxsize=65536)
def iso(day: date) -> str:
    """`day.isoformat()`, cached: a month of answers writes each of a few hundred dates thousands of
    times, and date.isoformat formats through printf (measured: ~8 % of the month's instructions)."""
    return day.isoformat()


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(reject_identity_number)]
AtcCode = Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$", examples=["N06BA04"])]
KvaCode = Annotated[str, Field(pattern=r"^(?:[A-Z]{2}[0-9]{3}|[A-Z]{3}[0-9]{2})$", examples=["DU011"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Patient(Strict):
    ref: Text | None = Field(None, description="A pseudonymous reference; never a personal identity number.")


class Contact(Strict):
    id: Text = Field(description="The journal's id of the contact (kontakt-id); echoed as contact_id, never logged.")
    date: IsoDate = Field(description="Date of the contact (kontaktdatum), 'YYYY-MM-DD'.")
    setting: Setting = Field(description="Where the contact takes place (enhet): 'bup' = BUP, 'evi' = En väg in "
                                         "(the first line for children's mental health; see care_request.pathway).")
    activity: Activity = Field(
        description="What the clinician does at the contact (aktivitet); always sent, KVÅ codes never stand in for "
                    "it: 'assessment' = bedömning, 'basic_investigation' = basutredning, 'investigation' = utredning, "
                    "'treatment' = behandling, 'follow_up' = uppföljning, 'advice' = rådgivning/triage utan bedömning."
    )
    urgent: bool = Field(False, description="An acute condition (akut tillstånd): the contact is acute (rule A1).")
    health_problem: Text = Field(description="An opaque code (ICD-10, local question id); equal codes = same problem.")
    treatment_modality: Modality | None = Field(None, description="Treatment modality (behandlingsform): "
        "'pharmacological' = farmakologisk, 'psychological' = psykologisk, 'psychosocial' = psykosocial, "
        "'other' = annan.")
    medications_atc: list[AtcCode] = Field(default_factory=list, max_length=50, description="Medications started "
        "(läkemedel) as ATC codes; a pharmacological treatment counts if one is on the care-guarantee list.")
    kva_codes: list[KvaCode] = Field(default_factory=list, max_length=50, description="KVÅ procedure codes "
        "(åtgärdskoder); echoed in the answer, never used to decide.")
    contact_form: ContactForm = Field("in_person", description="Contact form (kontaktform): 'in_person' = fysiskt "
        "besök, 'video', 'phone' = telefon, 'text' = text/chatt, 'other' = annan; text and other are outside "
        "the model.")
    decision_date: IsoDate | None = Field(None, description="Date of the decision to investigate or treat "
        "(beslutsdatum); the wait of an investigation or treatment in ongoing care starts here.")
    wait_exclusion: Exclusion | None = Field(None, description="Wait exclusion (undantag): 'PVV' = patientvald väntan "
        "(patient-chosen wait), 'MOV' = medicinskt orsakad väntan (medically motivated), 'SOV' = "
        "samordnad/senarelagd vård (see docs/definitions.md §7).")


# The En väg in checklist items as the schema describes them (D1–D7 must be true; X1 is the reversed one).
_CHECKLIST_TEXT = {
    'staff_competence_cap': (
        'D1: EVI staff have suitable BUP competence (personalens kompetens); true to be met'
    ),
    'structured_assessment_sufficient': (
        'D2: a documented structured assessment of sufficient extent (strukturerad bedömning); true'
        ' to be met'
    ),
    'examination_and_anamnesis': (
        'D3: examination and psychosocial anamnesis documented (undersökning och anamnes); true to '
        'be met'
    ),
    'problem_mapping': (
        'D4: problems and mental health mapped (kartläggning); true to be met'
    ),
    'instrument_results': (
        'D5: results of assessment instruments (bedömningsinstrument); true to be met'
    ),
    'parent_and_school_input': (
        'D6: forms from parents and school, structured interviews (föräldrar och skola); true to be'
        ' met'
    ),
    'interventions_documented': (
        'D7: interventions given are documented (genomförda insatser); true to be met'
    ),
}


class EviAssessment(Strict):
    """The En väg in checklist (docs/definitions.md §4).

    D1–D7 must be answered true to be met (not answered = not met); X1
    (`referrer_assessment_doubted`) not answered means nobody doubts the referrer.
    """

    staff_competence_cap: bool | None = Field(None, description=_CHECKLIST_TEXT['staff_competence_cap'])
    structured_assessment_sufficient: bool | None = Field(
        None, description=_CHECKLIST_TEXT['structured_assessment_sufficient'])
    examination_and_anamnesis: bool | None = Field(None, description=_CHECKLIST_TEXT['examination_and_anamnesis'])
    problem_mapping: bool | None = Field(None, description=_CHECKLIST_TEXT['problem_mapping'])
    instrument_results: bool | None = Field(None, description=_CHECKLIST_TEXT['instrument_results'])
    parent_and_school_input: bool | None = Field(None, description=_CHECKLIST_TEXT['parent_and_school_input'])
    interventions_documented: bool | None = Field(None, description=_CHECKLIST_TEXT['interventions_documented'])
    referrer_assessment_doubted: bool | None = Field(None, description=(
        "X1, the reversed item: BUP doubts the referrer's assessment (BUP tvivlar på remittentens bedömning); "
        "false or not sent = no doubt; true blocks a direct start and contradicts D2 true."))


class CareRequest(Strict):
    """The care request (vårdbegäran) that brought the patient. On a later contact of the same commitment it is the
    same request again, or left out: it only decides a wait when the contact opens a care commitment."""

    received_date: IsoDate = Field(description="Date the care request (remiss/egen vårdbegäran) was received.")
    pathway: Pathway = Field(description="The En väg in scenario: 'A' = BUP has the first contact, 'B' = En väg in "
                                         "is part of primary care, 'C' = En väg in is part of BUP.")
    evi_assessment: EviAssessment | None = Field(None, description="The En väg in checklist for a direct start "
                                                       "(checklista för direkt start), D1–D7 and X1.")


class HistoryContact(Strict):
    """An earlier contact. Its contact_type is the service's own earlier answer, which the journal must store."""

    type: Literal["contact"] = Field(description="An earlier contact (tidigare kontakt).")
    date: IsoDate = Field(description="Date of the earlier contact.")
    setting: Setting = Field(description="'bup' or 'evi' (En väg in).")
    contact_type: ContactType = Field(description="The contact type this service answered for it (kontakttyp), "
                                                "stored by the journal: first_visit, investigation, treatment, "
                                                "return_visit, acute or outside_model.")
    health_problem: Text = Field(description="Its health problem code (hälsoproblem); equal codes = same problem.")
    treatment_modality: Modality | None = Field(None, description="Its treatment modality (behandlingsform), if any.")


class InvestigationConcluded(Strict):
    type: Literal["investigation_concluded"] = Field(description="An investigation concluded (utredning avslutad).")
    date: IsoDate = Field(description="Date it was concluded.")
    health_problem: Text = Field(description="The health problem it was about (hälsoproblem).")


class TreatmentConcluded(Strict):
    type: Literal["treatment_concluded"] = Field(description="A treatment concluded (behandling avslutad).")
    date: IsoDate = Field(description="Date it was concluded.")
    health_problem: Text = Field(description="The health problem it treated (hälsoproblem).")
    treatment_modality: Modality | None = Field(None, description="Its treatment modality (behandlingsform).")


class CareClosed(Strict):
    type: Literal["care_closed"] = Field(description="The care commitment was closed (vårdåtagande avslutat).")
    date: IsoDate = Field(description="Date it was closed; a later contact opens a new commitment.")


HistoryItem = Annotated[
    HistoryContact | InvestigationConcluded | TreatmentConcluded | CareClosed, Field(discriminator="type")
]


def _contact_problems(
    contact: Contact, care_request: CareRequest | None, prefix: str, care_request_may_follow: bool = False
) -> list[tuple[str, str]]:
    """The contradictions between a contact and its care request, as (JSON path, what was expected).

    `care_request_may_follow`: in a timeline a contact sent without a care request takes the
    patient's open one, so its absence is checked when the timeline is folded, not here.
    """
    problems = []
    if care_request is None and contact.setting == "evi" and not care_request_may_follow:
        problems.append((
            f"{prefix}care_request",
            "a contact at En väg in (contact.setting 'evi') needs its care request with the pathway "
            "('B': En väg in is part of primary care, 'C': part of BUP); the service does not guess it",
        ))
    if care_request is not None:
        evi = care_request.evi_assessment
        if evi is not None and evi.structured_assessment_sufficient and evi.referrer_assessment_doubted:
            problems.append((
                f"{prefix}care_request.evi_assessment.referrer_assessment_doubted",
                "contradicts structured_assessment_sufficient true (BUP judged the assessment enough to start "
                "without another contact); expected false or not sent when D2 is true",
            ))
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

    patient: Patient | None = Field(None, description="The patient, by pseudonym only (optional).")
    contact: Contact = Field(description="The contact to classify (kontakten).")
    care_request: CareRequest | None = Field(None, description="The care request (vårdbegäran) behind the contact.")
    history: list[HistoryItem] = Field(default_factory=list, max_length=MAX_HISTORY, description=(
        "Earlier events of the patient (historik), in date order: contacts with the contact type this service "
        "answered, concluded investigations and treatments, closed care."))
    ruleset_version: str | None = Field(None, description=(
        "Optional: classify by this loaded rule-set version (GET /v1/ruleset lists them) instead of the one "
        "valid on the contact's date."))

    def problems(self) -> list[tuple[str, str]]:
        """The contradictions the HTTP contract refuses, each as (JSON path, what was expected)."""
        out = _contact_problems(self.contact, self.care_request, "")
        out += [
            (f"history[{i}].date", f"expected a date on or before the contact date {self.contact.date}")
            for i, h in enumerate(self.history)
            if h.date > self.contact.date
        ]
        return out


class TimelineContact(Strict):
    type: Literal["contact"] = Field(description="A contact to classify (kontakt).")
    contact: Contact = Field(description="The contact, as for POST /v1/classify.")
    care_request: CareRequest | None = Field(None, description=(
        "Its care request (vårdbegäran); on a later contact of the same commitment the same one or none."))

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

    patient: Patient | None = Field(None, description="The patient, by pseudonym only (optional).")
    events: list[TimelineEvent] = Field(min_length=1, max_length=MAX_TIMELINE_EVENTS, description=(
        "The patient's events in date order; events on the same date are taken in the order given."))
    ruleset_version: str | None = Field(None, description=(
        "Optional: classify by this loaded rule-set version (GET /v1/ruleset lists them) instead of the one "
        "valid on the contact's date."))

    def problems(self) -> list[tuple[str, str]]:
        """Events out of date order and the contradictions of each contact, by JSON path."""
        out = []
        for i, ev in enumerate(self.events):
            if i and ev.date < self.events[i - 1].date:
                expected = f"events must be in date order: expected on or after {self.events[i - 1].date}"
                out.append((f"events[{i}].date", expected))
            if isinstance(ev, TimelineContact):
                out += _contact_problems(ev.contact, ev.care_request, f"events[{i}].", care_request_may_follow=True)
        return out


class BatchRequest(BaseModel):
    """POST /v1/classify/batch: each item is validated on its own, so one bad item fails alone."""

    model_config = ConfigDict(extra="forbid")
    items: list[dict] = Field(min_length=1, max_length=MAX_BATCH)


# ---- answers -------------------------------------------------------------------------


class Wait(BaseModel):
    """The wait of a measurement point (väntetid) and how it counts in the national follow-up."""

    start_date: date | None = Field(description="The day the wait starts (väntetidens start): the care request's "
                                                "received_date or the decision_date, per start_basis; null when "
                                                "that date was not sent.")
    start_basis: WaitBasis = Field(description="Where the wait starts: 'care_request_received' (vårdbegäran "
                                               "mottagen; a first visit) or 'decision' (beslut; an investigation "
                                               "or treatment).")
    days: int | None = Field(description="Days from start_date to the contact date (väntetid i dagar); null "
                                         "without a start date.")
    limit_days: int = Field(description="The care guarantee's limit in days (vårdgarantins gräns, 30).")
    within_limit: bool | None = Field(description="days is at most limit_days (inom gränsen); null without a "
                                                  "start date.")
    exclusion: Exclusion | None = Field(description="The wait exclusion sent with the contact (undantag: PVV, "
                                                    "MOV, SOV), or null.")
    in_numerator: bool | None = Field(description="Counted in the numerator of the share within the limit "
                                                  "(täljare); null when it cannot be counted.")
    in_denominator: bool | None = Field(description="Counted in the denominator (nämnare); false when an "
                                                    "exclusion removes it; null when it cannot be counted.")


class RuleRef(BaseModel):
    """The rule that decided the contact type (regeln som avgjorde)."""

    id: str = Field(description="The rule's id in rules/stages/ (e.g. 'N1'), stable across versions.")
    stage: str = Field(description="The stage the rule belongs to (steg), e.g. 'new_commitment'.")
    title_sv: str = Field(description="The rule's title in Swedish (regelns rubrik).")
    title_en: str = Field(description="The rule's title in English.")
    source: str = Field(description="Where the rule comes from (källa): the national document and the section "
                                    "of docs/definitions.md.")


class Warning(BaseModel):
    """Something the reader should check (varning); the answer stands, but a fact was missing or odd."""

    code: str = Field(description="A stable code from rules/tables/warnings.yaml (e.g. 'missing_care_request').")
    message: str = Field(description="What to check, in English.")
    message_sv: str = Field(description="The same in Swedish (varningstext), for the clinician's screen.")
    items: list[str] | None = Field(None, description="The items the warning is about (e.g. checklist ids), "
                                                      "when it has any.")
    items_not_met: list[str] | None = Field(None, description="En väg in checklist items answered but not met "
                                                              "(ej uppfyllda).")
    items_not_answered: list[str] | None = Field(None, description="En väg in checklist items not answered "
                                                                   "(ej besvarade).")


class RuleSetRef(BaseModel):
    """The rule set that answered (regelverk): name, version and the hash of its files."""

    name: str = Field(description="The rule set's name (rules/ruleset.yaml).")
    version: str = Field(description="Its version; GET /v1/ruleset lists the loaded ones.")
    sha256: str = Field(description="SHA-256 of its files, so an answer can be tied to the exact rules.")
    status: RuleSetStatus = Field(description="'provisional' (preliminärt: being checked against the settled "
                                              "definitions) or 'confirmed' (fastställt).")


class Commitment(BaseModel):
    """The care commitment the contact belongs to once classified (null when it belongs to none)."""

    opened: date = Field(description="Date of the contact that opened the commitment.")
    latest_contact: date = Field(description="Date of its latest commitment contact (this one, if it is one).")
    window_ends: date = Field(
        description="latest_contact + 12 calendar months: a contact after this date opens a new commitment "
                    "(nytt vårdåtagande), unless a care_closed event ends it sooner.")


class Classification(BaseModel):
    """The answer for one contact (response 200)."""

    contact_id: str = Field(description="The contact's id as sent (kontakt-id), echoed.")
    kva_codes: list[str] = Field(description="The KVÅ codes as sent (åtgärdskoder), echoed; they never decide.")
    contact_type: ContactType = Field(description="The answer (kontakttyp): first_visit, investigation, treatment, "
                                                  "return_visit, acute or outside_model; labels in "
                                                  "rules/tables/contact_types.yaml.")
    label_sv: str = Field(description="The contact type in Swedish, as a clinician reads it.")
    label_en: str = Field(description="The contact type in English.")
    measurement_point: bool = Field(description="The contact is a measurement point (mätpunkt): its wait counts.")
    care_guarantee: bool = Field(description="The contact is covered by the care guarantee (vårdgarantin).")
    wait: Wait | None = Field(description="The wait of a measurement point (väntetid); null for the others.")
    rule: RuleRef = Field(description="The rule that decided the contact type.")
    facts: dict[str, str | bool] = Field(description="The facts the rule used (fakta), by name (rules/facts.yaml), "
                                                     "with their values for this contact.")
    commitment: Commitment | None = Field(description="The care commitment (vårdåtagande) the contact belongs to "
                                                      "once classified; null when it belongs to none.")
    warnings: list[Warning] = Field(description="What the reader should check (varningar); empty when nothing.")
    ruleset: RuleSetRef = Field(description="The rule set that answered (regelverk).")
    decision_id: str | None = Field(
        None, description="On /v1/classify: the id of this answer in the decision log (also in the X-Decision-Id "
                          "header); present only when the decision log is on. Never in a batch's or a timeline's "
                          "results (their answer as a whole has one).")


class ErrorItem(BaseModel):
    path: str = Field(description="JSON path of the offending field, e.g. 'contact.date' or 'history[3].type'.")
    message: str = Field(description="What is wrong and what was expected, in English; a wrong value is echoed "
                                     "(never one shaped like an identity number).")
    message_sv: str = Field(description="The same in Swedish (felmeddelande på svenska), for the clinician's screen.")
    type: str = Field(description="The kind of problem: pydantic's error type (e.g. 'missing', 'literal_error'), "
                                  "'value_error' or 'contradiction'.")


class ErrorEntry(BaseModel):
    """A batch item that was refused; the other items are answered."""

    index: int = Field(description="The item's position in items (0-based).")
    errors: list[ErrorItem] = Field(description="What is wrong with it, by JSON path inside the item.")


_DECISION_ID = ("The id of this answer in the decision log (also in the X-Decision-Id header); present only "
                "when the decision log is on.")


class BatchResponse(BaseModel):
    """The answer of POST /v1/classify/batch, item by item."""

    results: list[Classification | ErrorEntry] = Field(description="One entry per item, in order: its answer or "
                                                                   "its errors.")
    decision_id: str | None = Field(None, description=_DECISION_ID)


class CommitmentWindow(BaseModel):
    """A care commitment of the journey (vårdåtagande) as the server draws it: where it opens and ends."""

    opened: date = Field(description="Date of the contact that opened it.")
    ends: date = Field(description="Where it ends: 12 calendar months after its latest commitment contact, or "
                                   "the date of the care_closed event that closed it (see closed).")
    closed: bool = Field(description="A care_closed event ended it (avslutat) on `ends`; false when it runs to the "
                                     "end of its 12 months.")


class TimelineResponse(BaseModel):
    """The answer of POST /v1/classify/timeline."""

    results: list[Classification] = Field(description="One answer per contact event, in the order given.")
    commitments: list[CommitmentWindow] = Field(description="The journey's care commitments (vårdåtaganden), in "
                                                            "the order they opened, with where each ends.")
    decision_id: str | None = Field(None, description=_DECISION_ID)
