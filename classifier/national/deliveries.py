"""A region's month delivery, read and checked: completed, waiting (as `bup-classifier month` writes them) or counts.

The columns are the month layer's own (classifier.month.outputs.DELIVERY_MAP, the one place the
delivery meets SKR's information model) and the aggregated counts of the monthly report
(classifier.reporting.records.CountsRecord). Every problem names the file, the row (a CSV file's
line, a JSON array's index) and the column; a value holding an identity number is never repeated.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import yaml

from classifier.month.outputs import DELIVERY_MAP, FAS, avvikelse
from classifier.privacy import MESSAGE as IDENTITY_MESSAGE
from classifier.privacy import identity_number_paths, looks_like_identity_number, maybe_holds_identity_number, redact
from classifier.reporting.money import region_codes
from classifier.reporting.records import MODELS, Collector, Source, month_end, validate
from classifier.resources import data_dir

KINDS = ("completed", "waiting", "counts")
COUNTS_COLUMNS = tuple(MODELS["counts"].model_fields)
COLUMNS: dict[str, tuple[str, ...]] = {"completed": tuple(DELIVERY_MAP["completed"]),
                                       "waiting": tuple(DELIVERY_MAP["waiting"]), "counts": COUNTS_COLUMNS}
AREA_OF_FAS = {v: k for k, v in FAS.items()}
EXCLUSION_OF_AVVIKELSE = {v: k for k, v in avvikelse().items()}  # national code -> the wait exclusion
MAX_PROBLEMS = 200
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_PATH = re.compile(r"\[0\]\.?([^.\[]*)")  # a one-row walk's path: the row's column
_WHOLE = re.compile(r"-?[0-9]{1,9}")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CHECKED: dict[str, Any] = {}  # in place of a record already checked (never changed)


def regions() -> dict[str, str]:
    """The 21 regions (rules/regions.yaml): name -> county code."""
    return region_codes()


@functools.cache
def settings() -> dict[str, Any]:
    """rules/national.yaml: the due day, the notices' period, the bases, block one."""
    return yaml.safe_load((data_dir("rules") / "national.yaml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Problem:
    """One reason a delivery is refused: where (file, row, column) and what was expected."""

    file: str
    row: int | None  # a CSV file's line (the header is line 1) or a JSON array's index; None: the whole file
    column: str
    message: str
    line: bool = True  # row is a CSV line (False: a JSON array's index)
    message_sv: str = ""  # the same in Swedish (rules/national.yaml `problems`), quoted in the notices

    @property
    def at(self) -> str:
        """`completed.csv:5` (a line) or `completed.json[3]` (an index), or the file."""
        if self.row is None:
            return self.file
        return f"{self.file}:{self.row}" if self.line else f"{self.file}[{self.row}]"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "column": self.column, "message": self.message,
                "message_sv": self.message_sv, "at": self.at, "row_is": "line" if self.line else "index"}

    def __str__(self) -> str:
        return f"{self.at}: {self.column}: {self.message}" if self.column else f"{self.at}: {self.message}"


@functools.cache
def _problem_words() -> dict[str, dict[str, str]]:
    return settings()["problems"]  # type: ignore[no-any-return]


def say(code: str, **values: Any) -> tuple[str, str]:
    """One check's message in English and Swedish (rules/national.yaml `problems`), its values filled in."""
    words = _problem_words()[code]
    return words["en"].format(**values), words["sv"].format(**values)


def problem(file: str, row: int | None, column: str, code: str, line: bool = True, /, **values: Any) -> Problem:
    """A Problem whose message (English) and message_sv (Swedish) are the table's `code`; positional only, so that a
    message may fill in a `{column}` (or a `{file}`, a `{row}`) of its own."""
    en, sv = say(code, **values)
    return Problem(file, row, column, en, line, sv)


class CheckError(ValueError):
    """A value that cannot be read, with its message in both languages."""

    def __init__(self, code: str, **values: Any):
        self.en, self.sv = say(code, **values)
        super().__init__(self.en)


class DeliveryError(ValueError):
    """A delivery refused by its checks; `problems` lists every reason (HTTP 422, CLI exit 2)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems[:20]) + (
            f"; and {len(problems) - 20} more" if len(problems) > 20 else ""))


@dataclass
class Delivery:
    """A checked file: its rows by (region, month), normalised to the store's columns."""

    filename: str
    kind: str
    format: str
    sha256: str
    parts: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    region: str | None = None  # the declared region, or the one region every row names
    month: str | None = None

    @property
    def rows(self) -> int:
        return sum(len(v) for v in self.parts.values())


def _csv_rows(filename: str, reader: Any) -> Any:
    """The reader's rows; a file the csv module cannot read (a cell over its size limit, a stray quote
    at the end) is refused with the line it stopped at, never passed on as an internal error."""
    try:
        yield from reader
    except csv.Error as exc:
        raise DeliveryError([problem(filename, reader.line_num, "", "not_csv", why=str(exc))]) from None


def _records(filename: str, data: bytes) -> tuple[str, list[int], list[dict[str, Any]], list[str] | None]:
    """(format, row numbers, records, CSV header) of a CSV file or a JSON array (or JSON lines)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # not Windows-1252, whatever its bytes say
        raise DeliveryError([problem(filename, None, "", "utf16")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # the line and the byte, and what to save as (Windows-1252 is refused)
        raise DeliveryError([problem(filename, None, "", "not_utf8", byte=f"0x{data[exc.start]:02X}",
                                     at_line=data[:exc.start].count(b"\n") + 1)]) from None
    if filename.lower().endswith(".csv") or text.lstrip()[:1] not in ("[", "{"):
        first = text.split("\n", 1)[0]
        # a Swedish spreadsheet saves CSV with semicolons: a header with ';' and no ',' is read that way
        reader = csv.reader(io.StringIO(text, newline=""),  # a bare CR ends a line, as spreadsheets write it
                            delimiter=";" if ";" in first and "," not in first else ",")
        header: list[str] | None = None
        rows, lines = [], []
        # one string per distinct cell: a region, a unit, a month, a date, a code repeat down the file (a third
        # of the memory a row took, and the distinct values are what the identity check tests)
        same: dict[str, str] = {}
        one = same.setdefault
        for row in _csv_rows(filename, reader):
            if header is None:
                header = [h.strip() for h in row]
                # a header cell left empty (Excel writes `a;b;;` when cells beside the table were touched) names
                # a column that must stay empty; it is no column of the delivery
                unnamed = [i for i, h in enumerate(header) if not h]
                twice = sorted({h for h in header if h and header.count(h) > 1 and not looks_like_identity_number(h)})
                if twice:
                    raise DeliveryError([problem(filename, 1, h, "column_twice") for h in twice])
                continue
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise DeliveryError([problem(filename, reader.line_num, "", "cells_count",
                                             cells=len(row), header=len(header))])
            filled = [i + 1 for i in unnamed if row[i].strip()]
            if filled:
                raise DeliveryError([problem(filename, reader.line_num, "", "unnamed_column_value", cell=filled[0])])
            rows.append({h: one(c, c) for h, c in zip(header, row, strict=True) if h})
            lines.append(reader.line_num)
        if header is None:
            raise DeliveryError([problem(filename, None, "", "empty_file")])
        return "csv", lines, rows, [h for h in header if h]
    try:
        value = json.loads(text)
        records = value if isinstance(value, list) else [value]
    except json.JSONDecodeError:
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise DeliveryError([problem(filename, None, "", "not_json", why=exc.msg)]) from None
    bad = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        raise DeliveryError([problem(filename, i, "", "not_object", False) for i in bad[:20]])
    return "json", list(range(len(records))), records, None


def _kind_of(filename: str, columns: set[str], declared: str | None) -> str:
    """Declared, else the one kind the file's name mentions, else the kind whose columns the file has."""
    if declared:
        return declared
    named = [k for k in KINDS if k in Path(filename).stem.lower()]
    if len(named) == 1:
        return named[0]
    exact = [k for k in KINDS if columns == set(COLUMNS[k])]
    return exact[0] if exact else max(KINDS, key=lambda k: len(columns & set(COLUMNS[k])))


def _text(v: Any) -> str | None:
    if type(v) is str:  # every CSV cell: the common case first
        return v.strip() or None
    if v is None:
        return None
    s = str(v).strip() if not isinstance(v, bool) else str(v).lower()
    return s or None


def _int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and _WHOLE.fullmatch(v.strip()):
        return int(v.strip())
    raise CheckError("not_whole_number", value=repr(v))


def _code(problem_code: str, codes: str) -> Any:
    """A code column's converter: a whole number, else the problem that lists the codes."""
    def conv(v: Any) -> int:
        try:
            return _int(v)
        except CheckError:
            raise CheckError(problem_code, value=repr(v), codes=codes) from None
    return conv


@functools.lru_cache(maxsize=8192)  # a year's deliveries hold a few hundred distinct days
def _date(v: str) -> tuple[date, str]:
    """The day, and its ISO text: the value itself, one string for every row of that day."""
    if not _ISO_DAY.fullmatch(v):
        raise CheckError("not_date", value=repr(v))
    try:
        return date.fromisoformat(v), v
    except ValueError:
        raise CheckError("not_real_date", value=repr(v)) from None


class _Row:
    """The checks of one row; each problem names its column."""

    def __init__(self, out: list[Problem], filename: str, row: int, rec: dict[str, Any], line: bool):
        self.out, self.file, self.row, self.rec, self.line = out, filename, row, rec, line
        self.ok = True

    def bad(self, column: str, code: str, /, **values: Any) -> None:
        self.ok = False
        self.out.append(problem(self.file, self.row, column, code, self.line, **values))

    def get(self, column: str, conv: Any = None, required: bool = True) -> Any:
        v = _text(self.rec.get(column))
        if v is None:
            if required:
                self.bad(column, "missing_value")
            return None
        if conv is None:
            return v
        try:
            return conv(v)
        except CheckError as exc:
            self.ok = False
            self.out.append(Problem(self.file, self.row, column, exc.en, self.line, exc.sv))
            return None


def _check_place(r: _Row, region_col: str, month_col: str, region: str | None,
                 month: str | None) -> tuple[str | None, str | None]:
    reg, mon = r.get(region_col), r.get(month_col)
    if reg is not None and reg not in regions():
        r.bad(region_col, "unknown_region_row", value=repr(reg))
    elif reg is not None and region is not None and reg != region:
        r.bad(region_col, "other_region", value=repr(reg), region=repr(region))
    if mon is not None and not _MONTH.fullmatch(mon):
        r.bad(month_col, "not_month", value=repr(mon))
    elif mon is not None and month is not None and mon != month:
        r.bad(month_col, "other_month", value=repr(mon), month=month)
    return reg, mon


@functools.lru_cache(maxsize=1024)
def _bounds(month: str) -> tuple[date, date]:
    return date.fromisoformat(month + "-01"), month_end(month)


def _check_wait(r: _Row, kind: str, fas: int | None, mon: str | None) -> dict[str, Any]:
    """The dates and the wait of a completed or waiting row, against its month and each other."""
    ank, ank_iso = r.get("AnkomstDatum", _date, required=False) or (None, None)
    bes, bes_iso = r.get("BeslutAktivitet", _date, required=False) or (None, None)
    start, start_iso = (r.get("StartAktivitet", _date, required=kind == "completed") if kind == "completed"
                        else None) or (None, None)
    days = r.get("Vantetid", _int, required=False)
    out = {"ankomst": ank_iso, "beslut": bes_iso, "start": start_iso, "vantetid": days}
    if fas is None or mon is None or not _MONTH.fullmatch(mon) or not r.ok:
        return out
    first, last = _bounds(mon)
    wait_col = "AnkomstDatum" if fas == FAS["first_visit"] else "BeslutAktivitet"
    wait_start = ank if fas == FAS["first_visit"] else bes
    if fas == FAS["first_visit"] and bes is not None:
        r.bad("BeslutAktivitet", "first_visit_from_ankomst")
    if kind == "waiting" and fas != FAS["first_visit"] and ank is not None:
        r.bad("AnkomstDatum", "decision_from_beslut")
    if kind == "completed":
        if start is not None and not first <= start <= last:
            r.bad("StartAktivitet", "start_outside_month", start=start, month=mon, first=first, last=last)
        end = start
    else:
        end = last
        if wait_start is None:
            r.bad(wait_col, "wait_start_missing")
    for col, d in (("AnkomstDatum", ank), ("BeslutAktivitet", bes)):
        if d is not None and end is not None and d > end:
            r.bad(col, "after_start" if kind == "completed" else "after_month_end", date=d, end=end)
    if not r.ok or end is None:
        return out
    if days is not None and days < 0:
        r.bad("Vantetid", "wait_negative", days=days)
    elif wait_start is not None and days is None:
        r.bad("Vantetid", "wait_missing", expected=(end - wait_start).days, end=end, start=wait_start)
    elif wait_start is not None and days != (end - wait_start).days:
        r.bad("Vantetid", "wait_mismatch", days=days, expected=(end - wait_start).days, end=end, start=wait_start)
    elif wait_start is None and days is not None:
        r.bad("Vantetid", "wait_without_start", days=days, column=wait_col)
    return out


@dataclass(frozen=True)
class _Codes:
    """The code lists a refusal names, made once per file: the exclusions' codes come from the held rule set valid
    today, and looking that up hashes every rule file (it was 1 ms a row)."""

    fas: str
    avvikelse: str
    fas_conv: Any
    avvikelse_conv: Any

    @classmethod
    def today(cls) -> _Codes:
        fas_codes = ", ".join(f"{v} ({k})" for k, v in FAS.items())
        avv_codes = ", ".join(f"{v} ({k})" for k, v in avvikelse().items())
        return cls(fas_codes, avv_codes, _code("bad_fas", fas_codes), _code("bad_avvikelse", avv_codes))


def _check_row(kind: str, r: _Row, region: str | None, month: str | None,
               codes: _Codes) -> tuple[str | None, str | None, dict[str, Any]]:
    if kind == "counts":
        return (*_check_place(r, "region", "month", region, month), {})
    reg, mon = _check_place(r, "Region", "Rapportmanad", region, month)
    rec: dict[str, Any] = {"id": r.get("VardkontaktId"), "unit": r.get("Enhet")}
    # a code written as a word ('PVV', as the extract writes the exclusion) is told the codes, not "a whole number"
    fas = r.get("Fas", codes.fas_conv)
    if fas is not None and fas not in AREA_OF_FAS:
        r.bad("Fas", "bad_fas", value=fas, codes=codes.fas)
        fas = None
    avv = r.get("Avvikelse", codes.avvikelse_conv, required=False)
    if avv is not None and avv not in EXCLUSION_OF_AVVIKELSE:
        r.bad("Avvikelse", "bad_avvikelse", value=avv, codes=codes.avvikelse)
    rec.update({"fas": fas, "avvikelse": avv, **_check_wait(r, kind, fas, mon)})
    return reg, mon, rec


def read_delivery(filename: str, data: bytes, *, kind: str | None = None, region: str | None = None,
                  month: str | None = None) -> Delivery:
    """Read and check one delivery file; `problems` lists every reason it is refused (empty: accepted).

    `region` and `month`, when the sender declares them, must be those of every row; otherwise each
    (region, month) the rows name becomes a delivery of its own (the month layer writes one file
    for all its months).
    """
    name = redact(Path(filename).name) or "delivery"  # a file named by an identity number is not echoed
    declared = {"region": region, "month": month, "kind": kind}
    hidden = [k for k, v in declared.items() if v is not None and looks_like_identity_number(v)]
    region, month, kind = (None if k in hidden else v for k, v in declared.items())  # never stored nor echoed
    named = [k for k in KINDS if k in Path(name).stem.lower()]  # a file refused unread still shows as its kind
    delivery = Delivery(name, kind if kind in KINDS else named[0] if len(named) == 1 else "completed",
                        "csv" if name.lower().endswith(".csv") else "json",
                        hashlib.sha256(data).hexdigest(), region=region, month=month)
    if hidden:
        delivery.problems = [problem(name, None, k, "identity_number", message=IDENTITY_MESSAGE) for k in hidden]
        return delivery
    try:
        _read(delivery, data, kind)
    except DeliveryError as exc:
        delivery.problems = exc.problems
    return delivery


def _read(delivery: Delivery, data: bytes, kind: str | None) -> None:
    name, region, month = delivery.filename, delivery.region, delivery.month
    problems: list[Problem] = []
    if region is not None and region not in regions():
        problems.append(problem(name, None, "region", "unknown_region", value=repr(region)))
    if month is not None and not _MONTH.fullmatch(month):
        problems.append(problem(name, None, "month", "not_month", value=repr(month)))
    if kind is not None and kind not in KINDS:
        problems.append(problem(name, None, "kind", "bad_kind", kinds=", ".join(KINDS), value=repr(kind)))
    if problems:
        raise DeliveryError(problems)
    fmt, numbers, records, header = _records(name, data)
    delivery.format = fmt
    seen: set[str] = set(header or ())
    for rec in records:
        seen.update(rec)
    for col in sorted(seen):  # a header or key that is an identity number: named by position, never echoed
        if looks_like_identity_number(col):
            problems.append(problem(name, 1 if header else None, "<redacted>", "identity_number",
                                    message=IDENTITY_MESSAGE))
    delivery.kind = _kind_of(name, seen, kind)
    _attribute(delivery, records)
    expected = COLUMNS[delivery.kind]
    missing = [c for c in expected if c not in seen and (delivery.kind != "counts" or c in ("region", "area",
                                                                                          "month"))]
    unknown = sorted(c for c in seen - set(expected) if not looks_like_identity_number(c))
    for c in missing:
        problems.append(problem(name, 1 if header else None, c, "missing_column", kind=delivery.kind,
                                columns=", ".join(expected)))
    for c in unknown:
        problems.append(problem(name, 1 if header else None, c, "unknown_column", kind=delivery.kind,
                                columns=", ".join(expected)))
    if problems:
        raise DeliveryError(problems)
    problems += _identity_problems(name, fmt, numbers, records, data)  # before any other check
    if problems:
        raise DeliveryError(problems)
    parts: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    first_row: dict[tuple[Any, Any], dict[str, int]] = defaultdict(dict)  # (region, month) -> id -> its row
    codes = _Codes.today()
    counts = delivery.kind == "counts"  # its records are validated again as a whole below
    for i, (n, rec) in enumerate(zip(numbers, records, strict=True)):
        r = _Row(problems, name, n, rec, fmt == "csv")
        reg, mon, out = _check_row(delivery.kind, r, region, month, codes)
        if not counts:
            records[i] = _CHECKED  # its checked row replaces it: the file is not held twice
            if out.get("id") is not None:  # one record per contact and month (a patient waits month after month)
                ids = first_row[(reg, mon)]
                if out["id"] in ids:
                    r.bad("VardkontaktId", "id_twice", value=repr(out["id"]), other_row=ids[out["id"]])
                else:
                    ids[out["id"]] = n
        if len(problems) >= MAX_PROBLEMS:
            break
        if r.ok and reg is not None and mon is not None:
            parts[(reg, mon)].append(out if not counts else rec)
    if delivery.kind == "counts" and not problems:
        found = Collector()
        src = Source(name, records, numbers if fmt == "csv" else None)
        checked = list(validate("counts", src, found))
        problems += [problem(name, p.where if isinstance(p.where, int) else None, p.field, "counts_check",
                             fmt == "csv", message=p.message, message_sv=p.sv) for p in found.problems]
        parts = defaultdict(list)
        cells: dict[tuple[Any, ...], int] = {}
        for where, c in checked:
            cell = (c.region, c.unit or c.region, c.area, c.month)
            if cell in cells:
                problems.append(problem(name, where, "area", "cell_twice", fmt == "csv", other_row=cells[cell],
                                        cell=f"{c.region}, {c.unit or 'hela regionen'}, {c.area}, {c.month}"))
            cells[cell] = where
            parts[(c.region, c.month)].append(c.model_dump())
    if not problems and not parts:
        if region is None or month is None:
            problems.append(problem(name, None, "", "no_records"))
        else:
            parts[(region, month)] = []
    delivery.parts = dict(parts)
    if problems:
        raise DeliveryError(problems)


def _identity_problems(name: str, fmt: str, numbers: list[int], records: list[dict[str, Any]],
                       data: bytes) -> list[Problem]:
    """A problem for every value that holds an identity number (no value is echoed), in the privacy module's order.

    A file whose bytes cannot hold one is passed unread. Otherwise each row is sieved first: its keys are the
    file's columns (already checked), a text is tested once per distinct value (a unit, a date, a region repeat
    down the file) and a whole number of at most nine digits cannot hold one; only a row with a hit or another
    kind of value (a decimal, a list, an object) is walked by the privacy module itself.
    """
    if not maybe_holds_identity_number(data):
        return []
    out: list[Problem] = []
    tested: dict[str, bool] = {}
    for i, rec in enumerate(records):
        for v in rec.values():
            if v is None or (type(v) is int and -10**9 < v < 10**9):
                continue
            if type(v) is not str:
                break
            hit = tested.get(v)
            if hit is None:
                hit = tested[v] = looks_like_identity_number(v)
            if hit:
                break
        else:
            continue
        for path in identity_number_paths([rec]):
            at = _PATH.match(path)
            if at:
                out.append(problem(name, numbers[i], at.group(1), "identity_number", fmt == "csv",
                                   message=IDENTITY_MESSAGE))
    return out


def _attribute(delivery: Delivery, records: list[dict[str, Any]]) -> None:
    """The region and month a file is for, when not declared: the one every row names (a valid region only),
    so that a refused file still shows against its region and month."""
    reg_col, mon_col = ("region", "month") if delivery.kind == "counts" else ("Region", "Rapportmanad")
    if delivery.region is None:
        names = {_text(r.get(reg_col)) for r in records}
        if len(names) == 1 and (only := names.pop()) in regions():
            delivery.region = only
    if delivery.month is None:
        months = {_text(r.get(mon_col)) for r in records}
        if len(months) == 1 and _MONTH.fullmatch(only_m := months.pop() or ""):
            delivery.month = only_m


def content_hash(rows: list[dict[str, Any]]) -> str:
    """The hash of one (region, month) part, as stored: the same rows always give the same hash."""
    return hashlib.sha256(orjson.dumps(rows, option=orjson.OPT_SORT_KEYS)).hexdigest()
