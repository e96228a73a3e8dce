"""One bucket of whole patients -> what the month needs: completed, waiting, registrations, findings.

Each patient's events are folded by `classifier.classify.TimelineFold`, the same fold
`/v1/classify/timeline` uses: the month layer never decides a contact type itself. It
reads the fold's answers and, at each month end, the care requests and decisions the
fold still holds open (MONTH.md 2).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta

from classifier import answer
from classifier.classify import Classifier, TimelineFold, default_classifier
from classifier.errors import InputError
from classifier.models import CareClosed, TimelineCareRequest, TimelineContact, TimelineDecision
from classifier.month.extract import FIELD_COLUMN, Rejected, Row, read_bucket, to_row

AREAS = ("first_visit", "investigation", "treatment")


def month_bounds(month: str) -> tuple[date, date]:
    first = date.fromisoformat(month + "-01")
    return first, first + relativedelta(months=1, days=-1)


def month_range(first: str, last: str) -> list[str]:
    """Every 'YYYY-MM' from first to last, inclusive."""
    out, d, end = [], date.fromisoformat(first + "-01"), date.fromisoformat(last + "-01")
    if end < d:
        raise ValueError(f"--to {last} is before --month {first}")
    while d <= end:
        out.append(f"{d.year:04d}-{d.month:02d}")  # strftime drops leading zeros of years before 1000
        d += relativedelta(months=1)
    return out


@dataclass
class BucketResult:
    """Plain records (picklable, small) for the months asked."""

    completed: list[dict[str, Any]] = field(default_factory=list)
    registered: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    patients: int = 0
    contacts: int = 0

    def extend(self, other: BucketResult) -> None:
        for name in ("completed", "registered", "waiting", "findings", "rejected"):
            getattr(self, name).extend(getattr(other, name))
        self.patients += other.patients
        self.contacts += other.contacts


_PATH_TAIL = re.compile(r"([A-Za-z_0-9]+)$")


def _error_problems(exc: InputError) -> list[tuple[str, str]]:
    out = []
    for e in exc.errors:
        m = _PATH_TAIL.search(e["path"])
        name = m.group(1) if m else "row"
        out.append((FIELD_COLUMN.get(name, name), e["message"]))
    return out


def _finding(kind: str, row: Row, ids: list[str], month: str | None, detail: str) -> dict[str, Any]:
    return {"kind": kind, "region": row.region, "unit": row.unit, "month": month, "event_ids": ids, "detail": detail}


class PatientFolder:
    """Folds one patient's rows and writes what the months need into a BucketResult."""

    def __init__(self, classifier: Classifier, months: list[str], out: BucketResult):
        self.classifier, self.months, self.out = classifier, months, out
        self.bounds = [month_bounds(m) for m in months]
        self.first_day, self.last_day = self.bounds[0][0], self.bounds[-1][1]

    def month_of(self, day: date) -> str | None:
        if not self.first_day <= day <= self.last_day:
            return None
        return f"{day.year:04d}-{day.month:02d}"

    def fold(self, rows: list[Row]) -> None:
        rows.sort(key=lambda r: (r.event.date, r.file, r.row))  # date order; same date: extract order
        fold = TimelineFold(self.classifier)
        meta: dict[int, Row] = {}
        ends = iter(zip(self.months, self.bounds, strict=True))
        pending = next(ends, None)
        last_event: date | None = None
        closed: Row | None = None  # a care_closed not yet followed by a new care request
        self.out.patients += 1
        for row in rows:
            ev = row.event
            while pending is not None and ev.date > pending[1][1]:
                self._waiting(fold, meta, pending[0], pending[1], last_event)
                pending = next(ends, None)
            if pending is None:
                break  # after the last month asked: nothing more to say
            month = self.month_of(ev.date)
            if isinstance(ev, CareClosed):
                closed = row
            elif isinstance(ev, TimelineCareRequest) or (isinstance(ev, TimelineContact) and ev.care_request):
                closed = None
            elif closed is not None and month is not None and isinstance(ev, TimelineContact | TimelineDecision):
                self.out.findings.append(_finding(
                    "event_after_care_closed", row, [closed.event_id, row.event_id], month,
                    f"händelse {ev.date} efter avslutat vårdåtagande {closed.event.date} utan ny vårdbegäran"))
            try:
                step = fold.add(ev)
            except InputError as exc:
                self.out.rejected.append(Rejected("", row.row, row.event_id, _error_problems(exc)))
                self.out.rejected[-1].file = str(row.file)
                continue
            meta[id(ev)] = row
            last_event = ev.date
            if step is not None and month is not None:
                self._contact(step, row, month)
        while pending is not None:
            self._waiting(fold, meta, pending[0], pending[1], last_event)
            pending = next(ends, None)

    def _contact(self, step: Any, row: Row, month: str) -> None:
        res = step.result
        self.out.contacts += 1
        base = {"region": row.region, "unit": row.unit, "date": step.contact.date.isoformat(), "month": month,
                "event_id": row.event_id, "contact_id": step.contact.id}
        if res["measurement_point"]:
            self.out.completed.append({
                **base, "classification": {"contact_type": res["contact_type"], "wait": res["wait"],
                                           "rule": res["rule"]["id"]},
                "received_date": step.care_request.received_date.isoformat() if step.care_request else None,
                "decision_date": step.contact.decision_date.isoformat() if step.contact.decision_date else None,
            })
            if res["wait"]["start_date"] is None:
                self.out.findings.append(_finding(
                    "measurement_point_without_wait_start", row, [row.event_id], month,
                    "mätpunkt utan väntetidsstart (" + ", ".join(w["code"] for w in res["warnings"]
                                                                    if w["code"].startswith("missing_")) + ")"))
        if row.registered is None:
            self.out.findings.append(_finding("contact_not_registered", row, [row.event_id], month,
                                              "kontakttyp ej registrerad i journalen"))
            return
        reg_wait = None
        if row.registered in AREAS:
            reg_wait, _ = answer.wait(self.classifier.ruleset, row.registered, step.contact, step.care_request)
        self.out.registered.append({**base, "registered": row.registered, "rules": res["contact_type"],
                                    "rule": res["rule"]["id"], "registered_wait": reg_wait})

    def _waiting(self, fold: TimelineFold, meta: dict[int, Row], month: str, bounds: tuple[date, date],
                 last_event: date | None) -> None:
        first, end = bounds
        if fold.open_care_requests:
            ev = fold.open_care_requests[-1].event  # the one the next contact would take
            row = meta[id(ev)]
            self.out.waiting.append({"region": row.region, "unit": row.unit, "month": month, "area": "first_visit",
                                     "wait_start": ev.date.isoformat(), "exclusion": ev.wait_exclusion,
                                     "event_id": row.event_id, "days": (end - ev.date).days})
        latest: dict[tuple[str, str], TimelineDecision] = {}
        for d in fold.open_decisions:
            latest[(d.area, d.health_problem)] = d
        for d in latest.values():
            row = meta[id(d)]
            self.out.waiting.append({"region": row.region, "unit": row.unit, "month": month, "area": d.area,
                                     "wait_start": d.date.isoformat(), "exclusion": d.wait_exclusion,
                                     "event_id": row.event_id, "days": (end - d.date).days})
            if d.date < first and last_event is not None and last_event <= d.date:
                self.out.findings.append(_finding(
                    "old_decision_without_follow_up", row, [row.event_id], month,
                    f"beslut {d.date} äldre än månaden utan någon händelse därefter ({(end - d.date).days} dagar)"))


def fold_rows(records: list[dict[str, Any]], months: list[str], names: list[str],
              classifier: Classifier | None = None,
              folder: Callable[[Classifier, list[str], BucketResult], PatientFolder] = PatientFolder) -> BucketResult:
    """Rows of whole patients (any order) -> the bucket's records for the months asked.

    `folder` makes the PatientFolder (impact passes one that also keeps every contact's answer).
    """
    classifier = classifier or default_classifier()
    out = BucketResult()
    by_patient: dict[str, list[Row]] = defaultdict(list)
    for rec in records:
        r = to_row(rec, classifier.ruleset, names)
        if isinstance(r, Rejected):
            out.rejected.append(r)
        else:
            by_patient[r.patient_ref].append(r)
    patients = folder(classifier, months, out)
    for rows in by_patient.values():
        patients.fold(rows)
    for rej in out.rejected:
        if rej.file.isdigit():
            rej.file = names[int(rej.file)]
    return out


def fold_bucket(args: tuple[Path, list[str], list[str]]) -> BucketResult:
    """Pool worker: one bucket file, folded with this process's own Classifier."""
    path, months, names = args
    return fold_rows(read_bucket(path), months, names)
