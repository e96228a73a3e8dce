"""The assessment and the money as of a cut-off date, from the stored deliveries themselves.

Only what was stored by the cut-off counts (docs/national.md §4); for each region, month and file the
version in force is the latest accepted one. The rows are counted with the reporting layer's own
counting (figures.Table.count_completed / count_waiting, with the limit and exclusion table of the
rule set valid at each month's end) and the money is the reporting layer's (money.money over all 21
regions, in whole öre, block one included): this module adds no rule.
The same store and cut-off give the same bytes (`dumps`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson

from classifier.national.deliveries import AREA_OF_FAS, EXCLUSION_OF_AVVIKELSE, regions, settings
from classifier.national.status import boundary, current
from classifier.national.store import Store
from classifier.reporting.figures import AGGREGATED_PROXY, AREAS, NATION, Table
from classifier.reporting.money import load_agreement, money
from classifier.reporting.records import (
    Collector,
    Problem,
    ReportInputError,
    Source,
    validate,
    wait_rules,
)
from classifier.reporting.report import counted_with

COMPLETED_FIELDS = ("numerator", "denominator", "completed_all")
WAITING_FIELDS = ("waiting", "waiting_le30", "new_on_list")


def _add_counts(table: Table, region: str, rec: dict[str, Any], names: tuple[str, ...], month: str) -> None:
    c = table.cell(region, rec.get("unit") or region, rec["area"], month)
    for n in names:
        if rec.get(n) is not None:
            setattr(c, n, getattr(c, n) + rec[n])
    if "waiting" in names and rec.get("waiting") is not None:
        c.waiting_given = True  # a counts row with `waiting`: 0 means nobody waiting (definitions.md §7)
    if "new_on_list" in names and rec.get("new_on_list") is not None:
        table.new_on_list_basis.add(AGGREGATED_PROXY)
    if rec["area"] == "first_visit" and "completed_all" in names:  # once per row (it beside the completed)
        # direct starts: added where the row gives them (last year's baseline counts may), else unknown, never 0
        if rec.get("direct_starts") is None:
            c.direct_starts_unknown = True
        else:
            c.direct_starts += rec["direct_starts"]
    if rec["area"] == "first_visit":  # a queue figure the row leaves out is unknown, not 0
        table.note_queue_counts((region, rec.get("unit") or region, rec["area"], month),
                                "new_on_list" not in names or rec.get("new_on_list") is not None,
                                "completed_all" not in names or rec.get("completed_all") is not None)


def table_as_of(store: Store, years: tuple[int, ...], until: str) -> tuple[Table, list[dict[str, Any]],
                                                                         list[dict[str, Any]]]:
    """The counts of every region and month of `years` from the deliveries in force; which those are; and the
    months with one file only.

    [interpretation] docs/national.md §4: a region's month is delivered when both files (or its counts) are in;
    a month with one of them is not counted at all (its money is held as not reported, never decided on
    half the data) and is listed with the file it lacks.
    """
    deliveries = store.deliveries(until)
    table = Table()
    chosen: dict[int, tuple[dict[str, Any], set[str]]] = {}
    used, partial = [], []
    for region in regions():
        for year in years:
            for m in range(1, 13):
                month = f"{year}-{m:02d}"
                found = {slot: current(deliveries, region, month, slot) for slot in ("completed", "waiting")}
                if not all(found.values()):
                    if any(found.values()):
                        partial.append({"region": region, "month": month,
                                        "lacks": [slot for slot, v in found.items() if not v]})
                    continue
                waiting_file = found["waiting"][-1]["kind"] == "waiting"
                for area in AREAS:  # both files are in: every area is reported, with nothing in it if no row names it
                    # a waiting file lists everyone waiting: an area with no row in it has nobody waiting
                    table.cell(region, region, area, month).waiting_given |= waiting_file
                # no delivered column carries the direct starts (rules/national.yaml `unknown`): null, never 0
                table.cell(region, region, "first_visit", month).direct_starts_unknown = True
                for slot, versions in found.items():
                    d = versions[-1]
                    chosen.setdefault(d["delivery_id"], (d, set()))[1].add(slot)
                    used.append({"region": region, "month": month, "file": slot, "delivery_id": d["delivery_id"],
                                 "kind": d["kind"], "sha256": d["sha256"], "received_at": d["received_at"],
                                 "supplemented": len(versions) > 1})
    by_id = {i: d for i, (d, _s) in chosen.items()}
    for kind in ("completed", "waiting", "counts"):
        ids = sorted(i for i, (d, _s) in chosen.items() if d["kind"] == kind)
        for row in store.rows(kind, ids):
            d = by_id[row["delivery_id"]]
            if kind == "counts":
                slots = chosen[row["delivery_id"]][1]
                for slot, names in (("completed", COMPLETED_FIELDS), ("waiting", WAITING_FIELDS)):
                    if slot in slots:
                        _add_counts(table, d["region"], row, names, d["month"])
                continue
            area, days = AREA_OF_FAS[row["fas"]], row["vantetid"]
            exclusion = EXCLUSION_OF_AVVIKELSE.get(row["avvikelse"])
            if kind == "completed":
                rules = wait_rules(d["month"])  # the rule set valid at the month's end (docs/rulesets.md)
                known = days is not None
                table.count_completed(d["region"], row["unit"], area, d["month"],
                                      rules.in_numerator(exclusion, days) if known else None,
                                      rules.in_denominator(exclusion, days) if known else None,
                                      {"delivery_id": d["delivery_id"], "id": row["id"]})
            else:
                # new on the first-visit list = waiting at month end and received in the month (definitions.md §7)
                received_in_month = (row["ankomst"] or "")[:7] == d["month"]
                table.count_waiting(d["region"], row["unit"], area, d["month"], exclusion, days, received_in_month)
    return table, used, partial


def add_baseline(table: Table, baseline: list[Source], year: int) -> list[dict[str, str]]:
    """Last year's counts (reported to SKR, input as counts) for the region-months the store does not hold."""
    found = Collector()
    have = {(r, m) for (r, _u, _a, m) in table.cells}
    added = set()
    for src in baseline:
        for where, rec in validate("counts", src, found):
            if rec.month[:4] != str(year - 1):
                found.add(Problem(src.name, where, "month", f"{rec.month}: the baseline is the year {year - 1}",
                                  is_line=src.lines is not None))
            elif rec.region not in regions():
                found.add(Problem(src.name, where, "region", f"{rec.region!r} is not one of the 21 regions",
                                  is_line=src.lines is not None))
            elif (rec.region, rec.month) not in have:
                _add_counts(table, rec.region, rec.model_dump(), COMPLETED_FIELDS + WAITING_FIELDS, rec.month)
                added.add((rec.region, rec.month))
    found.raise_if_any()
    return [{"region": r, "month": m} for r, m in sorted(added)]


