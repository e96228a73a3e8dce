"""A seeded synthetic region (docs/month.md §5): an extract with known registration errors and defects.

Journeys are built from what clinicians do (a referral, a first visit or an En väg in
direct start, decisions, investigations, treatments, return visits, acute contacts,
closings), each contact registered with the type its journey gives it. Then errors and
defects are injected at known rates, and every finding the audit should make is written
to `answer_key.json`: the injected ones, and the long waits that the journeys' own
dates produce (a decision older than the month with nothing after it).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from classifier.month.extract import COLUMNS
from classifier.month.fold import month_bounds, month_range

REGIONS = {"Region Norr": ["BUP Norr Luleå", "BUP Norr Umeå"], "Region Söder": ["BUP Söder Malmö", "BUP Söder Lund"]}
# Per unit: how often a registration is wrong (one unit registers worse, as in real regions).
ERROR_RATE = {"BUP Norr Luleå": 0.02, "BUP Norr Umeå": 0.03, "BUP Söder Malmö": 0.06, "BUP Söder Lund": 0.02}
RATES = {"not_registered": 0.02, "missing_decision": 0.02, "missing_care_request": 0.01, "duplicate": 0.003,
         "identity": 0.002, "bad_date": 0.002, "after_closed": 0.02, "abandoned_decision": 0.01}
PROBLEMS = ["F90", "F41", "F32", "F84", "F50", "F43"]
# Plausible wrong registrations: (what the journey gives, what is registered instead)
WRONG = {"return_visit": ["treatment", "investigation", "first_visit"], "first_visit": ["return_visit",
                                                                                          "investigation"],
         "investigation": ["first_visit", "return_visit"], "treatment": ["return_visit", "first_visit"],
         "acute": ["first_visit"]}
FULL = dict.fromkeys(("D1", "D2", "D3", "D4", "D5", "D6", "D7"), "true") | {"X1": "false"}
START, END = date(2025, 10, 1), date(2026, 6, 30)  # referrals arrive in this window
MONTHS = month_range("2026-03", "2026-06")  # the months the answer key is for


@dataclass
class Patient:
    ref: str
    region: str
    unit: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, etype: str, day: date, **cols: Any) -> dict[str, Any]:
        row = {"patient_ref": self.ref, "event_id": f"{self.ref}-e{len(self.rows) + 1}", "event_type": etype,
               "date": day.isoformat(), **cols}
        if etype in ("care_request", "decision", "contact"):
            row |= {"region": self.region, "unit": self.unit}
        self.rows.append(row)
        return row

    def contact(self, day: date, activity: str, problem: str, registered: str, **cols: Any) -> dict[str, Any]:
        cols = {"setting": "bup", **cols}
        row = self.add("contact", day, contact_id=f"{self.ref}-c{len(self.rows) + 1}", activity=activity,
                       health_problem=problem, registered_contact_type=registered, _type=registered, **cols)
        return row


def _wait(rng: random.Random, mean: float = 26, spread: float = 12) -> int:
    return max(1, int(rng.gauss(mean, spread)))


def journey(rng: random.Random, p: Patient, key: dict[str, list[Any]]) -> None:
    """One patient's events, each contact registered as its journey makes it."""
    day = START + timedelta(days=rng.randrange((END - START).days))
    problem = rng.choice(PROBLEMS)
    pathway = rng.choices("ABC", (0.65, 0.25, 0.10))[0]
    direct = pathway == "B" and rng.random() < 0.3
    cr = {"pathway": pathway}
    if pathway != "A":
        cr |= FULL if direct else {**FULL, "D5": "false"}
    if rng.random() < 0.03:
        cr["wait_exclusion"] = rng.choice(["PVV", "MOV"])
    missing_cr = not direct and rng.random() < RATES["missing_care_request"]
    if not missing_cr:
        p.add("care_request", day, **cr)
    if direct:
        day += timedelta(days=rng.randint(2, 10))
        p.add("decision", day, area="investigation", health_problem=problem)
        day += timedelta(days=_wait(rng))
        p.contact(day, "investigation", problem, "investigation")
        inv_done = True
    else:
        day += timedelta(days=_wait(rng))
        setting = "evi" if pathway == "C" and not missing_cr else "bup"
        first = p.contact(day, "assessment", problem, "first_visit", setting=setting)
        if missing_cr:
            key["measurement_point_without_wait_start"].append(first["event_id"])
        inv_done = False
    if rng.random() < 0.05:
        day += timedelta(days=rng.randint(1, 10))
        p.contact(day, "assessment", problem, "acute", urgent="true")
    if rng.random() < RATES["abandoned_decision"]:
        day += timedelta(days=rng.randint(3, 10))
        p.add("decision", day, area="investigation" if not inv_done else "treatment", health_problem=problem)
        return  # nothing more: a long wait the audit should point at (key computed from the dates)
    if not inv_done and rng.random() < 0.6:
        day = _decided(rng, p, day, "investigation", problem, "investigation", key)
        for _ in range(rng.randint(1, 3)):
            day += timedelta(days=rng.randint(7, 21))
            p.contact(day, "investigation", problem, "return_visit")
        day += timedelta(days=rng.randint(3, 14))
        p.add("investigation_concluded", day, health_problem=problem)
    if rng.random() < 0.8:
        modality = rng.choice(["psychological", "pharmacological"])
        atc = "N06BA04" if modality == "pharmacological" else None
        day = _decided(rng, p, day, "treatment", problem, "treatment", key, treatment_modality=modality,
                       medications_atc=atc)
        for _ in range(rng.randint(3, 10)):
            day += timedelta(days=rng.randint(10, 28))
            p.contact(day, "treatment", problem, "return_visit", treatment_modality=modality)
        day += timedelta(days=rng.randint(3, 14))
        p.add("treatment_concluded", day, health_problem=problem, treatment_modality=modality)
    if rng.random() < 0.6:
        day += timedelta(days=rng.randint(1, 20))
        closed = p.add("care_closed", day)
        if rng.random() < RATES["after_closed"]:
            day += timedelta(days=rng.randint(5, 40))
            after = p.contact(day, "follow_up", problem, "first_visit")
            key["event_after_care_closed"].append(sorted([closed["event_id"], after["event_id"]]))
            key["measurement_point_without_wait_start"].append(after["event_id"])


