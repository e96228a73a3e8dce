"""Input records -> monthly counts per unit, region and nation -> the shares SKR reports.

Three input kinds, each as JSON lines or CSV (documented in examples/reports/README.md):
- completed contacts: the classifier's answers with region, unit and date attached;
- month-end waiting lists: one row per patient waiting, with area, wait start and exclusion;
- monthly counts: already aggregated figures (last year's baseline, or SKR's own tables).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta

AREAS = ("first_visit", "investigation", "treatment")
NATION = "Riket"


class ReportInputError(ValueError):
    """A record that cannot be read; names the source (file or request field), the line and the problem."""

    def __init__(self, source: str, line: int | str, detail: str):
        self.source, self.line, self.detail = source, line, detail
        super().__init__(f"{source}:{line}: {detail}")

    @classmethod
    def at(cls, rec: dict[str, Any], detail: str) -> ReportInputError:
        return cls(str(rec.get("_file", "?")), rec.get("_line", "?"), detail)


def round_half_up(value: Decimal | float, decimals: int = 0) -> Decimal:
    """Half up, as SKR prints its figures (Python's round() rounds half to even)."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def share(numerator: int, denominator: int, decimals: int = 1) -> Decimal | None:
    """numerator / denominator in percent, rounded half up to one decimal; None without a denominator."""
    if not denominator:
        return None
    return round_half_up(Decimal(numerator) * 100 / Decimal(denominator), decimals)


@dataclass
class Counts:
    """One month, one area, one unit (or region, or nation)."""

    numerator: int = 0  # completed within 30 days, excl MOV, SOV
    denominator: int = 0  # completed, excl MOV, SOV, PVV 31+
    completed_all: int = 0  # every completed measurement point (the queue target counts these)
    waiting: int = 0  # waiting at month end
    waiting_le30: int = 0  # of whom waited at most 30 days
    new_on_list: int = 0  # first visit: put on the list during the month (waiting 0-30 days at month end)

    def add(self, other: Counts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["share_within_30"] = _num(share(self.numerator, self.denominator))
        out["waiting_share_le30"] = _num(share(self.waiting_le30, self.waiting))
        return out


def _num(d: Decimal | None) -> float | None:
    return None if d is None else float(d)


Key = tuple[str, str, str, str]  # region, unit, area, "YYYY-MM"


@dataclass
class Table:
    """Counts by (region, unit, area, month); units roll up to regions and the nation."""

    cells: dict[Key, Counts] = field(default_factory=lambda: defaultdict(Counts))
    skipped: int = 0  # records that are no measurement point, or have no wait

    def cell(self, region: str, unit: str, area: str, month: str) -> Counts:
        return self.cells[(region, unit, area, month)]

    def regions(self) -> list[str]:
        return sorted({k[0] for k in self.cells})

    def months(self) -> list[str]:
        return sorted({k[3] for k in self.cells})

    def rollup(self, region: str | None, unit: str | None, area: str, month: str) -> Counts:
        """The sum over the cells that match (None = all)."""
        total = Counts()
        for (r, u, a, m), c in self.cells.items():
            if a == area and m == month and region in (None, r) and unit in (None, u):
                total.add(c)
        return total

    def units(self) -> list[tuple[str, str]]:
        return sorted({(k[0], k[1]) for k in self.cells})


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """JSON lines (.jsonl/.json) or CSV (.csv) into dicts; line numbers kept for messages."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".csv":
        lines = [line for line in text.splitlines() if not line.startswith("#")]  # comments: sources
        rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
        return [{**row, "_line": i + 2, "_file": p.name} for i, row in enumerate(rows)]
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append({**json.loads(line), "_line": i, "_file": p.name})
            except json.JSONDecodeError as exc:
                raise ReportInputError(p.name, i, f"not JSON ({exc.msg})") from None
    return out


def _get(rec: dict[str, Any], name: str, required: bool = True) -> Any:
    value = rec.get(name)
    if value in (None, "") and required:
        raise ReportInputError.at(rec, f"missing {name!r}")
    return value


def _bool(value: Any, rec: dict[str, Any]) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    found = {"true": True, "false": False, "": None, "null": None}.get(str(value).strip().lower(), "bad")
    if found == "bad":
        raise ReportInputError.at(rec, f"{value!r} is not true, false or empty")
    return found  # type: ignore[return-value]


def _month(rec: dict[str, Any], name: str) -> str:
    value = str(_get(rec, name))
    try:
        return date.fromisoformat(value[:7] + "-01").strftime("%Y-%m")
    except ValueError:
        raise ReportInputError.at(rec, f"{name} {value!r} is not YYYY-MM(-DD)") from None


def add_completed(table: Table, records: Iterable[dict[str, Any]]) -> None:
    """Classified contacts: a `classification` object (the API answer) or flat CSV columns."""
    for rec in records:
        answer = rec.get("classification") or {}
        wait = answer.get("wait") or {} if isinstance(answer, dict) else {}
        if not isinstance(answer, dict) or not isinstance(wait, dict):
            raise ReportInputError.at(rec, "classification must be an answer object of /v1/classify")
        area = answer.get("contact_type", rec.get("contact_type"))
        num = _bool(wait.get("in_numerator", rec.get("in_numerator")), rec)
        den = _bool(wait.get("in_denominator", rec.get("in_denominator")), rec)
        if area not in AREAS:
            table.skipped += 1
            continue
        c = table.cell(str(_get(rec, "region")), str(_get(rec, "unit")), area, _month(rec, "date"))
        c.completed_all += 1
        if den is None:
            table.skipped += 1  # a measurement point without a start date: no wait to count
            continue
        c.numerator += bool(num)
        c.denominator += bool(den)


def add_waiting(table: Table, records: Iterable[dict[str, Any]], limit_days: int = 30) -> None:
    """Month-end waiting lists: region, unit, month, area, wait_start, optional exclusion.

    [interpretation] MOV and SOV waits are left out of the waiting figures, as they are
    left out of the completed ones; PVV waits count.
    """
    for rec in records:
        area = _get(rec, "area")
        if area not in AREAS:
            raise ReportInputError.at(rec, f"area {area!r}; expected one of {AREAS}")
        if str(rec.get("exclusion") or "") in ("MOV", "SOV"):
            continue
        month = _month(rec, "month")
        month_end = date.fromisoformat(month + "-01") + relativedelta(months=1, days=-1)
        try:
            start = date.fromisoformat(str(_get(rec, "wait_start")))
        except ValueError:
            raise ReportInputError.at(rec, "wait_start is not a date YYYY-MM-DD") from None
        c = table.cell(str(_get(rec, "region")), str(_get(rec, "unit")), area, month)
        c.waiting += 1
        if (month_end - start).days <= limit_days:
            c.waiting_le30 += 1
            if area == "first_visit":
                c.new_on_list += 1  # SKR: new on the list = waiting 0–30 days at month end


def add_counts(table: Table, records: Iterable[dict[str, Any]]) -> None:
    """Already aggregated monthly counts (any of the Counts columns; unit defaults to the region)."""
    names = [f.name for f in fields(Counts)]
    for rec in records:
        region = str(_get(rec, "region"))
        area = _get(rec, "area")
        if area not in AREAS:
            raise ReportInputError.at(rec, f"area {area!r}; expected one of {AREAS}")
        c = table.cell(region, str(rec.get("unit") or region), area, _month(rec, "month"))
        for n in names:
            if rec.get(n) not in (None, ""):
                if not str(rec[n]).isdigit():
                    raise ReportInputError.at(rec, f"{n} {rec[n]!r} is not a whole number >= 0")
                setattr(c, n, getattr(c, n) + int(rec[n]))


# The three kinds of input records, by the name the CLI option and the API field use.
ADDERS = {"completed": add_completed, "waiting": add_waiting, "counts": add_counts}
