"""Records of the months -> the registration audit (MONTH.md 3) and the monthly report's figures and money.

The figures and the money are the existing report's (classifier.reporting): the month
layer builds its input records in memory and calls it twice, once with the contact types
as the rules say and once as registered, so the two can only differ by the registrations.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from classifier.month.fold import BucketResult
from classifier.reporting import figures, report
from classifier.reporting.money import load_agreement

PUBLISH_MIN = 5  # docs/definitions.md §7: published figures suppress cells with fewer than 5 contacts
COUNT_KEYS = ("numerator", "denominator", "completed_all", "waiting", "waiting_le30", "new_on_list")
DEFAULT_REGION_SHARE = Decimal(1) / 21  # 21 regions; used only when no shares file is given (said in audit.json)


_COMPLETED_KEYS = ("region", "unit", "date", "classification")
_WAITING_KEYS = ("region", "unit", "month", "area", "wait_start", "exclusion")


def _only(record: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The fields the reporting layer's record model reads (the month's records carry more)."""
    return {k: record[k] for k in keys if k in record}


def tables(res: BucketResult, extra: list[dict[str, Any]] | None = None) -> tuple[figures.Table, figures.Table]:
    """The report's Table as the rules say and as registered (waiting is the same in both).

    Built by the reporting layer itself (`figures.table_from`), so its record models check
    the month's records exactly as they check a hand-made input file.
    """
    by_rules = {r["event_id"]: r for r in res.completed}
    as_registered = []
    for r in res.registered:
        if r["registered_wait"] is not None:
            as_registered.append({**r, "classification": {"contact_type": r["registered"],
                                                          "wait": r["registered_wait"]}})
    # Contacts without a registration count as the rules say in both (the audit lists them apart).
    registered_ids = {r["event_id"] for r in res.registered}
    as_registered += [r for eid, r in by_rules.items() if eid not in registered_ids]
    waiting = [_only(w, _WAITING_KEYS) for w in res.waiting]
    counts = [extra] if extra else []
    rules, registered = (
        figures.table_from({"completed": [[_only(r, _COMPLETED_KEYS) for r in completed]],
                            "waiting": [waiting], "counts": counts})
        for completed in (res.completed, as_registered)
    )
    return rules, registered


def _pp(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 1)


def _suppress(counts: dict[str, Any]) -> dict[str, Any]:
    out = dict(counts)
    for k in COUNT_KEYS:
        if isinstance(out.get(k), int) and 0 < out[k] < PUBLISH_MIN:
            out[k] = None
    if out.get("denominator") is None:
        out["share_within_30"] = None
    if out.get("waiting") is None:
        out["waiting_share_le30"] = None
    return out


def _matrix(rows: list[dict[str, Any]], publish: bool) -> list[dict[str, Any]]:
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r["registered"] == r["rules"]:
            continue
        c = cells.setdefault((r["registered"], r["rules"]), {"registered": r["registered"], "rules": r["rules"],
                                                             "count": 0, "rules_fired": Counter(), "contact_ids": []})
        c["count"] += 1
        c["rules_fired"][r["rule"]] += 1
        c["contact_ids"].append(r["contact_id"])
    out = sorted(cells.values(), key=lambda c: -c["count"])
    for c in out:
        c["rules_fired"] = dict(c["rules_fired"].most_common())
        if publish and c["count"] < PUBLISH_MIN:
            c["count"], c["contact_ids"] = None, []
    return out


