"""One bucket of whole patients -> what the month needs: completed, waiting, registrations, findings.

Each patient's events are folded by `classifier.classify.TimelineFold`, the same fold
`/v1/classify/timeline` uses: the month layer never decides a contact type itself. It
reads the fold's answers and, at each month end, the care requests and decisions the
fold still holds open (docs/month.md §2).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
from dateutil.relativedelta import relativedelta

from classifier import answer
from classifier.classify import Classifier, OpenCareRequest, TimelineFold
from classifier.errors import InputError
from classifier.facts import direct_start
from classifier.models import (
    MAX_YEAR,
    MIN_YEAR,
    CareClosed,
    TimelineCareRequest,
    TimelineContact,
    TimelineDecision,
    iso,
)
from classifier.month.events import table_rows
from classifier.month.extract import FIELD_COLUMN, Rejected, Row, to_row
from classifier.reporting import figures
from classifier.rulesets import RuleSets, as_rulesets, default_rulesets

AREAS = ("first_visit", "investigation", "treatment")
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
MONTH_EXPECTED = f"expected a month as 'YYYY-MM' in the years {MIN_YEAR}–{MAX_YEAR}"


def month_bounds(month: str) -> tuple[date, date]:
    first = date.fromisoformat(month + "-01")
    return first, first + relativedelta(months=1, days=-1)


def month_range(first: str, last: str) -> list[str]:
    """Every 'YYYY-MM' from first to last, inclusive. ValueError naming --month or --to for a month outside the
    years a rule set can hold (9999-12 overflowed the date arithmetic; 0001-01 to 9998-12 ran 119,976 months)."""
    for name, month in (("--month", first), ("--to", last)):
        if not (_MONTH.fullmatch(month) and MIN_YEAR <= int(month[:4]) <= MAX_YEAR):
            raise ValueError(f"{name}: {MONTH_EXPECTED}")
    out, d, end = [], date.fromisoformat(first + "-01"), date.fromisoformat(last + "-01")
    if end < d:
        raise ValueError(f"--to {last} is before --month {first}")
    while d <= end:
        out.append(f"{d.year:04d}-{d.month:02d}")  # strftime drops leading zeros of years before 1000
        d += relativedelta(months=1)
    return out


@dataclass
class MatrixCell:
    """Registered as one type, by the rules another, at one unit: how often, by which rules, which contacts."""

    count: int = 0
    rules_fired: Counter[str] = field(default_factory=Counter)
    contact_ids: list[str] = field(default_factory=list)

    def add(self, other: MatrixCell) -> None:
        self.count += other.count
        self.rules_fired.update(other.rules_fired)
        self.contact_ids.extend(other.contact_ids)


@dataclass
class BucketResult:
    """What the months need from some patients, already counted: small, picklable, and summable.

    The figures are counted as each contact is folded (the reporting layer's Table, as the
    rules say and as registered), so no record of every contact travels back to the parent
    process; only the delivery rows do, and `run` spills those to sorted files per bucket.
    """

    # the month derives every wait itself: a month end with nobody waiting is known to have nobody
    rules: figures.Table = field(default_factory=lambda: figures.Table(waits_known=True))
    registered: figures.Table = field(default_factory=lambda: figures.Table(waits_known=True))
    compared: Counter[tuple[str, str]] = field(default_factory=Counter)  # (region, unit) -> registrations compared
    agree: Counter[tuple[str, str]] = field(default_factory=Counter)
    matrix: dict[tuple[str, str, str, str], MatrixCell] = field(default_factory=dict)  # region, unit, reg., rules
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    completed: list[dict[str, Any]] = field(default_factory=list)  # delivery rows of this bucket (see outputs.spill)
    waiting: list[dict[str, Any]] = field(default_factory=list)
    delivery_parts: dict[str, list[Path]] = field(default_factory=lambda: {"completed": [], "waiting": []})
    patients: int = 0
    contacts: int = 0
    measurement_points: int = 0
    waiting_at_month_end: int = 0
    # rule-set version -> contacts it classified (a set that only counted a month end's waits: 0)
    rulesets: Counter[str] = field(default_factory=Counter)

    def extend(self, other: BucketResult) -> None:
        self.rules.merge(other.rules)
        self.registered.merge(other.registered)
        self.compared.update(other.compared)
        self.agree.update(other.agree)
        for key, cell in other.matrix.items():
            self.matrix.setdefault(key, MatrixCell()).add(cell)
        for name in ("disagreements", "findings", "rejected", "completed", "waiting"):
            getattr(self, name).extend(getattr(other, name))
        for kind, parts in other.delivery_parts.items():
            self.delivery_parts[kind].extend(parts)
        for name in ("patients", "contacts", "measurement_points", "waiting_at_month_end"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for version, n in other.rulesets.items():
            self.rulesets[version] += n


_PATH_TAIL = re.compile(r"([A-Za-z_0-9]+)$")


def _error_problems(exc: InputError) -> list[tuple[str, str, str]]:
    """The timeline's refusal by column, in English and Swedish (InputError carries both)."""
    out = []
    for e in exc.errors:
        m = _PATH_TAIL.search(e["path"])
        name = m.group(1) if m else "row"
        out.append((FIELD_COLUMN.get(name, name), e["message"], e.get("message_sv") or e["message"]))
    return out


