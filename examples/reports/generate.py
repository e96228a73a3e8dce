"""Make the shipped synthetic report data: three regions, 2024 and January–November 2025.

Run: .venv/bin/python examples/reports/generate.py. Deterministic (fixed seed). Every
completed contact is a real request classified by the real classifier, so the report is
fed exactly what a journal system would get back. No real patient is in here.
"""

from __future__ import annotations

import csv
import random
import sys
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from classifier import default_classifier  # noqa: E402

REGIONS = {  # region: (share of the national pots, units, mean wait 2024, mean wait 2025)
    "Region Nord": ("0.052", ["BUP Nord 1", "BUP Nord 2"], 38, 26),
    "Region Mitt": ("0.171", ["BUP Mitt"], 30, 29),
    "Region Syd": ("0.134", ["BUP Syd A", "BUP Syd B"], 45, 30),
}
AREAS = {"first_visit": 0.5, "investigation": 0.2, "treatment": 0.3}


def request(area: str, day: date, wait: int, rnd: random.Random) -> dict:
    exclusion = rnd.choices([None, "PVV", "MOV", "SOV"], [90, 5, 3, 2])[0]
    start = (day - timedelta(days=wait)).isoformat()
    contact = {"id": "s", "date": day.isoformat(), "setting": "bup", "health_problem": "F90",
               "wait_exclusion": exclusion}
    if area == "first_visit":
        return {"contact": {**contact, "activity": "assessment"},
                "care_request": {"received_date": start, "pathway": "A"}}
    earlier = [{"type": "contact", "date": (day - timedelta(days=wait + 20)).isoformat(), "setting": "bup",
                "contact_type": "first_visit", "health_problem": "F90"}]
    extra = {"treatment_modality": "psychological"} if area == "treatment" else {}
    return {"contact": {**contact, "activity": area, "decision_date": start, **extra}, "history": earlier}


def main() -> None:
    rnd = random.Random(2025)
    clf = default_classifier()
    completed, waiting = [], []
    for region, (_share, units, wait24, wait25) in REGIONS.items():
        for unit in units:
            for year, mean in ((2024, wait24), (2025, wait25)):
                for month in range(1, 13 if year == 2024 else 12):
                    first = date(year, month, 1)
                    end = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
                    for _ in range(rnd.randint(25, 40)):
                        area = rnd.choices(list(AREAS), list(AREAS.values()))[0]
                        day = first + timedelta(days=rnd.randrange((end - first).days + 1))
                        wait = max(0, int(rnd.expovariate(1 / mean)))
                        answer = clf.classify(request(area, day, wait, rnd))
                        w = answer["wait"]
                        completed.append({"region": region, "unit": unit, "date": day.isoformat(),
                                          "contact_type": answer["contact_type"], "rule": answer["rule"]["id"],
                                          "days": w["days"], "exclusion": w["exclusion"] or "",
                                          "in_numerator": w["in_numerator"], "in_denominator": w["in_denominator"]})
                    for area in AREAS:
                        for _ in range(rnd.randint(5, 25)):
                            start = end - timedelta(days=max(0, int(rnd.expovariate(1 / mean))))
                            waiting.append({"region": region, "unit": unit, "month": f"{year}-{month:02d}",
                                            "area": area, "wait_start": start.isoformat(),
                                            "exclusion": rnd.choices(["", "PVV", "MOV"], [94, 4, 2])[0]})
    for name, rows in (("completed.csv", completed), ("waiting.csv", waiting)):
        with (HERE / name).open("w", newline="", encoding="utf-8") as f:
            f.write("# Synthetic data made by examples/reports/generate.py; no real patient.\n")
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    with (HERE / "shares.csv").open("w", encoding="utf-8") as f:
        f.write("# Each region's share of the national pots (made up for the synthetic data).\nregion,share\n")
        f.writelines(f"{region},{share}\n" for region, (share, *_rest) in REGIONS.items())
    print(f"{len(completed)} completed contacts, {len(waiting)} waiting, {len(REGIONS)} regions")


if __name__ == "__main__":
    main()