def _decided(rng: random.Random, p: Patient, day: date, area: str, problem: str, registered: str,
             key: dict[str, list[Any]], **cols: Any) -> date:
    day += timedelta(days=rng.randint(5, 25))
    modality = cols.get("treatment_modality")
    if rng.random() < RATES["missing_decision"]:
        day += timedelta(days=_wait(rng))
        row = p.contact(day, area, problem, registered, **{k: v for k, v in cols.items() if v})
        key["measurement_point_without_wait_start"].append(row["event_id"])
        return day
    p.add("decision", day, area=area, health_problem=problem, treatment_modality=modality,
          wait_exclusion="MOV" if rng.random() < 0.02 else None)
    day += timedelta(days=_wait(rng))
    p.contact(day, area, problem, registered, **{k: v for k, v in cols.items() if v})
    return day


def _old_decisions(rows: list[dict[str, Any]], months: list[str]) -> list[tuple[str, str]]:
    """(decision id, month): a decision older than the month, with no event of the patient after it by month end."""
    out = []
    for i, r in enumerate(rows):
        if r["event_type"] != "decision":
            continue
        d = date.fromisoformat(r["date"])
        nxt = next((date.fromisoformat(x["date"]) for x in rows[i + 1:]), None)
        for m in months:
            first, end = month_bounds(m)
            if d < first and (nxt is None or nxt > end):
                out.append((r["event_id"], m))
    return out