def _finding(kind: str, row: Row, ids: list[str], month: str | None, detail: str) -> dict[str, Any]:
    return {"kind": kind, "region": row.region, "unit": row.unit, "month": month, "event_ids": ids, "detail": detail}


class PatientFolder:
    """Folds one patient's rows and writes what the months need into a BucketResult.

    Each contact is classified by the held rule set valid on its date, each month end's waits
    are read from the set valid on that day (docs/rulesets.md): a patient whose dates span
    several sets is folded once per set, so each set sees the history as it alone reads it,
    as /v1/classify/timeline does (classifier/rulesets.py).
    """

    def __init__(self, classifier: Classifier | RuleSets, months: list[str], out: BucketResult):
        self.sets, self.months, self.out = as_rulesets(classifier), months, out
        self.classifier = self.sets.classifiers[0]  # the set of the contact being counted (set per row)
        self.bounds = [month_bounds(m) for m in months]
        self.ends = list(zip(months, self.bounds, strict=True))  # (month, its first and last day)
        self.first_day, self.last_day = self.bounds[0][0], self.bounds[-1][1]

    def month_of(self, day: date) -> str | None:
        if not self.first_day <= day <= self.last_day:
            return None
        return iso(day)[:7]

    def _folds(self, rows: list[Row]) -> dict[int, TimelineFold]:
        """One fold per held set this patient's contacts and month ends fall in (by id of the Classifier)."""
        if len(self.sets.classifiers) == 1:
            return {id(self.classifier): TimelineFold(self.classifier)}
        days = [r.date for r in rows if isinstance(r.event, TimelineContact)] + [b[1] for b in self.bounds]
        chosen = {id(c): c for c in map(self.sets.for_date, days)}
        return {k: TimelineFold(c) for k, c in chosen.items()}

    def _add(self, folds: dict[int, TimelineFold], ev: Any, day: date) -> Any:
        """Fold `ev` into every fold; the step of the set valid on `day` (its InputError, if it rejects it)."""
        self.classifier = own = self.sets.for_date(day)
        step, error = None, None
        for key, f in folds.items():
            try:
                s = f.add(ev)
            except InputError as exc:
                error = exc if key == id(own) else error
                continue
            step = s if key == id(own) else step
        if error is not None:
            raise error
        if step is not None and self.month_of(day) is not None:
            self.out.rulesets[own.ruleset.version] += 1
        return step

    def _at(self, folds: dict[int, TimelineFold], day: date) -> TimelineFold:
        """The fold of the set valid on `day` (a month end); its version is named as used."""
        if len(folds) == 1 and len(self.sets.classifiers) == 1:
            return next(iter(folds.values()))
        own = self.sets.for_date(day)
        self.out.rulesets[own.ruleset.version] += 0
        return folds[id(own)]

    def fold(self, rows: list[Row]) -> None:
        rows.sort(key=lambda r: (r.date, r.file, r.row))  # date order; same date: extract order
        folds = self._folds(rows)
        only = next(iter(folds.values())) if len(self.sets.classifiers) == 1 else None
        add = only.add if only is not None else None
        meta: dict[int, Row] = {}
        ends = iter(self.ends)
        pending = next(ends, None)
        last_event: date | None = None
        closed: Row | None = None  # a care_closed not yet followed by a new care request
        self.order: dict[int, int] = {}  # id(care request event) -> its place in the fold
        self.latest_decision = -1  # the place of the latest decision folded
        self.out.patients += 1
        for place, row in enumerate(rows):
            ev, day = row.event, row.date
            while pending is not None and day > pending[1][1]:
                self._month_end(only or self._at(folds, pending[1][1]), meta, pending, last_event)
                pending = next(ends, None)
            if pending is None:
                break  # after the last month asked: nothing more to say
            month = self.month_of(day)
            if isinstance(ev, CareClosed):
                closed = row
            elif isinstance(ev, TimelineCareRequest) or (isinstance(ev, TimelineContact) and ev.care_request):
                closed = None
            elif closed is not None and month is not None and isinstance(ev, TimelineContact | TimelineDecision):
                self.out.findings.append(_finding(
                    "event_after_care_closed", row, [closed.event_id, row.event_id], month,
                    f"händelse {iso(day)} efter avslutat vårdåtagande {iso(closed.date)} utan ny vårdbegäran"))
            try:
                step = add(ev) if add is not None else self._add(folds, ev, day)
            except InputError as exc:
                self.out.rejected.append(Rejected("", row.row, row.event_id, _error_problems(exc)))
                self.out.rejected[-1].file = str(row.file)
                continue
            meta[id(ev)] = row
            last_event = day
            if isinstance(ev, TimelineCareRequest):
                self.order[id(ev)] = place
            elif isinstance(ev, TimelineDecision):
                self.latest_decision = place
            if step is not None and month is not None:
                self._contact(step, row, month)
        while pending is not None:
            self._month_end(only or self._at(folds, pending[1][1]), meta, pending, last_event)
            pending = next(ends, None)

    def _month_end(self, fold: TimelineFold, meta: dict[int, Row], end: tuple[str, tuple[date, date]],
                   last_event: date | None) -> None:
        """Who waits at a month end; most month ends of most patients have nobody waiting, and cost one test."""
        if fold.open_care_requests or fold.open_decisions:
            self._waiting(fold, meta, end[0], end[1], last_event)

    def _contact(self, step: Any, row: Row, month: str) -> None:
        res, out = step.result, self.out
        out.contacts += 1
        ctype, wait, region, unit = res["contact_type"], res["wait"], row.region, row.unit
        where = {"event_id": row.event_id}
        if res["measurement_point"]:
            out.measurement_points += 1
            if ctype in AREAS[1:] and res["rule"]["stage"] == "new_commitment":  # a direct start (N2, N4)
                for table in (out.rules, out.registered):  # as the rules say in both views, like the waits
                    table.count_direct_start(region, unit, month)
            out.rules.count_completed(region, unit, ctype, month, wait["in_numerator"], wait["in_denominator"], where)
            out.completed.append({
                "region": region, "unit": unit, "month": month, "date": iso(step.contact.date),
                "event_id": row.event_id, "contact_id": step.contact.id, "contact_type": ctype,
                "exclusion": wait["exclusion"], "days": wait["days"],
                "received_date": iso(step.care_request.received_date) if step.care_request else None,
                "decision_date": iso(step.contact.decision_date) if step.contact.decision_date else None,
            })
            if wait["start_date"] is None:
                out.findings.append(_finding(
                    "measurement_point_without_wait_start", row, [row.event_id], month,
                    "mätpunkt utan väntetidsstart (" + ", ".join(w["code"] for w in res["warnings"]
                                                                    if w["code"].startswith("missing_")) + ")"))
        if row.registered is None:
            out.findings.append(_finding("contact_not_registered", row, [row.event_id], month,
                                         "kontakttyp ej registrerad i journalen") if row.unknown_registered is None
                                else _finding("unknown_registered_contact_type", row, [row.event_id], month,
                                              f"okänd registrerad kontakttyp {row.unknown_registered[:60]!r}"))
            if res["measurement_point"]:  # an unregistered contact counts as the rules say in both views
                out.registered.count_completed(region, unit, ctype, month, wait["in_numerator"],
                                               wait["in_denominator"], where)
            return
        out.compared[(region, unit)] += 1
        if row.registered in AREAS:
            reg_wait, _ = answer.wait(self.classifier.ruleset, row.registered, step.contact, step.care_request)
            if reg_wait is not None:
                out.registered.count_completed(region, unit, row.registered, month, reg_wait["in_numerator"],
                                               reg_wait["in_denominator"], where)
        if row.registered == ctype:
            out.agree[(region, unit)] += 1
            return
        cell = out.matrix.setdefault((region, unit, row.registered, ctype), MatrixCell())
        cell.count += 1
        cell.rules_fired[res["rule"]["id"]] += 1
        cell.contact_ids.append(step.contact.id)
        out.disagreements.append({"month": month, "region": region, "unit": unit, "date": iso(step.contact.date),
                                  "event_id": row.event_id, "contact_id": step.contact.id,
                                  "registered": row.registered, "rules": ctype, "rule": res["rule"]["id"]})

    def _wait(self, row: Row, month: str, area: str, start: date, exclusion: str | None,
              bounds: tuple[date, date]) -> None:
        first, end = bounds
        days = (end - start).days
        self.out.waiting_at_month_end += 1
        for table in (self.out.rules, self.out.registered):  # who waits does not depend on registrations
            table.count_waiting(row.region, row.unit, area, month, exclusion, days, start >= first)
        self.out.waiting.append({"region": row.region, "unit": row.unit, "month": month, "area": area,
                                 "wait_start": iso(start), "exclusion": exclusion,
                                 "event_id": row.event_id, "days": days})

    def _waits_for_first_visit(self, taken: OpenCareRequest) -> bool:
        """docs/month.md §2: an open care request is a first-visit wait unless it came during ongoing
        care (the next contact can only be a return visit), or a decision was taken after it that
        En väg in's checklist allows as a direct start (rules N2/N4): then the patient waits for the
        investigation or treatment only, never in both lists at once."""
        if taken.during_commitment:
            return False
        decided = self.latest_decision > self.order.get(id(taken.event), -1)
        return not (decided and direct_start(taken.care_request, self.classifier.ruleset).allowed)

    def _waiting(self, fold: TimelineFold, meta: dict[int, Row], month: str, bounds: tuple[date, date],
                 last_event: date | None) -> None:
        if not fold.open_care_requests and not fold.open_decisions:
            return  # no one waiting (most month ends of most patients)
        first, end = bounds
        if fold.open_care_requests:
            taken = fold.open_care_requests[-1]  # the one the next contact would take
            if self._waits_for_first_visit(taken):
                self._wait(meta[id(taken.event)], month, "first_visit", taken.event.date, taken.event.wait_exclusion,
                           bounds)
        latest: dict[tuple[str, str], TimelineDecision] = {}
        for d in fold.open_decisions:
            latest[(d.area, d.health_problem)] = d
        for d in latest.values():
            row = meta[id(d)]
            self._wait(row, month, d.area, d.date, d.wait_exclusion, bounds)
            if d.date < first and last_event is not None and last_event <= d.date:
                self.out.findings.append(_finding(
                    "old_decision_without_follow_up", row, [row.event_id], month,
                    f"beslut {iso(d.date)} äldre än månaden utan någon händelse därefter "
                    f"({(end - d.date).days} dagar)"))


