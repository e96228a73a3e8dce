"""A whole monthly report: figures per unit, region and nation, and the money; written out.

`monthly_report` is the one entry point: `bup-classifier report`, `POST /v1/reports/monthly`
and the month layer all call it, with files (records.Source) or in-memory records.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifier.reporting.csvsafe import write_csv
from classifier.reporting.figures import AREAS, NATION, Table, table_from
from classifier.reporting.money import load_agreement, money
from classifier.reporting.records import Source, as_source, population_from, read_source, shares_from, wait_rules

if TYPE_CHECKING:
    from rich.text import Text

Records = Source | Iterable[Source] | Iterable[Mapping[str, Any]]


def read_shares(path: str | Path) -> dict[str, Decimal]:
    """Each region's share of the national pots: CSV or JSON lines with `region` and `share` (0–1)."""
    return shares_from(read_source(path))


def _sources(kind: str, records: Records) -> list[Source]:
    if isinstance(records, Source):
        return [records]
    items = list(records)
    if items and all(isinstance(r, Source) for r in items):
        return items  # type: ignore[return-value]
    return [as_source(kind, items)]  # type: ignore[arg-type]


def monthly_report(year: int, *, shares: Source | Mapping[str, Any], completed: Records = (), waiting: Records = (),
                   counts: Records = (), final: bool = False, publish: bool = False,
                   agreement: dict[str, Any] | None = None,
                   population: Source | Mapping[str, int] | None = None) -> dict[str, Any]:
    """Validate the records, count them and apply the agreement; ReportInputError lists every bad record.

    completed, waiting, counts: a Source (a file read with read_source), several, or the
    records themselves (dicts, as CSV, JSON or code give them). shares: a Source or
    {region: share}. final: the year's reporting is declared final (held money is
    settled). publish: suppress small cells (agreement.yaml `publication`). population:
    each region's population aged 0–18 (block one), a Source or {region: people}.
    """
    if not isinstance(shares, Source):
        shares = Source("shares", [{"region": r, "share": v} for r, v in shares.items()])
    region_shares = shares_from(shares)
    table = table_from({"completed": _sources("completed", completed), "waiting": _sources("waiting", waiting),
                        "counts": _sources("counts", counts)})
    if population is not None and not isinstance(population, Source):  # a mapping is checked as a file is
        population = Source("population", [{"region": r, "population_0_18": n} for r, n in population.items()])
    if isinstance(population, Source):
        population = population_from(population)
    out = build(table, year, region_shares, agreement, final=final, publish=publish, population=population)
    return {**out, "rulesets": counted_with(table)}


def counted_with(table: Table) -> list[dict[str, str]]:
    """The rule sets whose wait limit and exclusion codes counted the months (each month by the set valid at
    its end, docs/rulesets.md), as a report names them."""
    used: dict[str, dict[str, str]] = {}
    for month in table.months() or [None]:
        identity = wait_rules(month).ruleset
        used.setdefault(identity["version"], identity)
    return list(used.values())


def build(table: Table, year: int, shares: Mapping[str, Decimal | Fraction], agreement: dict[str, Any] | None = None,
          *, final: bool = False, publish: bool = False, population: Mapping[str, int] | None = None
          ) -> dict[str, Any]:
    """Figures for every month of the year and the year before, at unit, region and national level; the money."""
    agr = agreement or load_agreement()
    rollup = table.rollup()
    years = (str(year), str(year - 1))
    order = {a: i for i, a in enumerate(AREAS)}
    rows: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for (r, u, a, m), c in rollup.unit.items():
        if m[:4] in years:
            rows.append(((0, r, u, order[a], m), {"level": "unit", "region": r, "unit": u, "area": a, "month": m,
                                                  **c.as_dict()}))
    for (r, a, m), c in rollup.region.items():
        if m[:4] in years:
            rows.append(((1, r, r, order[a], m), {"level": "region", "region": r, "unit": r, "area": a, "month": m,
                                                  **c.as_dict()}))
    for (a, m), c in rollup.nation.items():
        if m[:4] in years:
            rows.append(((2, NATION, NATION, order[a], m), {"level": "nation", "region": NATION, "unit": NATION,
                                                            "area": a, "month": m, **c.as_dict()}))
    rows.sort(key=lambda kv: kv[0])
    figures = [row for _key, row in rows]
    data_regions = {r for (r, _a, _m) in rollup.region}
    result = {"year": year, "final": final, "published": publish, "skipped_records": table.skipped,
              "figures": figures, "without_wait_start": table.without_wait_start,
              "regions_without_share": sorted(data_regions - set(shares)),
              "new_on_list_basis": sorted(table.new_on_list_basis),
              "money": money(agr, rollup, year, shares, final=final, population=population)}
    result["not_reported"] = result["money"]["not_reported"]
    if publish:
        suppress_report(result, int(agr["publication"]["suppress_below"]))
    return result


