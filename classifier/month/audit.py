"""Records of the months -> the registration audit (docs/month.md §3) and the monthly report's figures and money.

The figures and the money are the existing report's (classifier.reporting): the month
layer builds its input records in memory and calls it twice, once with the contact types
as the rules say and once as registered, so the two can only differ by the registrations.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from classifier.month.fold import BucketResult, MatrixCell, month_bounds
from classifier.reporting import figures, report
from classifier.reporting.money import load_agreement, money, msek
from classifier.reporting.records import Collector
from classifier.rulesets import as_rulesets

DEFAULT_REGION_SHARE = Fraction(1, 21)  # 21 regions; only when no shares file is given (said in audit.json)


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
        # in one order whatever the buckets' (their number and the pool's order vary), as the findings
        table.without_wait_start.sort(key=lambda w: (w["month"], w["region"], w["unit"], w["area"],
                                                     w.get("event_id") or ""))
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


def _suppress(counts: dict[str, Any], below: int) -> dict[str, Any]:
    """Every count of the figures (direct starts too) under `below` left out, with the shares built on it."""
    out = dict(counts)
    for k in figures.COUNT_FIELDS:
        if isinstance(out.get(k), int) and 0 < out[k] < below:
            out[k] = None
    if out.get("denominator") is None:
        out["share_within_30"] = None
    if out.get("waiting") is None:
        out["waiting_share_le30"] = None
    return out


def _matrix(cells: list[tuple[str, str, MatrixCell]], below: int | None) -> list[dict[str, Any]]:
    """One unit's disagreements as (registered, rules) cells, most frequent first; published (`below` given):
    cells of fewer contacts left out."""
    out = []
    for registered, rules, c in sorted(cells, key=lambda x: (-x[2].count, x[0], x[1])):
        small = below is not None and c.count < below
        out.append({"registered": registered, "rules": rules, "count": None if small else c.count,
                    "rules_fired": dict(sorted(c.rules_fired.items(), key=lambda kv: (-kv[1], kv[0]))),
                    "contact_ids": [] if small else sorted(c.contact_ids)})
    return out


def _finding_order(f: dict[str, Any]) -> tuple[str, str, str, str, list[str], str]:
    """Findings in one order whatever the buckets' (their number and the pool's order vary)."""
    return (f["month"] or "", f["region"] or "", f["unit"] or "", f["kind"], f["event_ids"], f["detail"])


MONEY_KEYS = ("status", "status_words", "tier", "rule", "pays_fraction", "paid_msek", "paid_ore",
              "share_within_30", "change_pp", "why_not_met")


def _paid_in_months(money_part: dict[str, Any], region: str, months: list[str]) -> int:
    """A region's money paid (öre) for the run's months and the queue periods judged within them."""
    for r in money_part["regions"]:
        if r["region"] == region:
            return (sum(m["paid_ore"] for m in r["months"] if m["month"] in months)
                    + sum(q["paid_ore"] or 0 for q in r["queue"] if q["complete"] and set(q["months"]) & set(months)))
    return 0


def unit_cost(rules_t: figures.Table, reg_t: figures.Table, region: str, unit: str, year: int,
              shares: Mapping[str, Decimal | Fraction], agr: dict[str, Any], months: list[str]) -> dict[str, Any]:
    """What one unit's registrations do to its region's money: the region as the rules say, but this
    unit's cells as registered (every other unit as the rules say)."""
    mixed = figures.Table(waits_known=True)
    mixed.merge(rules_t)
    for key in [k for k in mixed.cells if k[0] == region and k[1] == unit]:
        del mixed.cells[key]
    for key, c in reg_t.cells.items():
        if key[0] == region and key[1] == unit:
            mixed.cells[key].add(c)
    base = money(agr, rules_t.rollup(), year, shares, regions=[region])
    changed = money(agr, mixed.rollup(), year, shares, regions=[region])
    rules_paid, reg_paid = _paid_in_months(base, region, months), _paid_in_months(changed, region, months)
    return {"as_rules_ore": rules_paid, "as_registered_ore": reg_paid, "effect_ore": reg_paid - rules_paid,
            "as_rules_msek": msek(rules_paid), "as_registered_msek": msek(reg_paid),
            "effect_msek": msek(reg_paid - rules_paid)}