def population_of(population: Source) -> tuple[dict[str, int], list[str]]:
    """The population aged 0–18 of all 21 regions, each with its source (official statistics), for block one.

    The input is checked here (every region once, a whole number above 0, a source); the money is
    money.block_one's, with the agreement's amounts (rules/agreement.yaml `block_one`).
    """
    found = Collector()
    pop: dict[str, int] = {}
    sources = set()
    line = population.lines is not None
    for where, rec in population.numbered():
        name, value, src = rec.get("region"), str(rec.get("population", "")).strip(), str(rec.get("source") or "")
        if name not in regions():
            found.add(Problem(population.name, where, "region", f"{name!r} is not one of the 21 regions", is_line=line))
        elif name in pop:
            found.add(Problem(population.name, where, "region", f"{name!r} is given twice", is_line=line))
        elif not value.isdigit() or int(value) <= 0:
            found.add(Problem(population.name, where, "population", "expected the population aged 0–18, a whole "
                              "number above 0", is_line=line))
        elif not src.strip():
            found.add(Problem(population.name, where, "source", "expected the figure's source (official statistics)",
                              is_line=line))
        else:
            pop[name] = int(value)
            sources.add(src.strip())
    for name in regions():
        if name not in pop and not found.problems:
            found.add(Problem(population.name, "regions", "region", f"{name!r} is missing: block one needs all 21"))
    found.raise_if_any()
    return pop, sorted(sources)