# -- publication: small cells ------------------------------------------------------------------

# (total, part, share): a total under the limit hides its group; a part or its rest under it hides part and share.
GROUPS = (("denominator", "numerator", "share_within_30"), ("waiting", "waiting_le30", "waiting_share_le30"))


def small_cell(v: Any, below: int) -> bool:
    """A count that publication hides: more than none and fewer than `below` (agreement.yaml `publication`)."""
    return isinstance(v, int) and 0 < v < below


def hidden_fields(row: Mapping[str, Any], below: int) -> set[str]:
    """The fields of one figure row to suppress (agreement.yaml `publication`)."""
    hidden: set[str] = set()
    for total, part, share_field in GROUPS:
        if small_cell(row[total], below):
            hidden |= {total, part, share_field}
        elif small_cell(row[part], below) or small_cell(row[total] - row[part], below):
            hidden |= {part, share_field}
    if small_cell(row["completed_all"], below) or small_cell(row["completed_all"] - row["denominator"], below):
        hidden.add("completed_all")
    if small_cell(row["new_on_list"], below):
        hidden.add("new_on_list")
    return hidden


def _blank(row: dict[str, Any], hidden: set[str]) -> None:
    for f in hidden:
        row[f] = None
    row["suppressed"] = sorted(hidden)


def suppress_report(report: dict[str, Any], below: int) -> None:
    """Suppress in place every cell under `below` contacts and every share or sum derived from one."""
    region_hidden: dict[tuple[str, str, str], set[str]] = {}
    for row in report["figures"]:
        hidden = hidden_fields(row, below)
        if row["level"] == "region":
            region_hidden[(row["region"], row["area"], row["month"])] = hidden
        _blank(row, hidden)
    for r in report["money"]["regions"]:
        for m in r["months"]:
            hidden = region_hidden.get((r["region"], m["area"], m["month"]), set())
            last = region_hidden.get((r["region"], m["area"], f"{int(m['month'][:4]) - 1}{m['month'][4:]}"), set())
            out: set[str] = set()
            if "share_within_30" in hidden:
                out |= {"share_within_30", "numerator", "denominator", "change_pp", "next_tier",
                        "patients_to_75_percent"}
            if "share_within_30" in last:
                out |= {"last_year_share_within_30", "change_pp", "next_tier"}
            if "waiting_share_le30" in hidden:
                out |= {"waiting_share_le30", "waiting", "waiting_le30"}
            if out:  # the reasons quote the counts
                out.add("why_not_met")
            _blank(m, out)
        for q in r["queue"]:
            out = set()
            if small_cell(q["new_on_list"], below) or small_cell(q["completed"], below):
                out = {"new_on_list", "completed", "difference", "completed_per_new_pct", "why_not_met"}
            if small_cell(q["direct_starts"], below):
                out.add("direct_starts")
            _blank(q, out)
    cells: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for w in report["without_wait_start"]:
        cells[(w["region"], w["unit"], w["area"], w["month"])] += 1
    report["without_wait_start"] = [
        {"region": r, "unit": u, "area": a, "month": m, "count": None if small_cell(n, below) else n,
         "suppressed": ["count"] if small_cell(n, below) else []}
        for (r, u, a, m), n in sorted(cells.items())]