def build(res: BucketResult, months: list[str], ruleset: Any, shares: dict[str, Decimal] | None = None,
          extra: list[dict[str, Any]] | None = None, publish: bool = False) -> dict[str, Any]:
    """audit.json: per unit and region, figures as registered and as the rules say, matrices, money, findings."""
    agr = load_agreement()
    rules_t, reg_t = tables(res, extra)
    year = int(months[-1][:4])
    regions = sorted(set(rules_t.regions()) | {r["region"] for r in res.registered})
    share_note = "from the shares file"
    if not shares:
        shares, share_note = dict.fromkeys(regions, DEFAULT_REGION_SHARE), "no shares file: each region 1/21"
    rules_report = report.build(rules_t, year, shares, agr)
    reg_report = report.build(reg_t, year, shares, agr)

    rollups = {id(t): t.rollup() for t in (rules_t, reg_t)}

    def fig(t: figures.Table, region: str | None, unit: str | None, area: str, month: str) -> dict[str, Any]:
        r = rollups[id(t)]
        counts = (r.unit.get((region, unit, area, month)) if unit is not None
                  else r.region.get((region, area, month)) if region is not None
                  else r.nation.get((area, month)))
        d = (counts or figures.Counts()).as_dict()
        return _suppress(d) if publish else d

    def figure_rows(region: str | None, unit: str | None) -> list[dict[str, Any]]:
        rows = []
        for month in months:
            for area in figures.AREAS:
                a, b = fig(reg_t, region, unit, area, month), fig(rules_t, region, unit, area, month)
                rows.append({"month": month, "area": area, "as_registered": a, "as_rules": b,
                             "difference_pp": _pp(b["share_within_30"], a["share_within_30"])})
        return rows

    by_unit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in res.registered:
        by_unit[(r["region"], r["unit"])].append(r)
    findings_by_unit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in res.findings:
        if f["unit"] is not None:  # duplicate ids are found before rows are read: listed for the extract
            findings_by_unit[(f["region"], f["unit"])].append(f)
    units = sorted({(k[0], k[1]) for k in rules_t.cells} | set(by_unit) | set(findings_by_unit))
    unit_sections = []
    for region, unit in units:
        regs = by_unit.get((region, unit), [])
        agree = sum(r["registered"] == r["rules"] for r in regs)
        unit_sections.append({
            "region": region, "unit": unit,
            "registrations": {"compared": len(regs), "agree": agree, "disagree": len(regs) - agree},
            "figures": figure_rows(region, unit),
            "matrix": _matrix(regs, publish),
            "findings": findings_by_unit.get((region, unit), []),
        })
    money_rows = []
    reg_money = {(r["region"], m["month"], m["area"]): m for r in reg_report["money"]["regions"] for m in r["months"]}
    for r in rules_report["money"]["regions"]:
        for m in r["months"]:
            if m["month"] not in months:
                continue
            g = reg_money.get((r["region"], m["month"], m["area"]), {})
            money_rows.append({"region": r["region"], "month": m["month"], "area": m["area"],
                               "as_rules": {k: m[k] for k in ("status", "tier", "rule", "pays_fraction", "paid_msek",
                                                             "share_within_30", "change_pp")},
                               "as_registered": {k: g.get(k) for k in ("status", "tier", "rule", "pays_fraction",
                                                                      "paid_msek", "share_within_30", "change_pp")},
                               "paid_difference_msek": (None if g.get("paid_msek") is None or m["paid_msek"] is None
                                                        else round(m["paid_msek"] - g["paid_msek"], 6))})
    kinds = Counter(f["kind"] for f in res.findings)
    kinds["rejected_row"] = len(res.rejected)
    return {
        "months": months,
        "ruleset": ruleset.identity(),
        "published": publish,
        "totals": {"patients": res.patients, "contacts_in_months": res.contacts,
                   "measurement_points": len(res.completed), "registered_compared": len(res.registered),
                   "disagreements": sum(r["registered"] != r["rules"] for r in res.registered),
                   "waiting_at_month_end": len(res.waiting), "rejected_rows": len(res.rejected)},
        "regions": [{"region": region, "figures": figure_rows(region, None),
                     "money": [m for m in money_rows if m["region"] == region]} for region in regions],
        "units": unit_sections,
        "finding_counts": dict(sorted(kinds.items())),
        "findings": res.findings + [
            {"kind": "rejected_row", "region": None, "unit": None, "month": None,
             "event_ids": [r.event_id] if r.event_id else [], "file": r.file, "row": r.row,
             "detail": "; ".join(f"{c}: {m}" for c, m in r.problems)} for r in res.rejected],
        "money_note": share_note,
        "report": rules_report,
    }
