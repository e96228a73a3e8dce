"""A whole monthly report: figures per unit, region and nation, and the money; written out.

`build` is what `bup-classifier report` and `POST /v1/reports/monthly` both return.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from classifier.reporting.figures import AREAS, NATION, Table, read_records
from classifier.reporting.money import load_agreement, money


def read_shares(path: str | Path) -> dict[str, Decimal]:
    """Each region's share of the national pots: CSV or JSON lines with `region` and `share` (0–1)."""
    return {str(r["region"]): Decimal(str(r["share"])) for r in read_records(path)}


def build(table: Table, year: int, shares: dict[str, Decimal], agreement: dict[str, Any] | None = None) -> dict:
    """Figures for every month present, at unit, region and national level, and the year's money."""
    agr = agreement or load_agreement()
    figures = []
    months = [m for m in table.months() if m[:4] in (str(year), str(year - 1))]
    levels: list[tuple[str, str | None, str | None]] = [("unit", r, u) for r, u in table.units()]
    levels += [("region", r, None) for r in table.regions()] + [("nation", None, None)]
    for level, region, unit in levels:
        for area in AREAS:
            for month in months:
                counts = table.rollup(region, unit, area, month)
                if counts.denominator or counts.waiting or counts.completed_all:
                    figures.append({"level": level, "region": region or NATION, "unit": unit or region or NATION,
                                    "area": area, "month": month, **counts.as_dict()})
    return {"year": year, "skipped_records": table.skipped, "figures": figures,
            "money": money(agr, table, year, shares)}


def write(report: dict[str, Any], out: str | Path) -> list[Path]:
    """report.json, figures.csv, money.csv and one chart per area (PNG and SVG) into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.json", out / "figures.csv", out / "money.csv"]
    written[0].write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    with written[1].open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(report["figures"][0]) if report["figures"] else ["level"])
        w.writeheader()
        w.writerows(report["figures"])
    rows = money_rows(report["money"]["regions"])
    with written[2].open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["region"])
        w.writeheader()
        w.writerows(rows)
    written += charts(report, out)
    return written


def money_rows(regions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per region, area and month (and queue period): the sum, the rule, the tier, the figures."""
    rows = []
    for r in regions:
        for m in r["months"]:
            nxt = m["next_tier"] or {}
            rows.append({"region": r["region"], "area": m["area"], "period": m["month"], "rule": m["rule"] or "",
                         "tier": m["tier"], "share_within_30": m["share_within_30"],
                         "last_year": m["last_year_share_within_30"], "change_pp": m["change_pp"],
                         "waiting_share_le30": m["waiting_share_le30"], "pot_msek": m["pot_msek"],
                         "pays": m["pays_fraction"], "paid_msek": m["paid_msek"],
                         "patients_to_next_tier": nxt.get("patients_more_within_30_days"),
                         "patients_to_next_tier_strict": nxt.get("patients_more_strict")})
        for q in r["queue"]:
            rows.append({"region": r["region"], "area": "queue", "period": q["period"], "rule": "queue_target",
                         "tier": q["tier"], "share_within_30": q["completed_per_new_pct"], "last_year": None,
                         "change_pp": q["difference"], "waiting_share_le30": None, "pot_msek": q["pot_msek"],
                         "pays": q["pays_fraction"], "paid_msek": q["paid_msek"], "patients_to_next_tier": None,
                         "patients_to_next_tier_strict": None})
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


def _cell(v: Any) -> str:
    return "" if v is None else f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def print_tables(report: dict[str, Any]) -> None:
    """The money per region as rich tables in a terminal (plain text when piped)."""
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console(width=None if Console().is_terminal else 140)
    for r in report["money"]["regions"]:
        t = RichTable(title=f"{r['region']} {report['year']}: andel {r['share']:.4f}, utbetalt {r['paid_msek']:.3f} "
                            f"mnkr, bonus {r['bonus_msek']:.3f} mnkr")
        for col in ("område", "period", "andel %", "fg år %", "förändr.", "väntande ≤30 %", "regel", "andel av pott",
                    "pott mnkr", "utfall mnkr", "fler inom 30 d (SKR)", "fler inom 30 d (strikt)"):
            t.add_column(col, justify="left" if col in ("område", "period", "regel") else "right")
        for row in money_rows([r]):
            t.add_row(*(_cell(v) for v in (
                row["area"], row["period"], row["share_within_30"], row["last_year"], row["change_pp"],
                row["waiting_share_le30"], SHORT.get(row["rule"], "–"), f"{row['pays']:.0%}", row["pot_msek"],
                row["paid_msek"], row["patients_to_next_tier"], row["patients_to_next_tier_strict"])))
        console.print(t)
    console.print(f"Bonuspott {report['year']}: {report['money']['bonus_pot_msek']:.3f} mnkr")
