"""Request -> the derived facts of docs/definitions.md §4. The only module with date arithmetic.

The history is folded into a `HistoryIndex` of latest dates (per health problem, per
modality), one item at a time in date order. A single contact builds the index from
its history; a timeline keeps one index and adds each event as it passes, so a
patient's whole timeline costs time linear in its length, and both paths share every
line of the logic (which is what makes "the timeline answer equals the single-contact
answer" true by construction).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple, get_args

from dateutil.relativedelta import relativedelta

from classifier.models import (
    Activity,
    CareClosed,
    CareRequest,
    Contact,
    EviAssessment,
    HistoryContact,
    HistoryItem,
    InvestigationConcluded,
    Pathway,
    Setting,
    TreatmentConcluded,
    iso,
)

if TYPE_CHECKING:  # the loader imports FACT_VALUES from here
    from classifier.ruleset import RuleSet

NO_PATHWAY = "none"  # the `pathway` fact of a contact without a care request

# The facts `derive` produces and every value each can take, the request-mirroring ones
# from the request model's Literals (the HTTP contract). The loader requires facts.yaml to list
# exactly these facts with exactly these values; tests/test_ruleset.py checks that `derive`
# produces exactly these keys.
FACT_VALUES: dict[str, tuple[str | bool, ...]] = {
    "setting": get_args(Setting),
    "pathway": (*get_args(Pathway), NO_PATHWAY),
    "activity": get_args(Activity),
    **dict.fromkeys(
        ("contact_form_included", "urgent", "new_care_commitment", "direct_start_allowed", "pharmacological",
         "medication_covered", "investigated_before", "investigation_concluded", "treated_before",
         "treatment_concluded", "problem_gap"),
        (True, False),
    ),
}


@functools.lru_cache(maxsize=65536)
def plus_months(day: date, months: int) -> date:
    """`day` + N calendar months, clamped at month ends (cached: dates repeat, relativedelta is slow)."""
    return day + relativedelta(months=months)


def more_than_months(earlier: date, later: date, months: int) -> bool:
    """docs/definitions.md §4: X is more than N months before D when X + N calendar months < D.

    relativedelta clamps at month ends: 31 Jan + 1 month = 28/29 Feb, and 29 Feb 2024 +
    12 months = 28 Feb 2025, so exactly 12 months is 28 Feb and 1 Mar is more.
    """
    return plus_months(earlier, months) < later


# A position in the patient's event order: the date, then the order given within the date
# (docs/definitions.md §3: two events on the same date are taken in the order they are given).
Position = tuple[date, int]


def _latest(a: Position | None, b: Position) -> Position:
    return b if a is None or b > a else a


@dataclass(slots=True)  # slots: a contact builds one and derive() reads a dozen of its fields
class HistoryIndex:
    """The latest positions that the derived facts depend on, folded from history items.

    Positions are (date, sequence number): the 12-month rules read the dates, while
    "on or after" between events reads the order, so a `care_closed` given before a
    same-day first visit does not end the commitment that visit opens.
    """

    months: int
    commitment_types: frozenset[str]
    seq: int = 0
    latest_commitment: Position | None = None
    latest_closed: Position | None = None
    latest_contact_boundary: Position | None = None
    commitment_opened: date | None = None  # the date of the contact that opened the latest commitment
    commitment_by_problem: dict[str, date] = field(default_factory=dict)
    investigation_by_problem: dict[str, Position] = field(default_factory=dict)
    investigation_concluded_by_problem: dict[str, Position] = field(default_factory=dict)
    treatment: dict[tuple[str, str | None], Position] = field(default_factory=dict)
    treatment_concluded: dict[tuple[str, str | None], Position] = field(default_factory=dict)

    def _next(self, day: date) -> Position:
        self.seq += 1
        return (day, self.seq)

    def add(self, item: HistoryItem) -> None:
        """Fold one history item in. Items must come in event order (see `from_history`)."""
        if isinstance(item, HistoryContact):
            self.add_contact(item.date, item.contact_type, item.health_problem, item.treatment_modality)
            return
        pos = self._next(item.date)
        if isinstance(item, CareClosed):
            self.latest_closed = _latest(self.latest_closed, pos)
        elif isinstance(item, InvestigationConcluded):
            d = self.investigation_concluded_by_problem
            d[item.health_problem] = _latest(d.get(item.health_problem), pos)
        elif isinstance(item, TreatmentConcluded):
            key = (item.health_problem, item.treatment_modality)
            self.treatment_concluded[key] = _latest(self.treatment_concluded.get(key), pos)

    def add_contact(self, day: date, contact_type: str, problem: str, modality: str | None) -> None:
        """Fold in a classified contact; only commitment contacts open or continue a commitment."""
        pos = self._next(day)
        if contact_type not in self.commitment_types:
            return
        prev = self.latest_commitment
        after_gap = prev is not None and more_than_months(prev[0], day, self.months)
        if prev is None or after_gap or (self.latest_closed is not None and self.latest_closed > prev):
            self.commitment_opened = day
        if after_gap:
            # It came more than 12 months after the commitment contact before it: it
            # opened a new commitment, a boundary that ends everything before it.
            self.latest_contact_boundary = _latest(self.latest_contact_boundary, pos)
        self.latest_commitment = _latest(prev, pos)
        by_problem = self.commitment_by_problem
        by_problem[problem] = max(by_problem.get(problem, day), day)
        if contact_type == "investigation":
            self.investigation_by_problem[problem] = _latest(self.investigation_by_problem.get(problem), pos)
        elif contact_type == "treatment":
            key = (problem, modality)
            self.treatment[key] = _latest(self.treatment.get(key), pos)

    @classmethod
    def from_history(cls, history: Iterable[HistoryItem], ruleset: RuleSet) -> HistoryIndex:
        """Build the index from a history in any date order.

        The sort is by date only and stable, so items on the same date keep the order
        they were given in (docs/definitions.md §3); items on different dates may come in any order.
        """
        index = cls.empty(ruleset)
        if history:
            for item in sorted(history, key=_BY_DATE):
                index.add(item)
        return index

    @classmethod
    def empty(cls, ruleset: RuleSet) -> HistoryIndex:
        return cls(months=ruleset.commitment_months, commitment_types=ruleset.commitment_types)

    def commitment_ongoing(self, day: date) -> bool:
        """Whether a care commitment is ongoing on `day` for an event that comes after the history."""
        latest, closed = self.latest_commitment, self.latest_closed
        return (latest is not None and not more_than_months(latest[0], day, self.months)
                and not (closed is not None and closed > latest))

    def ended_by_boundary(self, since: Position) -> bool:
        """Whether a commitment boundary ends what happened at `since` (docs/definitions.md §4).

        A closed event ends what comes before it in the event order (on or before its
        date, in the order given); a boundary contact ends only what lies strictly
        before it, never itself, since it belongs to the commitment it opens.
        """
        closed, contact = self.latest_closed, self.latest_contact_boundary
        return (closed is not None and closed > since) or (contact is not None and contact > since)

    def concluded(self, latest: Position | None, concluded: Position | None) -> bool:
        """An investigation/treatment whose latest contact is at `latest` has ended (docs/definitions.md §4)."""
        if latest is None:
            return False
        return (concluded is not None and concluded > latest) or self.ended_by_boundary(latest)


_BY_DATE = operator.attrgetter("date")


@dataclass(frozen=True)
class Checklist:
    """The outcome of the En väg in checklist: allowed, and why not (item ids).

    `not_met` holds the items answered against the requirement (a D item answered
    "no", X1 answered "yes": BUP doubts the referrer); `unanswered` the D items not
    answered, which count as not met. "pathway" in `not_met` means the care request did
    not come by a pathway that allows a direct start (or there is none).
    """

    allowed: bool
    not_met: tuple[str, ...]
    unanswered: tuple[str, ...]

    @property
    def failed(self) -> tuple[str, ...]:
        return self.not_met + self.unanswered


def direct_start(care_request: CareRequest | None, ruleset: RuleSet) -> Checklist:
    """docs/definitions.md §4 'direct start allowed': pathway B or C, D1–D7 positively met, X1 not raised.

    What an unanswered item means is data (tables/evi_checklist.yaml `unanswered`): a D item
    not answered is not met; X1 not answered means nobody raised a doubt. The outcome depends on
    the pathway and the answers alone (a few thousand combinations), so each is worked out once
    per rule set.
    """
    pathway = care_request.pathway if care_request is not None else None
    assessment = care_request.evi_assessment if care_request is not None else None
    # The content hash: a rule set loaded again, or changed, is its own key.
    key = (ruleset.sha256, pathway, None if assessment is None else _ANSWERS(assessment.__dict__))
    found = _CHECKLISTS.get(key)
    if found is None:
        if len(_CHECKLISTS) > 10_000:  # tests load many rule sets; a service a few
            _CHECKLISTS.clear()
        found = _CHECKLISTS[key] = _direct_start(pathway, assessment, ruleset)
    return found


_CHECKLISTS: dict[tuple[str, str | None, tuple[bool | None, ...] | None], Checklist] = {}
_ANSWERS = operator.itemgetter(*EviAssessment.model_fields)  # an assessment's answers, in field order


def _direct_start(pathway: str | None, assessment: EviAssessment | None, ruleset: RuleSet) -> Checklist:
    table = ruleset.tables["checklist"]
    not_met: list[str] = []
    unanswered: list[str] = []
    if pathway not in table["pathways_allowing_direct_start"]:
        not_met.append("pathway")
    for item in table["items"]:
        value = getattr(assessment, item["field"]) if assessment is not None else None
        if value is None:
            if item["unanswered"] == "not_met":
                unanswered.append(item["id"])
        elif value != item["required"]:
            not_met.append(item["id"])
    return Checklist(not (not_met or unanswered), tuple(not_met), tuple(unanswered))


def covered_medications(atc_codes: Iterable[str], ruleset: RuleSet) -> list[str]:
    """The started medications that match the care-guarantee list (ATC prefix match)."""
    prefixes = ruleset.medication_prefixes
    return [code for code in atc_codes if code.startswith(prefixes)]


def pharmacological(contact: Contact) -> bool:
    """docs/definitions.md §4: the modality is pharmacological, or none is given and medications were started."""
    if contact.treatment_modality is not None:
        return contact.treatment_modality == "pharmacological"
    return bool(contact.medications_atc)


class Derived(NamedTuple):
    """The facts the rules decide on, plus the evidence the answer explains them with."""

    facts: dict[str, Any]
    checklist: Checklist
    covered: tuple[str, ...]
    # The commitment the contact finds (None when it opens a new one): opened, latest contact.
    ongoing: tuple[date, date] | None = None


def _matching(table: dict[tuple[str, str | None], Position], problem: str, modality: str | None) -> Position | None:
    """The latest position for the health problem and, when both sides give one, the modality."""
    if not table:
        return None
    found = [v for (p, m), v in table.items() if p == problem and (modality is None or m is None or m == modality)]
    return max(found) if found else None


def derive(contact: Contact, care_request: CareRequest | None, index: HistoryIndex, ruleset: RuleSet) -> Derived:
    """The derived facts of docs/definitions.md §4 for one contact, given its folded history.

    The contact comes after every item of the history in the event order.
    """
    d, months, problem, modality = contact.date, index.months, contact.health_problem, contact.treatment_modality

    latest = index.latest_commitment
    new_commitment = not index.commitment_ongoing(d)
    problem_latest = index.commitment_by_problem.get(problem)
    problem_gap = problem_latest is None or more_than_months(problem_latest, d, months)

    inv_latest = index.investigation_by_problem.get(problem)
    inv_concluded = inv_latest is not None and index.concluded(
        inv_latest, index.investigation_concluded_by_problem.get(problem))

    tr_latest = _matching(index.treatment, problem, modality)
    tr_concluded = tr_latest is not None and index.concluded(
        tr_latest, _matching(index.treatment_concluded, problem, modality))

    checklist = direct_start(care_request, ruleset)
    atc = contact.medications_atc
    covered = tuple(covered_medications(atc, ruleset)) if atc else ()
    forms = ruleset.tables["contact_forms"]["forms"]
    facts = {
        "setting": contact.setting,
        "pathway": care_request.pathway if care_request is not None else NO_PATHWAY,
        "activity": contact.activity,
        "contact_form_included": bool(forms[contact.contact_form]["included"]),
        "urgent": contact.urgent,
        "new_care_commitment": new_commitment,
        "direct_start_allowed": checklist.allowed,
        "pharmacological": pharmacological(contact),
        "medication_covered": bool(covered),
        "investigated_before": inv_latest is not None,
        "investigation_concluded": inv_concluded,
        "treated_before": tr_latest is not None,
        "treatment_concluded": tr_concluded,
        "problem_gap": problem_gap,
    }
    ongoing = None
    if not new_commitment and latest is not None and index.commitment_opened is not None:
        ongoing = (index.commitment_opened, latest[0])
    return Derived(facts, checklist, covered, ongoing)


def commitment_window(derived: Derived, contact_date: date, continues: bool, months: int) -> dict[str, str] | None:
    """The care commitment the contact belongs to after it, for people drawing a journey.

    `continues`: the contact's type opens or continues a commitment. The window ends
    `months` calendar months after the latest commitment contact: a contact dated after
    `window_ends` opens a new commitment (docs/definitions.md §4), unless a closing ends it sooner.
    """
    if continues:
        opened = derived.ongoing[0] if derived.ongoing else contact_date
        latest = contact_date
    elif derived.ongoing:
        opened, latest = derived.ongoing
    else:
        return None
    return {"opened": iso(opened), "latest_contact": iso(latest), "window_ends": iso(plus_months(latest, months))}