def unknown_figures(table: Table) -> dict[str, Any]:
    """Which figures are unknown (null) and why, in English and Swedish (rules/national.yaml `unknown`)."""
    words = settings()["unknown"]["direct_starts"]
    where = sorted({(r, m) for (r, _u, a, m), c in table.cells.items() if c.direct_starts_unknown})
    return {"direct_starts": {"en": words["en"], "sv": words["sv"],
                              "region_months": [{"region": r, "month": m} for r, m in where]}} if where else {}


def _figures(table: Table, years: tuple[int, ...]) -> list[dict[str, Any]]:
    rollup = table.rollup()
    order = {a: i for i, a in enumerate(AREAS)}
    rows = [{"region": r, "area": a, "month": m, **c.as_dict()} for (r, a, m), c in rollup.region.items()
            if int(m[:4]) in years]
    rows += [{"region": NATION, "area": a, "month": m, **c.as_dict()} for (a, m), c in rollup.nation.items()
             if int(m[:4]) in years]
    return sorted(rows, key=lambda x: (x["region"] == NATION, x["region"], x["month"], order[x["area"]]))


def assess(store: Store, year: int, cutoff: dt.date, shares: dict[str, Decimal], *,
           baseline: Sequence[Source] = (), population: Source | None = None,
           final: bool = False) -> dict[str, Any]:
    """The assessment as of `cutoff`: figures per region, area and month (and Riket), the money over all 21 regions."""
    unknown = sorted(set(shares) - set(regions()))
    if unknown:
        raise ReportInputError([Problem("shares", "region", "region", f"{r!r} is not one of the 21 regions")
                                for r in unknown])
    until = boundary(cutoff)
    table, used, partial = table_as_of(store, (year - 1, year), until)
    from_baseline = add_baseline(table, list(baseline), year)
    people, sources = population_of(population) if population is not None else (None, [])
    agr = load_agreement()
    result = money(agr, table.rollup(), year, shares, final=final, regions=list(regions()), population=people)
    block = {**result.pop("block_one"), "population_sources": sources, "source": agr["block_one"]["source"]}
    return {
        "year": year, "cutoff": cutoff.isoformat(), "final": final,
        "store": {"backend": store.backend, **store.version(until)},
        "rulesets": counted_with(table), "agreement_sha256": agr["sha256"],
        "deliveries_used": used, "months_with_one_file": partial, "baseline_from_input": from_baseline,
        "figures": _figures(table, (year - 1, year)),
        "without_wait_start": len(table.without_wait_start),
        "unknown": unknown_figures(table),
        "new_on_list_basis": sorted(table.new_on_list_basis),
        "shares_sum": float(sum((Fraction(v) for v in shares.values()), Fraction(0))),
        "regions_without_share": sorted(set(regions()) - set(shares)),
        "money": result, "block_one": block,
        "area_labels_sv": {a: v["label_sv"] for a, v in agr["areas"].items()},  # the page's words (agreement.yaml)
        "conservation": result.pop("conservation"),
    }


def dumps(assessment: dict[str, Any]) -> bytes:
    """The assessment as canonical JSON: the same store and cut-off give the same bytes."""
    return orjson.dumps(assessment, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def read_shares_file(path: str | Path) -> dict[str, Decimal]:
    from classifier.reporting.report import read_shares

    return read_shares(path)