def write(report: dict[str, Any], out: str | Path) -> list[Path]:
    """report.json, figures.csv, money.csv, payouts.csv and one chart per area (PNG and SVG) into `out`.

    Every CSV cell goes through csvsafe (no spreadsheet formula from a region or unit name).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.json"]
    written[0].write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    figures = [{**f, "suppressed": ";".join(f.get("suppressed", []))} for f in report["figures"]]
    written.append(write_csv(out / "figures.csv", figures, list(figures[0]) if figures else ["level"]))
    rows = money_rows(report["money"]["regions"])
    written.append(write_csv(out / "money.csv", rows, list(rows[0]) if rows else ["region"]))
    pay = payout_rows(report["money"])
    written.append(write_csv(out / "payouts.csv", pay, list(pay[0]) if pay else ["payout"]))
    written += charts(report, out)
    return written


def payout_rows(money_part: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per payout and region, and one for all regions."""
    return [{"payout": p["payout"], "region": r["region"], **{k: r[k] for k in (
                "paid_msek", "held_msek", "to_bonus_msek", "bonus_msek", "total_msek")},
             "bonus_provisional": p["bonus_provisional"]}
            for p in money_part["payouts"] for r in [*p["regions"], {"region": "alla", **p}]]


def money_rows(regions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per region, area and month (and queue period): the sum, the rule, the tier, the figures."""
    rows = []
    for r in regions:
        for m in r["months"]:
            nxt = m["next_tier"] or {}
            rows.append({"region": r["region"], "area": m["area"], "period": m["month"], "payout": m["payout"],
                         "status": m["status"], "rule": m["rule"] or "", "tier": m["tier"],
                         "share_within_30": m["share_within_30"], "last_year": m["last_year_share_within_30"],
                         "change_pp": m["change_pp"], "waiting_share_le30": m["waiting_share_le30"],
                         "pot_msek": m["pot_msek"], "pays": m["pays_fraction"], "paid_msek": m["paid_msek"],
                         "to_bonus_msek": m["to_bonus_msek"], "held_msek": m["held_msek"],
                         "patients_to_next_tier": nxt.get("patients_more_within_30_days"),
                         "patients_to_next_tier_strict": nxt.get("patients_more_strict"),
                         "status_sv": m["status_words"]["sv"], "why_not_met_sv": " ".join(
                             w["sv"] for w in m["why_not_met"] or []),
                         "suppressed": ";".join(m.get("suppressed", []))})
        for q in r["queue"]:
            rows.append({"region": r["region"], "area": "queue", "period": q["period"], "payout": q["payout"],
                         "status": q["status"], "rule": "queue_target", "tier": q["tier"],
                         "share_within_30": q["completed_per_new_pct"], "last_year": None,
                         "change_pp": q["difference"], "waiting_share_le30": None, "pot_msek": q["pot_msek"],
                         "pays": q["pays_fraction"], "paid_msek": q["paid_msek"], "to_bonus_msek": q["to_bonus_msek"],
                         "held_msek": q["held_msek"], "patients_to_next_tier": None,
                         "patients_to_next_tier_strict": None, "status_sv": q["status_words"]["sv"],
                         "why_not_met_sv": " ".join(w["sv"] for w in q["why_not_met"] or []),
                         "suppressed": ";".join(q.get("suppressed", []))})
    return rows


def charts(report: dict[str, Any], out: Path) -> list[Path]:
    """Per area: each region's share within 30 days per month, last year's month dashed, the 75 % line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    year = report["year"]
    labels = {a: v["label_sv"] for a, v in load_agreement()["areas"].items()}
    written = []
    for area in AREAS:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        regions = sorted({f["region"] for f in report["figures"] if f["level"] == "region"})
        for i, region in enumerate(regions):
            colour = f"C{i}"
            for y, style in ((year, "-"), (year - 1, "--")):
                pts = sorted((int(f["month"][5:]), f["share_within_30"]) for f in report["figures"]
                             if f["level"] == "region" and f["region"] == region and f["area"] == area
                             and f["month"].startswith(str(y)) and f["share_within_30"] is not None)
                if pts:
                    ax.plot(*zip(*pts, strict=True), style, color=colour, marker="o" if y == year else None,
                            label=f"{region} {y}")
        ax.axhline(75, color="black", linewidth=1, label="75 %")
        ax.set(title=f"{labels[area]}: andel genomförda inom 30 dagar {year} (streckat: {year - 1})",
               xlabel="månad", ylabel="%", ylim=(0, 100), xticks=range(1, 13))
        ax.legend(fontsize="small", ncol=2)
        for ext in ("png", "svg"):
            path = out / f"chart_{area}.{ext}"
            fig.savefig(path, dpi=100)
            written.append(path)
        plt.close(fig)
    return written


SHORT = {"alternative_one": "alt. 1", "alternative_two": "alt. 2", "queue_target": "kömål"}


def _cell(v: Any, suppressed: bool = False) -> Text:
    """A table cell as plain Text: a region or unit name is never read as rich markup."""
    from rich.text import Text

    if suppressed:
        return Text("<5")
    return Text("" if v is None else f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v))