def assumptions(share_given: bool, rules_report: dict[str, Any], money_rows: list[dict[str, Any]],
                population_given: bool, rollup: figures.Rollup) -> list[dict[str, str]]:
    """Every assumption the money on the page rests on, in Swedish and English (shown on audit.html)."""
    out = []
    if not share_given:
        out.append({"code": "no_shares_file",
                    "sv": "Ingen fil med regionernas andelar av de nationella potterna: varje region räknas med "
                          "1/21 av potterna.",
                    "en": "No shares file: each region is counted with 1/21 of the national pots."})
    not_judged = sorted({(m["region"], m["area"], m["month"]) for m in money_rows
                         if m["as_rules"]["status"] == "reported" and not rollup.of_region(
                             m["region"], m["area"], f"{int(m['month'][:4]) - 1}{m['month'][4:]}").denominator})
    if not_judged:
        out.append({"code": "no_last_year",
                    "sv": f"Inga uppgifter för samma månad föregående år ({len(not_judged)} region-, område- och "
                          "månadskombinationer): alternativ ett (förbättring mot föregående år) bedöms inte, bara "
                          "alternativ två. Lägg till fjolårets siffror (--counts) för att bedöma alternativ ett.",
                    "en": f"No figures for the same month last year ({len(not_judged)} region, area and month "
                          "combinations): alternative one is not judged, only alternative two."})
    cover = rules_report["money"]["coverage"]
    if cover["partial"]:
        out.append({"code": "partial_bonus_pots",
                    "sv": "Bonuspotterna är ofullständiga och visas inte som regionens pengar: de fördelas över alla "
                          "21 regioner, men underlaget saknar några: " + cover["sv"] + ".",
                    "en": "The bonus pots are partial and never shown as a region's money: they are shared over all "
                          "21 regions, and the input lacks some: " + cover["en"] + "."})
    basis = rules_report.get("new_on_list_basis") or []
    if figures.AGGREGATED_PROXY in basis:
        out.append({"code": "new_on_list_proxy",
                    "sv": "Nytillkomna på väntelistan från aggregerade siffror: väntande 0–30 dagar vid månadens "
                          "slut används som ersättning.",
                    "en": "New on the list from aggregated counts: waiting 0–30 days at month end is the proxy."})
    if not population_given:
        out.append({"code": "no_population",
                    "sv": "Ingen befolkningsuppgift (0–18 år): block ett (utvecklingsarbete) visas inte.",
                    "en": "No population aged 0–18: block one (development work) is not shown."})
    return out


def used_rulesets(res: BucketResult, months: list[str], held: Any) -> dict[str, Any]:
    """`ruleset`: the held set valid at the period's end; `rulesets`: every set the month used, each with the
    contacts it classified (docs/rulesets.md)."""
    sets = as_rulesets(held)
    at_end = sets.for_date(month_bounds(months[-1])[1]).ruleset
    return {"ruleset": at_end.identity(),
            "rulesets": [{**r, "contacts": res.rulesets[r["version"]]} for r in sets.identities(res.rulesets)]}


