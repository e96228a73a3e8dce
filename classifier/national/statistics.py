"""The table SKR's public wait-time statistics show for BUP, from the deliveries themselves (docs/national.md §7).

Per region (and Riket) and month, for completed and for waiting, per measurement point (first
visit, investigation, treatment): the share within the limit, the total, the total excluding PVV,
within the limit, PVV from the day it leaves the denominator, and the response rate. As of a date:
for each region, month and file the delivery in force is the latest accepted one stored by then
(status.current), as for the assessment. It is a published table: every cell under the publication
limit is suppressed with the reporting layer's own rule (report.hidden_fields, agreement.yaml
`publication`). The counting is the rule set's (records.wait_rules(month).in_numerator /
in_denominator, the one home of that rule); the headings and the reading of "units" are
rules/national.yaml `statistics`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from classifier.national.deliveries import AREA_OF_FAS, EXCLUSION_OF_AVVIKELSE, regions, settings
from classifier.national.status import SLOTS, boundary, current
from classifier.national.store import Store
from classifier.reporting.figures import AREAS, NATION, share
from classifier.reporting.money import load_agreement
from classifier.reporting.records import wait_rules
from classifier.reporting.report import hidden_fields, small_cell

PVV = "PVV"  # the exclusion code whose count the public table shows (rules/tables/exclusions.yaml)
COLUMNS = ("region", "month", "slot", "area", "share_within_limit", "total", "excluding_pvv", "within_limit",
           "pvv_long", "response_rate")
COUNTS = ("total", "excluding_pvv", "within_limit", "pvv_long")
FORMATS = ("json", "csv", "xlsx")


@dataclass
class _Cell:
    """One region, month, file and measurement point, before suppression."""

    total: int = 0
    denominator: int | None = 0  # None once aggregated counts without it are in it: unknown, never 0
    within_limit: int | None = 0  # likewise (a counts row with `waiting` but no `waiting_le30`)
    excluding_pvv: int | None = 0  # None once aggregated counts (which carry no PVV split) are in it
    pvv_long: int | None = 0

    def add(self, other: _Cell) -> None:
        self.total += other.total
        self.denominator = None if None in (self.denominator, other.denominator) else (
            self.denominator + other.denominator)  # type: ignore[operator]
        self.within_limit = None if None in (self.within_limit, other.within_limit) else (
            self.within_limit + other.within_limit)  # type: ignore[operator]
        self.excluding_pvv = None if None in (self.excluding_pvv, other.excluding_pvv) else (
            self.excluding_pvv + other.excluding_pvv)  # type: ignore[operator]
        self.pvv_long = None if None in (self.pvv_long, other.pvv_long) else (
            self.pvv_long + other.pvv_long)  # type: ignore[operator]


@dataclass
class _Month:
    """What one region's month holds: each file's cells, and the units each file names."""

    cells: dict[tuple[str, str], _Cell] = field(default_factory=lambda: defaultdict(_Cell))
    delivered: set[str] = field(default_factory=set)  # the files (completed, waiting) in force
    units: set[str] = field(default_factory=set)


def headings() -> dict[str, str]:
    """The Swedish column headings, their limits filled in from the rule set valid today."""
    rules = wait_rules()
    words = settings()["statistics"]["columns"]
    return {k: words[k].format(limit=rules.limit_days, pvv_days=rules.exclusions[PVV][1]) for k in COLUMNS}


def _months(year: int, as_of: dt.date) -> list[str]:
    """The year's months that have begun by the as-of date."""
    return [f"{year}-{m:02d}" for m in range(1, 13) if dt.date(year, m, 1) <= as_of]


def _count(kind: str, row: dict[str, Any], month: str, into: _Month) -> None:
    """One stored row into its month's cells (counts: both files' fields; else one measurement point or wait)."""
    if kind == "counts":
        for slot, (total, den, num) in (("completed", ("completed_all", "denominator", "numerator")),
                                        ("waiting", ("waiting", "waiting", "waiting_le30"))):
            if slot in into.delivered and row.get(total) is not None:
                into.cells[(slot, row["area"])].add(_Cell(row[total], row[den], row[num], None, None))
        return
    rules = wait_rules(month)  # the rule set valid at the month's end (docs/rulesets.md)
    exclusion, days = EXCLUSION_OF_AVVIKELSE.get(row["avvikelse"]), row["vantetid"]
    known = days is not None
    pvv = exclusion == PVV
    into.cells[(kind, AREA_OF_FAS[row["fas"]])].add(_Cell(
        1, int(known and rules.in_denominator(exclusion, days)), int(known and rules.in_numerator(exclusion, days)),
        int(not pvv), int(pvv and known and days >= rules.exclusions[PVV][1])))


