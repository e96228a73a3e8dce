"""Completeness: region × month × (completed, waiting) → delivered, late, missing, invalid, not yet due.

docs/national.md §2 [interpretation]: a cell is delivered when an accepted delivery (its own kind, or the
month's aggregated counts, which cover both) was stored by the due day, late when the first was
stored after it, missing when nothing is stored by the due day, invalid when only refused files
are stored (each reason kept). Every accepted delivery after the first is a supplement, and each
one it replaced is superseded. Only what was stored by the as-of date counts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from classifier.national.deliveries import regions, settings
from classifier.national.store import Store

SLOTS = ("completed", "waiting")
STATES = ("delivered", "late", "missing", "invalid", "not_due")
STATE_SV = {"delivered": "levererad", "late": "försenad", "missing": "saknas", "invalid": "ogiltig",
            "not_due": "ej förfallen"}
# A cell's versions in Swedish: a later accepted delivery supplements ("kompletterad") and supersedes the earlier.
VERSION_SV = {"supplemented": "kompletterad", "superseded": "ersatt"}


def _zone() -> ZoneInfo:
    return ZoneInfo(settings()["due_day"]["time_zone"])


def today(now: dt.datetime | None = None) -> dt.date:
    """Today in Swedish time, the default as-of day and cut-off. The machine's own date is UTC on a server:
    from 23:00 (22:00 in summer) it was a day behind, and a delivery received in that hour counted as not yet
    received (`boundary` ends a day in Swedish time)."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(_zone()).date()


def boundary(day: dt.date) -> str:
    """The stored time just after `day` ends in Swedish time: what was stored before it counts as of `day`."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), _zone()).astimezone(dt.UTC)
    return end.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def local_day(received_at: str) -> dt.date:
    """The Swedish calendar day a stored time falls on."""
    return dt.datetime.fromisoformat(received_at.replace("Z", "+00:00")).astimezone(_zone()).date()


def due_date(month: str) -> dt.date:
    """The due day of a month's delivery (rules/national.yaml `due_day`)."""
    y, m = int(month[:4]), int(month[5:])
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return dt.date(y, m, int(settings()["due_day"]["day_of_next_month"]))


def current(deliveries: list[dict[str, Any]], region: str, month: str, slot: str) -> list[dict[str, Any]]:
    """The accepted versions that fill one cell, oldest first (the last is the one in force)."""
    return [d for d in deliveries if d["region"] == region and d["month"] == month and d["kind"] in (slot, "counts")]


def _cell(versions: list[dict[str, Any]], refused: list[dict[str, Any]], due: dt.date,
          as_of: dt.date) -> dict[str, Any]:
    if versions:
        first = local_day(versions[0]["received_at"])
        state = "late" if first > due else "delivered"
    else:
        state = "invalid" if refused else "missing" if as_of > due else "not_due"
    return {"state": state,
            "current": versions[-1]["delivery_id"] if versions else None,
            "received_at": versions[-1]["received_at"] if versions else None,
            "supplemented": len(versions) > 1,
            "superseded": [v["delivery_id"] for v in versions[:-1]],
            "refused": [{"file_id": f["file_id"], "filename": f["filename"], "received_at": f["received_at"],
                         "problems": f["problems"][:20], "more_problems": max(len(f["problems"]) - 20, 0)}
                        for f in refused]}


def completeness(store: Store, year: int, as_of: dt.date) -> dict[str, Any]:
    """The year's matrix as of a date, with the 21 regions' names and codes (rules/regions.yaml)."""
    until = boundary(as_of)
    deliveries = store.deliveries(until)
    refused = [f for f in store.files(until) if f["status"] == "refused"]
    out_regions = []
    totals = dict.fromkeys(STATES, 0)
    for region, code in regions().items():
        months = []
        for m in range(1, 13):
            month = f"{year}-{m:02d}"
            due = due_date(month)
            row: dict[str, Any] = {"month": month, "due": due.isoformat()}
            for slot in SLOTS:
                bad = [f for f in refused if f["region"] == region and f["month"] == month
                       and f["kind"] in (slot, "counts")]
                row[slot] = _cell(current(deliveries, region, month, slot), bad, due, as_of)
                totals[row[slot]["state"]] += 1
            months.append(row)
        out_regions.append({"region": region, "code": code, "months": months})
    unplaced = [{"file_id": f["file_id"], "filename": f["filename"], "received_at": f["received_at"],
                 "region": f["region"], "month": f["month"], "problems": f["problems"][:20]}
                for f in refused if f["region"] not in regions() or f["month"] is None]
    return {"year": year, "as_of": as_of.isoformat(), "due_day": settings()["due_day"], "totals": totals,
            "words_sv": {**STATE_SV, **VERSION_SV},
            "regions": out_regions, "refused_without_region_or_month": unplaced,
            "store": store.version(until)}


def status_text(status: dict[str, Any]) -> str:
    """The matrix for a terminal: one line per region, one column per month (C/W: completed/waiting)."""
    mark = {"delivered": "✓", "late": "S", "missing": "–", "invalid": "!", "not_due": "·"}
    head = "Region".ljust(28) + " ".join(f"{m:02d} " for m in range(1, 13))
    lines = [f"Leveranser {status['year']} per {status['as_of']} (✓ levererad, S försenad, – saknas, ! ogiltig, "
             "· ej förfallen; första tecknet genomförda, andra väntande; + kompletterad)", head]
    for r in status["regions"]:
        cells = []
        for m in r["months"]:
            c, w = m["completed"], m["waiting"]
            plus = "+" if c["supplemented"] or w["supplemented"] else ""
            cells.append((mark[c["state"]] + mark[w["state"]] + plus).ljust(3))
        lines.append(r["region"][:27].ljust(28) + " ".join(cells))
    t = status["totals"]
    lines.append(", ".join(f"{STATE_SV[k]}: {t[k]}" for k in STATES))
    return "\n".join(lines)