def fold_rows(records: list[dict[str, Any]] | pa.Table, months: list[str], names: list[str],
              classifier: Classifier | RuleSets | None = None, leave_out: set[tuple[int, int]] | None = None,
              folder: Callable[[RuleSets, list[str], BucketResult], PatientFolder] = PatientFolder) -> BucketResult:
    """Rows of whole patients (any order) -> the bucket's records for the months asked.

    `records`: dicts of the extract's columns, or a bucket's table (extract.read_table), whose rows are
    checked a column at a time (events.table_rows; the same events and rejections as to_row gives).

    `leave_out`: (file, row) of rows already rejected elsewhere (later copies of an event id).
    `folder` makes the PatientFolder (impact passes one that also keeps every contact's answer).
    The answers are counted, not shown: Classifier.for_counting.
    """
    classifier = as_rulesets(classifier or default_rulesets()).for_counting()  # each contact's set by its date
    out = BucketResult()
    by_patient: dict[str, list[Row]] = defaultdict(list)
    rows = table_rows(records, classifier.ruleset, names, leave_out) if isinstance(records, pa.Table) else (
        to_row(rec, classifier.ruleset, names) for rec in records
        if not (leave_out and (rec["_file"], rec["_row"]) in leave_out))
    for r in rows:
        if isinstance(r, Rejected):
            out.rejected.append(r)
        else:
            by_patient[r.patient_ref].append(r)
    patients = folder(classifier, months, out)
    for rows in by_patient.values():
        patients.fold(rows)
    if len(classifier.classifiers) == 1:  # one held set: it classified every contact (PatientFolder._add counts
        out.rulesets[classifier.ruleset.version] += out.contacts  # them per set when there are several)
    for rej in out.rejected:
        if rej.file.isdigit():
            rej.file = names[int(rej.file)]
    return out
