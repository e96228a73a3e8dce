"""Records of the months -> the registration audit (docs/month.md §3) and the monthly report's figures and money.

The figures and the money are the existing report's (classifier.reporting): the month
layer builds its input records in memory and calls it twice, once with the contact types
as the rules say and once as registered, so the two can only differ by the registrations.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from classifier.month.fold import BucketResult, MatrixCell
from classifier.reporting import figures, report
from classifier.reporting.money import load_agreement
from classifier.reporting.records import Collector

PUBLISH_MIN = 5  # docs/definitions.md §7: published figures suppress cells with fewer than 5 contacts
COUNT_KEYS = ("numerator", "denominator", "completed_all", "waiting", "waiting_le30", "new_on_list")
DEFAULT_REGION_SHARE = Decimal(1) / 21  # 21 regions; used only when no shares file is given (said in audit.json)


def tables(res: BucketResult, extra: list[dict[str, Any]] | None = None) -> tuple[figures.Table, figures.Table]:
    """The report's Table as the rules say and as registered, each with the extra aggregated counts added.

    The month's contacts were counted while folded (figures.Table.count_completed /
    count_waiting, the reporting layer's own counting); extra counts go through the
    reporting layer's record models, and parts are checked within wholes after summing.
    """
    out = []
    for counted in (res.rules, res.registered):
        table = figures.Table()
        table.merge(counted)
        if extra:  # as figures.table_from does: every bad record listed, then parts within wholes summed
            found = Collector()
            figures.add_counts(table, extra, found)
            if not found.problems:
                figures.check_cells(table, found)
            found.raise_if_any()
        out.append(table)
    return out[0], out[1]


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


def _matrix(cells: list[tuple[str, str, MatrixCell]], publish: bool) -> list[dict[str, Any]]:
    """One unit's disagreements as (registered, rules) cells, most frequent first."""
    out = []
    for registered, rules, c in sorted(cells, key=lambda x: (-x[2].count, x[0], x[1])):
        small = publish and c.count < PUBLISH_MIN
        out.append({"registered": registered, "rules": rules, "count": None if small else c.count,
                    "rules_fired": dict(sorted(c.rules_fired.items(), key=lambda kv: (-kv[1], kv[0]))),
                    "contact_ids": [] if small else sorted(c.contact_ids)})
    return out


def _finding_order(f: dict[str, Any]) -> tuple[str, str, str, str, list[str], str]:
    """Findings in one order whatever the buckets' (their number and the pool's order vary)."""
    return (f["month"] or "", f["region"] or "", f["unit"] or "", f["kind"], f["event_ids"], f["detail"])


def build(res: BucketResult, months: list[str], ruleset: Any, shares: dict[str, Decimal] | None = None,
          extra: list[dict[str, Any]] | None = None, publish: bool = False) -> dict[str, Any]:
    """audit.json: per unit and region, figures as registered and as the rules say, matrices, money, findings."""
    agr = load_agreement()
    rules_t, reg_t = tables(res, extra)
    year = int(months[-1][:4])
    regions = sorted(set(rules_t.regions()) | {region for region, _unit in res.compared})
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

    by_unit: dict[tuple[str, str], list[tuple[str, str, MatrixCell]]] = defaultdict(list)
    for (region, unit, registered, rules), cell in res.matrix.items():
        by_unit[(region, unit)].append((registered, rules, cell))
    findings_by_unit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in res.findings:
        if f["unit"] is not None:  # duplicate ids are found before rows are read: listed for the extract
            findings_by_unit[(f["region"], f["unit"])].append(f)
    units = sorted({(k[0], k[1]) for k in rules_t.cells} | set(res.compared) | set(findings_by_unit))
    unit_sections = []
    for region, unit in units:
        compared, agree = res.compared[(region, unit)], res.agree[(region, unit)]
        unit_sections.append({
            "region": region, "unit": unit,
            "registrations": {"compared": compared, "agree": agree, "disagree": compared - agree},
            "figures": figure_rows(region, unit),
            "matrix": _matrix(by_unit.get((region, unit), []), publish),
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
                   "measurement_points": res.measurement_points, "registered_compared": sum(res.compared.values()),
                   "disagreements": sum(res.compared.values()) - sum(res.agree.values()),
                   "waiting_at_month_end": res.waiting_at_month_end, "rejected_rows": len(res.rejected)},
        "regions": [{"region": region, "figures": figure_rows(region, None),
                     "money": [m for m in money_rows if m["region"] == region]} for region in regions],
        "units": unit_sections,
        "finding_counts": dict(sorted(kinds.items())),
        "findings": sorted(res.findings, key=_finding_order) + [
            {"kind": "rejected_row", "region": None, "unit": None, "month": None,
             "event_ids": [r.event_id] if r.event_id else [], "file": r.file, "row": r.row,
             "detail": "; ".join(f"{c}: {m}" for c, m in r.problems)}
            for r in sorted(res.rejected, key=lambda r: (r.file, r.row))],
        "money_note": share_note,
        "report": rules_report,
    }