def _read(store: Store, year: int, as_of: dt.date) -> dict[tuple[str, str], _Month]:
    """Every region's month of the year from the deliveries in force as of the date."""
    deliveries = store.deliveries(boundary(as_of))
    found: dict[tuple[str, str], _Month] = defaultdict(_Month)
    chosen: dict[int, tuple[str, str]] = {}
    for region in regions():
        for month in _months(year, as_of):
            for slot in SLOTS:
                versions = current(deliveries, region, month, slot)
                if versions:
                    found[(region, month)].delivered.add(slot)
                    chosen[versions[-1]["delivery_id"]] = (region, month)
    kinds = {d["delivery_id"]: d["kind"] for d in deliveries}
    for kind in ("completed", "waiting", "counts"):
        for row in store.rows(kind, sorted(i for i in chosen if kinds[i] == kind)):
            region, month = chosen[row["delivery_id"]]
            m = found[(region, month)]
            m.units.add(row.get("unit") or region)
            _count(kind, row, month, m)
    return found


def _row(region: str, month: str, slot: str, area: str, c: _Cell | None, reported: int | None,
         known: int, below: int) -> dict[str, Any]:
    """One published row: the counts (None: not delivered), the share, the response rate, suppressed cells."""
    row: dict[str, Any] = {"region": region, "month": month, "slot": slot, "area": area}
    if c is None:
        row |= dict.fromkeys(("share_within_limit", *COUNTS, "denominator"))
    else:
        row |= {"total": c.total, "excluding_pvv": c.excluding_pvv, "within_limit": c.within_limit,
                "pvv_long": c.pvv_long, "denominator": c.denominator,
                "share_within_limit": None if None in (c.within_limit, c.denominator) else
                _float(share(c.within_limit, c.denominator))}  # type: ignore[arg-type]
    row["units_reported"], row["units_known"] = reported, known
    row["response_rate"] = _float(share(reported, known)) if reported is not None else None
    row["suppressed"] = sorted(_hidden(row, below)) if c is not None else []
    for k in row["suppressed"]:
        row[k] = None
    return row


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def _hidden(row: dict[str, Any], below: int) -> set[str]:
    """The cells to suppress: the monthly report's rule (report.hidden_fields) on the share's group
    (within / denominator / share, and the total), and the same under-limit test for the PVV counts
    (PVV from day N; and excluding PVV when it or the PVV it leaves out is under the limit)."""
    # an unknown count (None) hides nothing itself; it is tested as 0 so the known ones around it are still judged
    as_figure = {"denominator": row["denominator"] or 0, "numerator": row["within_limit"] or 0,
                 "share_within_30": row["share_within_limit"], "completed_all": row["total"],
                 "waiting": 0, "waiting_le30": 0, "new_on_list": 0}
    names = {"denominator": "denominator", "numerator": "within_limit", "share_within_30": "share_within_limit",
             "completed_all": "total"}
    hidden = {names[f] for f in hidden_fields(as_figure, below) if f in names}
    if row["pvv_long"] is not None and small_cell(row["pvv_long"], below):
        hidden.add("pvv_long")
    if row["excluding_pvv"] is not None and (small_cell(row["excluding_pvv"], below)
                                             or small_cell(row["total"] - row["excluding_pvv"], below)):
        hidden.add("excluding_pvv")
    return hidden