def build(res: BucketResult, months: list[str], ruleset: Any, shares: dict[str, Decimal] | None = None,
          extra: list[dict[str, Any]] | None = None, publish: bool = False,
          population: Mapping[str, int] | None = None) -> dict[str, Any]:
    """audit.json: per unit and region, figures as registered and as the rules say, matrices, money, findings."""
    agr = load_agreement()
    # published figures leave out cells under agreement.yaml's `publication` threshold (its one home)
    below = int(agr["publication"]["suppress_below"]) if publish else None
    rules_t, reg_t = tables(res, extra)
    year = int(months[-1][:4])
    regions = sorted(set(rules_t.regions()) | {region for region, _unit in res.compared})
    share_note = "from the shares file"
    share_given = bool(shares)
    region_shares: Mapping[str, Decimal | Fraction] = shares or dict.fromkeys(regions, DEFAULT_REGION_SHARE)
    if not shares:
        share_note = "no shares file: each region 1/21"
    rules_report = report.build(rules_t, year, region_shares, agr, population=population, publish=publish)
    reg_report = report.build(reg_t, year, region_shares, agr, population=population, publish=publish)

    rollups = {id(t): t.rollup() for t in (rules_t, reg_t)}

    def fig(t: figures.Table, region: str | None, unit: str | None, area: str, month: str) -> dict[str, Any]:
        r = rollups[id(t)]
        counts = (r.unit.get((region, unit, area, month)) if unit is not None
                  else r.region.get((region, area, month)) if region is not None
                  else r.nation.get((area, month)))
        d = (counts or figures.Counts()).as_dict()
        return _suppress(d, below) if below is not None else d

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
    findings = sorted(res.findings, key=_finding_order)  # every list of them in this order, not the buckets'
    findings_by_unit: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for f in findings:
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
            "matrix": _matrix(by_unit.get((region, unit), []), below),
            "cost": None,
            "findings": findings_by_unit.get((region, unit), []),
        })
    money_rows = []
    reg_money = {(r["region"], m["month"], m["area"]): m for r in reg_report["money"]["regions"] for m in r["months"]}
    for r in rules_report["money"]["regions"]:
        for m in r["months"]:
            if m["month"] not in months:
                continue
            g = reg_money.get((r["region"], m["month"], m["area"]), {})
            diff = None if g.get("paid_ore") is None else g["paid_ore"] - m["paid_ore"]
            money_rows.append({"region": r["region"], "month": m["month"], "area": m["area"],
                               "as_rules": {k: m[k] for k in MONEY_KEYS},
                               "as_registered": {k: g.get(k) for k in MONEY_KEYS},
                               # as registered − as the rules say: what the registrations that disagree do
                               "paid_difference_msek": msek(diff), "paid_difference_ore": diff})
    cost = []
    for region in regions:
        rules_paid = _paid_in_months(rules_report["money"], region, months)
        reg_paid = _paid_in_months(reg_report["money"], region, months)
        cost.append({"region": region, "unit": None, "as_rules_ore": rules_paid, "as_registered_ore": reg_paid,
                     "effect_ore": reg_paid - rules_paid, "as_rules_msek": msek(rules_paid),
                     "as_registered_msek": msek(reg_paid), "effect_msek": msek(reg_paid - rules_paid)})
    unit_costs = {(region, unit): unit_cost(rules_t, reg_t, region, unit, year, region_shares, agr, months)
                  for region, unit in units if res.compared[(region, unit)] != res.agree[(region, unit)]}
    for (region, unit), c in sorted(unit_costs.items()):
        cost.append({"region": region, "unit": unit, **c})
    for sec in unit_sections:
        sec["cost"] = unit_costs.get((sec["region"], sec["unit"]))
    region_cost = {c["region"]: c for c in cost if c["unit"] is None}
    kinds = Counter(f["kind"] for f in res.findings)
    kinds["rejected_row"] = len(res.rejected)
    return {
        "months": months,
        **used_rulesets(res, months, ruleset),
        "published": publish,
        "totals": {"patients": res.patients, "contacts_in_months": res.contacts,
                   "measurement_points": res.measurement_points, "registered_compared": sum(res.compared.values()),
                   "disagreements": sum(res.compared.values()) - sum(res.agree.values()),
                   "waiting_at_month_end": res.waiting_at_month_end, "rejected_rows": len(res.rejected)},
        "regions": [{"region": region, "figures": figure_rows(region, None),
                     "money": [m for m in money_rows if m["region"] == region],
                     "cost": region_cost[region]} for region in regions],
        "units": unit_sections,
        "finding_counts": dict(sorted(kinds.items())),
        "findings": findings + [
            {"kind": "rejected_row", "region": None, "unit": None, "month": None,
             "event_ids": [r.event_id] if r.event_id else [], "file": r.file, "row": r.row,
             "detail": "; ".join(f"{c}: {m}" for c, m, _ in r.problems),
             "detail_sv": "; ".join(f"{c}: {sv}" for c, _, sv in r.problems)}
            for r in sorted(res.rejected, key=lambda r: (r.file, r.row))],
        "money_note": share_note,
        # "what does it cost?": the money effect of the registrations that disagree, per region and unit
        "cost": cost,
        "assumptions": assumptions(share_given, rules_report, money_rows, bool(population), rules_t.rollup()),
        "bonus_pots_partial": rules_report["money"]["coverage"]["partial"],
        "missing_regions": rules_report["money"]["coverage"]["missing_regions"],
        "block_one": rules_report["money"]["block_one"],
        "report": rules_report,
    }
