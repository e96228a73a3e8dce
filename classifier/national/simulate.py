"""A simulated country: 21 regions' year of deliveries with known defects, and the answer key.

Volumes follow rough population weights that are SIMULATED (labelled so in population.csv; the
project ships no population figure as fact). Nationally about 8,000 measurement points a month
and 10,000 patients waiting at each month end at scale 1 (the order of the national figures: one month showed 4,075
completed first assessments for all regions). Every file is in the shape `bup-classifier month`
writes; each has a received time in manifest.csv. The injected defects: months never delivered,
a month delivered late, an invalid file, and supplements (one replacing an accepted delivery, and
late ones answering the notices). The answer key says what completeness, the notices and the money
must find.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

from classifier.month.outputs import DELIVERY_MAP
from classifier.national.deliveries import regions
from classifier.reporting.csvsafe import write_csv
from classifier.reporting.money import apportion
from classifier.reporting.records import month_end

COMPLETED_PER_MONTH, WAITING_PER_MONTH = 8_000, 10_000
# Rough children-and-young-people weights, in thousands, SIMULATED (order of magnitude only).
WEIGHTS = [520, 85, 65, 100, 80, 45, 50, 11, 32, 310, 75, 370, 60, 67, 62, 62, 60, 52, 27, 58, 52]
AS_OF = dt.date(2026, 7, 31)  # the July basis: the key's states and notices are as of this day
AFTER = dt.date(2026, 8, 31)  # every supplement is in by then


def _rows(rng: random.Random, region: str, month: str, n_done: int, n_wait: int) -> tuple[list, list]:
    first, last = dt.date.fromisoformat(month + "-01"), month_end(month)
    done, waiting = [], []
    for i in range(n_done):
        fas = rng.choice((1, 1, 2, 3))
        start = first + dt.timedelta(days=rng.randrange((last - first).days + 1))
        days = rng.randrange(0, 80)
        begin = (start - dt.timedelta(days=days)).isoformat()
        done.append({"VardkontaktId": f"{month}-c{i}", "Region": region, "Enhet": f"BUP {i % 4 + 1}",
                     "Rapportmanad": month, "Fas": fas, "Avvikelse": rng.choice((None,) * 12 + (1, 2, 3)),
                     "AnkomstDatum": begin if fas == 1 else None, "BeslutAktivitet": None if fas == 1 else begin,
                     "StartAktivitet": start.isoformat(), "Vantetid": days})
    for i in range(n_wait):
        fas = rng.choice((1, 1, 2, 3))
        days = rng.randrange(0, 120)
        begin = (last - dt.timedelta(days=days)).isoformat()
        waiting.append({"VardkontaktId": f"{month}-w{i}", "Region": region, "Enhet": f"BUP {i % 4 + 1}",
                        "Rapportmanad": month, "Fas": fas, "Avvikelse": rng.choice((None,) * 12 + (1, 2, 3)),
                        "AnkomstDatum": begin if fas == 1 else None, "BeslutAktivitet": None if fas == 1 else begin,
                        "Vantetid": days})
    return done, waiting


def _at(day: dt.date, hour: int = 9) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00+02:00"


def simulate(out: Path, seed: int = 1, year: int = 2026, months: int = 11, scale: float = 1.0) -> dict[str, Any]:
    """Write files/, manifest.csv (file, received, sender, in ingest order), population.csv, shares.csv and
    answer_key.json."""
    rng = random.Random(seed)
    names = list(regions())
    total = sum(WEIGHTS)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "population.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["region", "population", "source"])
        for name, weight in zip(names, WEIGHTS, strict=True):
            w.writerow([name, weight * 1000, "SIMULERAD: avrundad storleksordning, inte officiell statistik"])
    # Each region's share of the national pots, SIMULATED from the same weights: six decimals that sum to 1
    # exactly (largest remainder), so the bonus pots are not partial.
    shares = apportion([Fraction(weight * 10**6, total) for weight in WEIGHTS])
    with (out / "shares.csv").open("w", encoding="utf-8", newline="") as f:
        f.write("# SIMULERADE andelar av de nationella potterna (ur samma vikter): inte de verkliga\n")
        w = csv.writer(f)
        w.writerow(["region", "share"])
        for name, part in zip(names, shares, strict=True):
            w.writerow([name, f"0.{part:06d}"])
    cells = [(r, m) for r in names for m in range(1, 7)]  # the defects fall in January-June (the July basis)
    picked = rng.sample(cells, 6)
    missing, late_supplement, invalid, late, resent = picked[:2], picked[2], picked[3], picked[4], picked[5]
    manifest: list[dict[str, str]] = []

    def put(region: str, m: int, kind: str, rows: list, received: dt.datetime | str, tag: str = "") -> None:
        month = f"{year}-{m:02d}"
        d = out / "files" / region.replace(" ", "_") / month
        d.mkdir(parents=True, exist_ok=True)
        path = write_csv(d / f"{kind}{tag}.csv", rows, list(DELIVERY_MAP[kind]))
        manifest.append({"file": str(path.relative_to(out)), "received": str(received),
                         "sender": region.lower().replace(" ", "-")})

    for region, weight in zip(names, WEIGHTS, strict=True):
        for m in range(1, months + 1):
            month = f"{year}-{m:02d}"
            done, waiting = _rows(rng, region, month, max(1, round(COMPLETED_PER_MONTH * scale * weight / total)),
                                  max(1, round(WAITING_PER_MONTH * scale * weight / total)))
            due = dt.date(year + (m == 12), m % 12 + 1, 20)
            on_time = _at(due - dt.timedelta(days=rng.randrange(0, 15)))
            cell = (region, m)
            if cell in missing:
                continue
            if cell == late_supplement:  # nothing by the July basis; sent after the notice
                put(region, m, "completed", done, _at(dt.date(2026, 8, 10)))
                put(region, m, "waiting", waiting, _at(dt.date(2026, 8, 10)))
                continue
            when = _at(due + dt.timedelta(days=3)) if cell == late else on_time
            if cell == invalid:  # the completed file's first wait is one day off: refused, then corrected
                broken = [dict(r) for r in done]
                broken[0]["Vantetid"] = broken[0]["Vantetid"] + 1
                put(region, m, "completed", broken, when, "_refused")
                put(region, m, "completed", done, _at(dt.date(2026, 8, 12)), "_corrected")
            else:
                put(region, m, "completed", done, when)
            put(region, m, "waiting", waiting, when)
            if cell == resent:  # an accepted month resent with one more waiting patient
                extra = [*waiting, {**waiting[0], "VardkontaktId": f"{month}-w-extra"}]
                put(region, m, "waiting", extra, _at(due + dt.timedelta(days=1), 15), "_supplement")
    manifest.sort(key=lambda x: (x["received"], x["file"]))
    with (out / "manifest.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, ["file", "received", "sender"])
        w.writeheader()
        w.writerows(manifest)

    def ym(c: tuple[str, int]) -> dict[str, str]:
        return {"region": c[0], "month": f"{year}-{c[1]:02d}"}

    key = {
        "seed": seed, "year": year, "months": months, "scale": scale, "as_of": AS_OF.isoformat(),
        "after": AFTER.isoformat(),
        # as of 31 July: every other cell of January-June is delivered, July onwards not yet due
        "states_as_of": [{**ym(c), "completed": "missing", "waiting": "missing"} for c in [*missing, late_supplement]]
        + [{**ym(invalid), "completed": "invalid", "waiting": "delivered"},
           {**ym(late), "completed": "late", "waiting": "late"},
           {**ym(resent), "completed": "delivered", "waiting": "delivered", "superseded": 1}],
        "notices_as_of": sorted([{**ym(c), "files": ["completed", "waiting"]} for c in [*missing, late_supplement]]
                                + [{**ym(invalid), "files": ["completed"]}], key=lambda x: (x["region"], x["month"])),
        "answered_after": sorted([{**ym(c), "files": ["completed", "waiting"]} for c in [late_supplement]]
                                 + [{**ym(invalid), "files": ["completed"]}], key=lambda x: (x["region"], x["month"])),
        "never_delivered": [ym(c) for c in missing],
        # money: held as of the July basis (a month lacking a file is not reported), decided once supplemented
        "held_then_decided": sorted([ym(c) for c in [late_supplement, invalid]],
                                    key=lambda x: (x["region"], x["month"])),
    }
    (out / "answer_key.json").write_text(json.dumps(key, ensure_ascii=False, indent=2), encoding="utf-8")
    return key


def read_manifest(path: Path) -> list[dict[str, str]]:
    """manifest.csv: each file (relative to the manifest) with its received time and sender, in order."""
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