def simulate(patients: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The extract's rows (sorted by date, as a warehouse exports them) and the answer key."""
    rng = random.Random(seed)
    key: dict[str, list[Any]] = {k: [] for k in ("registration_errors", "contact_not_registered",
                                                 "measurement_point_without_wait_start", "event_after_care_closed",
                                                 "duplicate_id", "old_decision_without_follow_up", "rejected_rows")}
    rows: list[dict[str, Any]] = []
    units = [(r, u) for r, us in REGIONS.items() for u in us]
    for n in range(patients):
        region, unit = rng.choice(units)
        p = Patient(f"p{seed}-{n:06d}", region, unit)
        journey(rng, p, key)
        key["old_decision_without_follow_up"] += [list(x) for x in _old_decisions(p.rows, MONTHS)]
        for r in p.rows:
            if r["event_type"] != "contact":
                continue
            if rng.random() < RATES["not_registered"]:
                r["registered_contact_type"] = None
                key["contact_not_registered"].append(r["event_id"])
            elif rng.random() < ERROR_RATE[unit]:
                r["registered_contact_type"] = rng.choice(WRONG[r["registered_contact_type"]])
                key["registration_errors"].append(r["event_id"])
        rows += p.rows
    # Unreadable rows, on return visits only, so no other answer of the patient changes.
    spare = [r for r in rows if r.get("_type") == "return_visit"]
    bad: list[dict[str, Any]] = []
    for r in spare:
        x = rng.random()
        if x < RATES["duplicate"]:
            bad.append(dict(r) | {"_kind": "duplicate"})
        elif x < RATES["duplicate"] + RATES["identity"]:
            yy, mm, dd, tail = rng.randint(50, 99), rng.randint(1, 9), rng.randint(10, 28), rng.randint(1000, 9999)
            r["health_problem"] = f"19{yy}0{mm}{dd}-{tail}"
            r["_kind"] = "identity"
        elif x < RATES["duplicate"] + RATES["identity"] + RATES["bad_date"]:
            r["date"] = r["date"][:8] + "32"
            r["_kind"] = "bad_date"
    rows += bad
    rows.sort(key=lambda r: r["date"])  # stable: a patient's same-day events keep their order
    for i, r in enumerate(rows, 1):
        r.pop("_type", None)
        kind = r.pop("_kind", None)
        if kind:
            key["rejected_rows"].append(i)
            if kind == "duplicate":
                key["duplicate_id"].append(r["event_id"])
            for k in ("registration_errors", "contact_not_registered"):
                if kind != "duplicate" and r["event_id"] in key[k]:
                    key[k].remove(r["event_id"])
    first, last = month_bounds(MONTHS[0])[0].isoformat(), month_bounds(MONTHS[-1])[1].isoformat()
    dated = {r["event_id"]: r["date"] for r in rows}
    for k in ("registration_errors", "contact_not_registered", "measurement_point_without_wait_start"):
        key[k] = sorted(e for e in key[k] if first <= dated[e] <= last)
    key["event_after_care_closed"] = sorted(p for p in key["event_after_care_closed"]
                                            if first <= max(dated[e] for e in p) <= last)
    key["months"] = MONTHS
    key["rates"] = RATES | {"registration_error_by_unit": ERROR_RATE}
    return rows, key


def write(rows: list[dict[str, Any]], key: dict[str, Any], out: Path, fmt: str = "csv") -> Path:
    """DIR/extract.csv (or .parquet) and DIR/answer_key.json."""
    from classifier.reporting.csvsafe import write_csv

    out.mkdir(parents=True, exist_ok=True)
    (out / "answer_key.json").write_text(json.dumps(key, ensure_ascii=False, indent=1), encoding="utf-8")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in COLUMNS})
        path = out / "extract.parquet"
        pq.write_table(table, path)
        return path
    return write_csv(out / "extract.csv", rows, list(COLUMNS))