def print_tables(report: dict[str, Any]) -> None:
    """The money per region as rich tables in a terminal (plain text when piped); names are not markup."""
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    console = Console(width=None if Console().is_terminal else 160)
    money_part = report["money"]
    for r in money_part["regions"]:
        title = Text(f"{r['region']} {report['year']}: andel {r['share']:.4f}, utbetalt {r['paid_msek']:.3f} mnkr, "
                     f"innehållet {r['held_msek']:.3f} mnkr, bonus {r['bonus_msek']:.3f} mnkr")
        t = RichTable(title=title)
        cols = {"område": "area", "period": "period", "utbet.": "payout", "andel %": "share_within_30",
                "fg år %": "last_year", "förändr.": "change_pp", "väntande ≤30 %": "waiting_share_le30",
                "regel": "rule", "andel av pott": "pays", "pott mnkr": "pot_msek", "utfall mnkr": "paid_msek",
                "innehållet mnkr": "held_msek", "fler inom 30 d (SKR)": "patients_to_next_tier",
                "fler inom 30 d (strikt)": "patients_to_next_tier_strict"}
        for col in cols:
            t.add_column(col, justify="left" if col in ("område", "period", "utbet.", "regel") else "right")
        for row in money_rows([r]):
            hidden = set(row["suppressed"].split(";")) - {""}
            row = {**row, "rule": SHORT.get(row["rule"], "ej rapp." if row["status"] == "not_reported" else "–"),
                   "pays": None if row["pays"] is None else f"{row['pays']:.0%}"}
            t.add_row(*(_cell(row[k], k in hidden or (k == "last_year" and "last_year_share_within_30" in hidden))
                        for k in cols.values()))
        console.print(t)
    for name, pot in money_part["bonus_pots"].items():
        console.print(Text(f"{pot['label_sv']} ({name}) {report['year']}: {pot['pot_msek']:.3f} mnkr"
                           + (" (preliminär: rapporteringen är inte slutlig)" if pot["provisional"] else "")
                           + (" (OFULLSTÄNDIG: ingen regions andel av den är dess pengar)" if pot["partial"] else "")))
    if money_part["coverage"]["partial"]:
        console.print(Text("Bonuspotterna är ofullständiga: " + money_part["coverage"]["sv"]))
    b1 = money_part["block_one"]
    if b1["regions"]:
        console.print(Text(f"{b1['label_sv']}: " + ", ".join(f"{r['region']} {r['total_msek']:.3f} mnkr"
                                                               for r in b1["regions"])
                           + (f" ({b1['note_sv']})" if b1.get("note_sv") else "")))
    else:
        console.print(Text(f"{b1['label_sv']}: {b1['note_sv']}"))
    for p in money_part["payouts"]:
        console.print(Text(f"Utbetalning {p['payout']}: utbetalt {p['paid_msek']:.3f} mnkr, "
                           f"bonus {p['bonus_msek']:.3f} mnkr"
                           + (" (ofullständig, inte i summan)" if p["bonus_partial"] else "")
                           + f", innehållet {p['held_msek']:.3f} mnkr"))
    if report["not_reported"]:
        console.print(Text(f"Ej rapporterade månader ({len(report['not_reported'])}): " + ", ".join(
            f"{n['region']} {n['area']} {n['month']}" for n in report["not_reported"])))
    if report["without_wait_start"]:
        console.print(Text(f"Mätpunkter utan väntetidsstart: {len(report['without_wait_start'])} (se report.json)"))