def statistics(store: Store, year: int, as_of: dt.date) -> dict[str, Any]:
    """The public table for a year as of a date: every region and Riket, each begun month, both files, every
    measurement point; published (cells under the limit suppressed)."""
    agr = load_agreement()
    below = int(agr["publication"]["suppress_below"])
    found = _read(store, year, as_of)
    months = _months(year, as_of)
    rows = []
    nation: dict[tuple[str, str, str], _Cell] = defaultdict(_Cell)
    nation_units: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for region in regions():
        known = set().union(*(found[(region, m)].units for m in months if (region, m) in found))
        for month in months:
            m = found.get((region, month)) or _Month()
            for slot in SLOTS:
                reported = len(m.units) if slot in m.delivered else 0
                nation_units[(month, slot)][0] += reported
                nation_units[(month, slot)][1] += len(known)
                for area in AREAS:
                    c = m.cells.get((slot, area)) or _Cell() if slot in m.delivered else None
                    if c is not None:
                        nation[(month, slot, area)].add(c)
                    rows.append(_row(region, month, slot, area, c, reported if known else None, len(known), below))
    for month in months:
        for slot in SLOTS:
            reported, known = nation_units[(month, slot)]
            for area in AREAS:
                rows.append(_row(NATION, month, slot, area, nation.get((month, slot, area)),
                                 reported if known else None, known, below))
    words = settings()["statistics"]
    return {"year": year, "as_of": as_of.isoformat(), "published": True,
            "suppress_below": below,
            "headings": headings(), "slots": words["slots"], "suppressed_sv": words["suppressed_sv"],
            "areas": {a: agr["areas"][a]["label_sv"] for a in AREAS},
            "units_sv": " ".join(words["units_sv"].split()), "store": store.version(boundary(as_of)),
            "rows": rows}


def _cells(stats: dict[str, Any]) -> list[list[Any]]:
    """The table's rows as the download shows them: Swedish words, "<5" where suppressed, "" where not delivered."""
    mark = settings()["statistics"]["suppressed_sv"]
    out = []
    for r in stats["rows"]:
        hidden = set(r["suppressed"])
        out.append([r["region"], r["month"], stats["slots"][r["slot"]], stats["areas"][r["area"]],
                    *(mark if k in hidden else ("" if r[k] is None else r[k]) for k in COLUMNS[4:])])
    return out


def to_csv(stats: dict[str, Any]) -> bytes:
    """UTF-8 with a BOM, semicolons and decimal commas: what Swedish Excel opens as it is."""
    from classifier.reporting.csvsafe import safe_cell

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow([stats["headings"][k] for k in COLUMNS])
    for row in _cells(stats):
        w.writerow([str(v).replace(".", ",") if isinstance(v, float) else safe_cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(stats: dict[str, Any]) -> bytes:
    """An Excel workbook (XlsxWriter): the table on its first sheet, numbers as numbers, and a sheet on how to
    read it. RuntimeError when XlsxWriter is not installed."""
    try:
        import xlsxwriter
    except ImportError:
        raise RuntimeError("XlsxWriter is not installed: pip install 'bup-classifier[national]'") from None
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False})
    sheet = book.add_worksheet(f"BUP {stats['year']}")
    bold, pct = book.add_format({"bold": True, "text_wrap": True}), book.add_format({"num_format": "0.0"})
    sheet.write_row(0, 0, [stats["headings"][k] for k in COLUMNS], bold)
    for i, row in enumerate(_cells(stats), start=1):
        for j, v in enumerate(row):
            if isinstance(v, float):
                sheet.write_number(i, j, v, pct)
            elif isinstance(v, int):
                sheet.write_number(i, j, v)
            else:
                sheet.write_string(i, j, str(v))
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, len(stats["rows"]), len(COLUMNS) - 1)
    sheet.set_column(0, 0, 26)
    sheet.set_column(1, 3, 16)
    sheet.set_column(4, len(COLUMNS) - 1, 14)
    about = book.add_worksheet("Om tabellen")
    about.set_column(0, 0, 110)
    for i, line in enumerate([
            f"Väntetider inom BUP {stats['year']}, per {stats['as_of']}: ur regionernas leveranser till "
            "Socialstyrelsen.",
            f"Celler med 1–{stats['suppress_below'] - 1} visas som {settings()['statistics']['suppressed_sv']}; "
            "tom cell: månadens fil har inte kommit in.", stats["units_sv"],
            f"Leveranslager: {stats['store']['files']} filer, sha256 {stats['store']['sha256']}."]):
        about.write_string(i, 0, line)
    book.close()
    return buf.getvalue()


def rendered(stats: dict[str, Any], fmt: str) -> bytes:
    """The table in one of FORMATS (json: canonical, sorted keys)."""
    if fmt == "csv":
        return to_csv(stats)
    if fmt == "xlsx":
        return to_xlsx(stats)
    import orjson

    return orjson.dumps(stats, option=orjson.OPT_SORT_KEYS)
