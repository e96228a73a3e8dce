"""Request -> the derived facts of DOMAIN.md section 4. The only module with date arithmetic.

The history is folded into a `HistoryIndex` of latest dates (per health problem, per
modality), one item at a time in date order. A single contact builds the index from
its history; a timeline keeps one index and adds each event as it passes, so a
patient's whole timeline costs time linear in its length, and both paths share every
line of the logic (which is what makes "the timeline answer equals the single-contact
answer" true by construction).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta

from classifier.models import (
    CareClosed,
    CareRequest,
    Contact,
    HistoryContact,
    HistoryItem,
    InvestigationConcluded,
    TreatmentConcluded,
)
from classifier.ruleset import RuleSet


@functools.lru_cache(maxsize=65536)
def plus_months(day: date, months: int) -> date:
    """`day` + N calendar months, clamped at month ends (cached: dates repeat, relativedelta is slow)."""
    return day + relativedelta(months=months)


def more_than_months(earlier: date, later: date, months: int) -> bool:
    """DOMAIN.md 4: X is more than N months before D when X + N calendar months < D.

    relativedelta clamps at month ends: 31 Jan + 1 month = 28/29 Feb, and 29 Feb 2024 +
    12 months = 28 Feb 2025, so exactly 12 months is 28 Feb and 1 Mar is more.
    """
    return plus_months(earlier, months) < later


def _latest(a: date | None, b: date) -> date:
    return b if a is None or b > a else a


@dataclass
class HistoryIndex:
    """The latest dates that the derived facts depend on, folded from history items."""

    months: int
    commitment_types: frozenset[str]
    same_day: bool  # rules/ruleset.yaml wait.boundary_includes_same_day
    latest_commitment: date | None = None
    latest_closed: date | None = None
    latest_contact_boundary: date | None = None
    commitment_by_problem: dict[str, date] = field(default_factory=dict)
    investigation_by_problem: dict[str, date] = field(default_factory=dict)
    investigation_concluded_by_problem: dict[str, date] = field(default_factory=dict)
    treatment: dict[tuple[str, str | None], date] = field(default_factory=dict)
    treatment_concluded: dict[tuple[str, str | None], date] = field(default_factory=dict)

    def add(self, item: HistoryItem) -> None:
        """Fold one history item in. Items must come in date order (see `from_history`)."""
        if isinstance(item, HistoryContact):
            self.add_contact(item.date, item.contact_type, item.health_problem, item.treatment_modality)
        elif isinstance(item, CareClosed):
            self.latest_closed = _latest(self.latest_closed, item.date)
        elif isinstance(item, InvestigationConcluded):
            d = self.investigation_concluded_by_problem
            d[item.health_problem] = _latest(d.get(item.health_problem), item.date)
        elif isinstance(item, TreatmentConcluded):
            key = (item.health_problem, item.treatment_modality)
            self.treatment_concluded[key] = _latest(self.treatment_concluded.get(key), item.date)

    def add_contact(self, day: date, contact_type: str, problem: str, modality: str | None) -> None:
        """Fold in a classified contact; only commitment contacts open or continue a commitment."""
        if contact_type not in self.commitment_types:
            return
        prev = self.latest_commitment
        if prev is not None and more_than_months(prev, day, self.months):
            # It came more than 12 months after the commitment contact before it: it
            # opened a new commitment, a boundary that ends everything before it.
            self.latest_contact_boundary = _latest(self.latest_contact_boundary, day)
        self.latest_commitment = _latest(prev, day)
        self.commitment_by_problem[problem] = _latest(self.commitment_by_problem.get(problem), day)
        if contact_type == "investigation":
            self.investigation_by_problem[problem] = _latest(self.investigation_by_problem.get(problem), day)
        elif contact_type == "treatment":
            key = (problem, modality)
            self.treatment[key] = _latest(self.treatment.get(key), day)

    @classmethod
    def from_history(cls, history: Iterable[HistoryItem], ruleset: RuleSet) -> HistoryIndex:
        """Build the index from an unordered history (sorted by date: the order sent never matters)."""
        index = cls.empty(ruleset)
        for item in sorted(history, key=lambda h: h.date):
            index.add(item)
        return index

    @classmethod
    def empty(cls, ruleset: RuleSet) -> HistoryIndex:
        return cls(months=ruleset.commitment_months, commitment_types=ruleset.commitment_types,
                   same_day=ruleset.boundary_includes_same_day)

    def ended_by_boundary(self, since: date) -> bool:
        """Whether a commitment boundary is dated on or after `since` (DOMAIN.md 4)."""
        closed = self.latest_closed
        contact = self.latest_contact_boundary
        if closed is not None and closed >= since:
            return True
        if contact is None:
            return False
        return contact >= since if self.same_day else contact > since

    def concluded(self, latest: date | None, concluded: date | None) -> bool:
        """An investigation/treatment whose latest contact is `latest` has ended (DOMAIN.md 4)."""
        if latest is None:
            return False
        return (concluded is not None and concluded >= latest) or self.ended_by_boundary(latest)


@dataclass(frozen=True)
class Checklist:
    """The outcome of the En väg in checklist: allowed, and which items failed (ids)."""

    allowed: bool
    failed: tuple[str, ...]


def direct_start(care_request: CareRequest | None, ruleset: RuleSet) -> Checklist:
    """DOMAIN.md 4 'direct start allowed': pathway B or C, D1–D7 hold, X1 does not. Missing = failed."""
    table = ruleset.tables["checklist"]
    failed: list[str] = []
    if care_request is None or care_request.pathway not in table["pathways_allowing_direct_start"]:
        failed.append("pathway")
    assessment = care_request.evi_assessment if care_request is not None else None
    for item in table["items"]:
        value = getattr(assessment, item["field"]) if assessment is not None else None
        if value is None or value != item["required"]:
            failed.append(item["id"])
    return Checklist(not failed, tuple(failed))


def covered_medications(atc_codes: Iterable[str], ruleset: RuleSet) -> list[str]:
    """The started medications that match the care-guarantee list (ATC prefix match)."""
    prefixes = ruleset.medication_prefixes
    return [code for code in atc_codes if code.startswith(prefixes)]


def kva_activities(kva_codes: Iterable[str], ruleset: RuleSet) -> list[str]:
    """The activities the KVÅ table suggests for the codes sent, in order, without repeats."""
    table = ruleset.tables["kva"]["codes"]
    out: list[str] = []
    for code in kva_codes:
        act = table.get(code, {}).get("activity")
        if act and act not in out:
            out.append(act)
    return out


@dataclass(frozen=True)
class Derived:
    """The facts the rules decide on, plus the evidence the answer explains them with."""

    facts: dict[str, Any]
    activity_source: str
    checklist: Checklist
    covered: tuple[str, ...]
    suggested_activities: tuple[str, ...]


def derive(
    contact: Contact,
    care_request: CareRequest | None,
    index: HistoryIndex,
    ruleset: RuleSet,
    activity: str,
    activity_source: str,
    suggested: tuple[str, ...] = (),
) -> Derived:
    """The derived facts of DOMAIN.md section 4 for one contact, given its folded history."""
    d, months, problem, modality = contact.date, index.months, contact.health_problem, contact.treatment_modality

    latest = index.latest_commitment
    new_commitment = (
        latest is None
        or more_than_months(latest, d, months)
        or (index.latest_closed is not None and index.latest_closed >= latest)
    )
    problem_latest = index.commitment_by_problem.get(problem)
    problem_gap = problem_latest is None or more_than_months(problem_latest, d, months)

    inv_latest = index.investigation_by_problem.get(problem)
    inv_concluded = index.concluded(inv_latest, index.investigation_concluded_by_problem.get(problem))

    def matching(table: dict[tuple[str, str | None], date]) -> date | None:
        # Matched on health problem and, when both sides give one, on modality.
        dates = [v for (p, m), v in table.items() if p == problem and (modality is None or m is None or m == modality)]
        return max(dates) if dates else None

    tr_latest = matching(index.treatment)
    tr_concluded = index.concluded(tr_latest, matching(index.treatment_concluded))

    checklist = direct_start(care_request, ruleset)
    covered = tuple(covered_medications(contact.medications_atc, ruleset))
    forms = ruleset.tables["contact_forms"]["forms"]
    facts = {
        "setting": contact.setting,
        "pathway": care_request.pathway if care_request is not None else "none",
        "activity": activity,
        "contact_form_included": bool(forms[contact.contact_form]["included"]),
        "urgent": contact.urgent,
        "new_care_commitment": new_commitment,
        "direct_start_allowed": checklist.allowed,
        "pharmacological": modality == "pharmacological",
        "medication_covered": bool(covered),
        "investigated_before": inv_latest is not None,
        "investigation_concluded": inv_concluded,
        "treated_before": tr_latest is not None,
        "treatment_concluded": tr_concluded,
        "problem_gap": problem_gap,
    }
    return Derived(facts, activity_source, checklist, covered, suggested)
