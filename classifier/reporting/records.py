"""The report's input records as pydantic models: every bad value is named, never guessed.

Three kinds (examples/reports/README.md): completed contacts, month-end waiting lists and
already aggregated monthly counts. They come from CSV files (every value a string; an
empty cell is "not given"), JSON lines, a JSON request, or Python code (the month layer
passes dicts, and `date` objects where a date is meant). A problem names its source (file
name or request field), its line (files) or index (lists) and its field.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from dateutil.relativedelta import relativedelta
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from classifier import resources, ruleset
from classifier.errors import from_validation_error, swedish_message
from classifier.models import MAX_YEAR, MIN_YEAR
from classifier.privacy import looks_like_identity_number, reject_identity_number

AREAS = ("first_visit", "investigation", "treatment")
MAX_PROBLEMS = 200  # listed in one answer; the rest are counted


@dataclass(frozen=True)
class Problem:
    """One bad value: where it is (source, line or index, field) and what was expected."""

    source: str
    where: int | str  # line number in a file, index in a list, key in an object
    field: str
    message: str
    kind: str = "value_error"
    is_line: bool = False
    message_sv: str | None = None  # the check's own Swedish; else the service's table (classifier.errors)

    @property
    def sv(self) -> str:
        """The message in Swedish: a notice to a region and a Swedish page quote it."""
        return self.message_sv or swedish_message(self.message)

    def path(self) -> str:
        """As a JSON path of the request (`waiting[3].wait_start`) or a file position (`waiting.csv:5`)."""
        if self.where == "":  # the whole file
            at = self.source
        elif self.is_line:
            at = f"{self.source}:{self.where}"
        else:
            at = f"{self.source}[{self.where}]" if isinstance(self.where, int) else f"{self.source}.{self.where}"
        sep = ": " if self.is_line else "."
        return f"{at}{sep}{self.field}" if self.field else at


class ReportInputError(ValueError):
    """Records that cannot be used; `problems` names each (HTTP 422, CLI exit 2)."""

    def __init__(self, problems: list[Problem], more: int = 0):
        self.problems, self.more = problems, more
        text = "; ".join(f"{p.path()}: {p.message}" for p in problems)
        super().__init__(text + (f"; and {more} more problem(s)" if more else ""))

    def items(self) -> list[dict[str, str]]:
        """The API's error items: {path, message, type}."""
        out = [{"path": p.path(), "message": p.message, "message_sv": p.sv, "type": p.kind} for p in self.problems]
        if self.more:
            out.append({"path": self.problems[-1].source, "message": f"{self.more} more problem(s) not listed",
                        "message_sv": f"ytterligare {self.more} problem visas inte", "type": "too_many_errors"})
        return out


@dataclass(frozen=True)
class Source:
    """Records with their origin: a file (line numbers) or a list (indexes)."""

    name: str
    records: Sequence[Mapping[str, Any]]
    lines: Sequence[int] | None = None

    def numbered(self) -> Iterator[tuple[int, Mapping[str, Any]]]:
        for i, rec in enumerate(self.records):
            yield (self.lines[i] if self.lines is not None else i), rec


# -- values as CSV, JSON and Python give them -------------------------------------------------

def _blank_to_none(v: Any) -> Any:
    return None if isinstance(v, str) and v.strip() == "" else v


def _csv_int(v: Any) -> Any:
    """ASCII digits from a CSV cell become an int; anything else goes on to strict int validation."""
    v = _blank_to_none(v)
    if isinstance(v, str) and re.fullmatch(r"[0-9]{1,12}", v.strip()):
        return int(v.strip())
    return v


def _decimal_comma(v: Any) -> Any:
    """A share as Swedish Excel writes it, `0,04`, is 0.04: a decimal comma is a decimal point (a share is
    0–1, so a comma in it can be nothing else); anything else goes on to strict decimal validation."""
    if isinstance(v, str) and re.fullmatch(r"\s*[0-9]+,[0-9]+\s*", v):
        return v.strip().replace(",", ".")
    return v


def _csv_bool(v: Any) -> Any:
    v = _blank_to_none(v)
    if isinstance(v, str):
        return {"true": True, "false": False, "null": None}.get(v.strip().lower(), v)
    return v


def _iso_date(v: Any) -> date:
    if isinstance(v, date):
        return v
    if not isinstance(v, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):
        raise ValueError(f"expected a date 'YYYY-MM-DD', got {v!r}")
    try:
        day = date.fromisoformat(v)
    except ValueError:
        raise ValueError(f"expected a real calendar date 'YYYY-MM-DD', got {v!r}") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:  # 9999-12-31 overflowed the month arithmetic (a 422 in Python's words)
        raise ValueError(f"expected a date in the years {MIN_YEAR}–{MAX_YEAR}, got {v!r}")
    return day


def _month(v: Any) -> str:
    """'YYYY-MM' (or a whole date, whose month is meant)."""
    if isinstance(v, date):
        return v.strftime("%Y-%m")
    if isinstance(v, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}", v):
        try:
            date.fromisoformat(v + "-01")
        except ValueError:
            pass
        else:
            if not MIN_YEAR <= int(v[:4]) <= MAX_YEAR:
                raise ValueError(f"expected a month 'YYYY-MM' in the years {MIN_YEAR}–{MAX_YEAR}, got {v!r}")
            return v
    if isinstance(v, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):
        return _iso_date(v).strftime("%Y-%m")
    raise ValueError(f"expected a month 'YYYY-MM', got {v!r}")


def _name(v: str) -> str:
    reject_identity_number(v)
    if v != v.strip():
        raise ValueError("leading or trailing spaces")
    return v


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_name)]
Count = Annotated[Annotated[StrictInt, Field(ge=0)] | None, BeforeValidator(_csv_int)]
Flag = Annotated[StrictBool | None, BeforeValidator(_csv_bool)]
Day = Annotated[date, BeforeValidator(_iso_date)]
Month = Annotated[str, BeforeValidator(_month)]
Text = Annotated[Annotated[str, Field(max_length=200)] | None, BeforeValidator(_blank_to_none)]
Area = Literal["first_visit", "investigation", "treatment"]


@dataclass(frozen=True)
class WaitRules:
    """What the rule set says about counting waits (the reporting module holds no such list itself)."""

    limit_days: int  # ruleset.yaml wait.limit_days
    # rules/tables/exclusions.yaml: code -> (left out of the numerator, left out of the denominator from day N)
    exclusions: dict[str, tuple[bool, int]]
    contact_types: frozenset[str]  # every outcome a classification may have (tables/contact_types.yaml)
    ruleset: dict[str, str]  # the identity of the rule set these come from (named by the report)

    def in_denominator(self, exclusion: str | None, days: int) -> bool:
        return counted(self.limit_days, self.exclusions.get(exclusion or ""), days)[1]

    def in_numerator(self, exclusion: str | None, days: int) -> bool:
        return counted(self.limit_days, self.exclusions.get(exclusion or ""), days)[0]


def counted(limit_days: int, exclusion: tuple[bool, int] | None, days: int) -> tuple[bool, bool]:
    """(in the numerator, in the denominator) of a wait of `days` days: the one home of that rule.

    `exclusion` is the exclusion's (left out of the numerator, left out of the denominator from
    day N) from rules/tables/exclusions.yaml, or None. The answer (classifier/answer.py) and the
    reports both count through here, so a wait is never counted two ways.
    """
    in_denominator = exclusion is None or days < exclusion[1]
    in_numerator = days <= limit_days and in_denominator and not (exclusion is not None and exclusion[0])
    return in_numerator, in_denominator


def wait_rules(month: str | None = None) -> WaitRules:
    """The counting rules of the held rule set valid at `month`'s end (default: today), docs/rulesets.md."""
    return _wait_rules(os.environ.get(resources.RULES_ENV, ""), month)


@functools.lru_cache(maxsize=256)
def _wait_rules(_held: str, month: str | None) -> WaitRules:
    """Loaded once per holding and month with classifier.ruleset (which imports no engine)."""
    rs = ruleset.held_on(month_end(month) if month else date.today())
    codes = {code: (bool(spec["excluded_from_numerator"]), int(spec["excluded_from_denominator_from_days"]))
             for code, spec in rs.tables["exclusions"]["codes"].items()}
    return WaitRules(rs.limit_days, codes, frozenset(rs.tables["contact_types"]["contact_types"]), rs.identity())


class FieldProblem(ValueError):
    """A check across fields that still names the one field at fault."""

    def __init__(self, field: str, message: str, message_sv: str):
        self.field, self.message_sv = field, message_sv
        super().__init__(message)


def month_end(month: str) -> date:
    return date.fromisoformat(month + "-01") + relativedelta(months=1, days=-1)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exclusion: Text = None

    @model_validator(mode="after")
    def _known_exclusion(self) -> _Record:
        if self.exclusion is not None and self.exclusion not in wait_rules().exclusions:
            known = sorted(wait_rules().exclusions)
            raise FieldProblem("exclusion", f"exclusion {self.exclusion!r}: expected one of {known} or empty "
                               "(rules/tables/exclusions.yaml)",
                               f"undantag {self.exclusion!r}: ska vara ett av {known} eller tomt")
        return self


class Classification(BaseModel):
    """The part of a /v1/classify answer the report reads (the rest of the answer is allowed)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    contact_type: str
    wait: dict[str, Any] | None = None


def _no_identity(value: Any) -> Any:
    """Walk an answer object: no string in it may carry an identity number."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str) and looks_like_identity_number(v):
            reject_identity_number(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return value


class CompletedRecord(_Record):
    """A classified contact: the answer under `classification`, or its flat columns."""

    region: Name
    unit: Name
    date: Day
    contact_type: Text = None
    in_numerator: Flag = None
    in_denominator: Flag = None
    rule: Text = None
    days: Count = None
    classification: Annotated[Classification | None, BeforeValidator(_no_identity)] = None

    @model_validator(mode="after")
    def _consistent(self) -> CompletedRecord:
        c = self.classification
        if c is None and self.contact_type is None:
            raise FieldProblem("contact_type", "needs contact_type (or the classifier's answer under classification)",
                               "contact_type saknas (eller klassificerarens svar under classification)")
        if c is not None and self.contact_type is not None and c.contact_type != self.contact_type:
            raise FieldProblem("contact_type", f"contact_type {self.contact_type!r} contradicts "
                               f"classification.contact_type {c.contact_type!r}",
                               f"contact_type {self.contact_type!r} motsäger classification.contact_type "
                               f"{c.contact_type!r}")
        if self.area_or_type not in wait_rules().contact_types:
            known = sorted(wait_rules().contact_types)
            raise FieldProblem("contact_type", f"contact_type {self.area_or_type!r}: expected one of {known}",
                               f"contact_type {self.area_or_type!r}: ska vara en av {known}")
        for name in ("in_numerator", "in_denominator"):
            v = (c.wait or {}).get(name) if c is not None else None
            if v is not None and not isinstance(v, bool):
                raise FieldProblem(f"classification.wait.{name}", "expected true, false or null",
                                   "ska vara true, false eller null")
        if self.numerator and self.denominator is False:
            raise FieldProblem("in_numerator", "in_numerator is true but in_denominator is false: the "
                               "numerator is a part of the denominator",
                               "in_numerator är sann men in_denominator falsk: täljaren är en del av nämnaren")
        return self

    @property
    def area_or_type(self) -> str:
        return self.classification.contact_type if self.classification is not None else str(self.contact_type)

    @property
    def numerator(self) -> bool | None:
        c = self.classification
        return (c.wait or {}).get("in_numerator") if c is not None else self.in_numerator

    @property
    def denominator(self) -> bool | None:
        c = self.classification
        return (c.wait or {}).get("in_denominator") if c is not None else self.in_denominator


class WaitingRecord(_Record):
    """One patient waiting at the end of a month."""

    region: Name
    unit: Name
    month: Month
    area: Area
    wait_start: Day

    @model_validator(mode="after")
    def _started_by_month_end(self) -> WaitingRecord:
        end = month_end(self.month)
        if self.wait_start > end:
            raise FieldProblem("wait_start", f"wait_start {self.wait_start} is after the end of month "
                               f"{self.month} ({end}): a patient waiting at month end started waiting by then",
                               f"wait_start {self.wait_start} ligger efter slutet av månaden {self.month} ({end}): "
                               "den som väntar vid månadsslut började vänta senast då")
        return self


class CountsRecord(BaseModel):
    """Already aggregated figures for one region (or unit), area and month."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    region: Name
    unit: Annotated[Name | None, BeforeValidator(_blank_to_none)] = None
    area: Area
    month: Month
    numerator: Count = None
    denominator: Count = None
    completed_all: Count = None
    waiting: Count = None
    waiting_le30: Count = None
    new_on_list: Count = None  # SKR's proxy: first-visit waits of 0–30 days at month end
    direct_starts: Count = None
    printed_share: Text = None  # as SKR printed it, kept beside its counts for checking; not used

    @model_validator(mode="after")
    def _parts_within_wholes(self) -> CountsRecord:
        for part, whole in (("numerator", "denominator"), ("denominator", "completed_all"),
                            ("waiting_le30", "waiting")):
            p, w = getattr(self, part), getattr(self, whole)
            if p is not None and w is not None and p > w:
                raise FieldProblem(part, f"{part} {p} is above {whole} {w}", f"{part} {p} är större än {whole} {w}")
        return self


class SharesRecord(BaseModel):
    """A region's share (0–1) of the national pots."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    region: Name
    share: Annotated[Decimal, BeforeValidator(_decimal_comma), Field(ge=0, le=1)]


class PopulationRecord(BaseModel):
    """A region's population aged 0–18 (official statistics): block one's key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    region: Name
    # strict: a JSON true or 12.5 is no head count (a CSV cell of digits becomes an int first)
    population_0_18: Annotated[int, BeforeValidator(_csv_int), Field(ge=0, strict=True)]


MODELS: dict[str, type[BaseModel]] = {"completed": CompletedRecord, "waiting": WaitingRecord,
                                      "counts": CountsRecord, "shares": SharesRecord,
                                      "population": PopulationRecord}


class Collector:
    """Gathers problems over every source, so one answer lists them all (up to MAX_PROBLEMS)."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.more = 0

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more += 1

    def raise_if_any(self) -> None:
        if self.problems:
            raise ReportInputError(self.problems, self.more)


def validate(kind: str, source: Source, found: Collector) -> Iterator[tuple[int, Any]]:
    """Each valid record of `source` as its model (with its line or index); problems go to `found`."""
    model = MODELS[kind]
    is_line = source.lines is not None
    for where, rec in source.numbered():
        if not isinstance(rec, Mapping):
            found.add(Problem(source.name, where, "", "expected an object (a record)", "model_type", is_line,
                              "ett objekt (en post) väntades"))
            continue
        try:
            yield where, model.model_validate(dict(rec))
        except ValidationError as exc:
            for raw, e in zip(exc.errors(include_url=False), from_validation_error(exc), strict=True):
                cause = (raw.get("ctx") or {}).get("error")
                field = cause.field if isinstance(cause, FieldProblem) else "" if e["path"] == "$" else e["path"]
                found.add(Problem(source.name, where, field, e["message"], e["type"], is_line, e["message_sv"]))


def shares_from(source: Source) -> dict[str, Decimal]:
    """Each region's share; the shares may not sum above 1 (the whole of the national pots)."""
    found = Collector()
    shares: dict[str, Decimal] = {}
    for where, rec in validate("shares", source, found):
        if rec.region in shares:
            found.add(Problem(source.name, where, "region", f"{rec.region!r} is given twice",
                              is_line=source.lines is not None, message_sv=f"{rec.region!r} står två gånger"))
        shares[rec.region] = rec.share
    if sum(shares.values(), Decimal(0)) > 1:
        found.add(Problem(source.name, len(source.records) - 1 if source.lines is None else source.lines[-1],
                          "share", f"the shares sum to {sum(shares.values())}, above 1 (the whole national pot)",
                          is_line=source.lines is not None, message_sv=f"andelarna summerar till "
                          f"{sum(shares.values())}, mer än 1 (hela den nationella potten)"))
    found.raise_if_any()
    return shares


def population_from(source: Source) -> dict[str, int]:
    """Each region's population aged 0–18 (block one); a region given twice, or a name that is not one of
    the 21 regions block one is shared over, is an error (never guessed to be one of them)."""
    from classifier.reporting.money import national_regions  # money imports this module

    known = set(national_regions())
    found = Collector()
    people: dict[str, int] = {}
    for where, rec in validate("population", source, found):
        if rec.region not in known:
            found.add(Problem(source.name, where, "region", f"{rec.region!r} is not one of the 21 regions "
                              "(rules/regions.yaml)", "unknown_region", is_line=source.lines is not None,
                              message_sv=f"{rec.region!r} är inte en av de 21 regionerna (rules/regions.yaml)"))
            continue
        if rec.region in people:
            found.add(Problem(source.name, where, "region", f"{rec.region!r} is given twice",
                              is_line=source.lines is not None, message_sv=f"{rec.region!r} står två gånger"))
        people[rec.region] = rec.population_0_18
    found.raise_if_any()
    return people


def _utf8_text(p: Path) -> str:
    """A file's text: UTF-8, with or without Excel's byte-order mark ('CSV UTF-8'). Other bytes are refused with
    the line and what to save as, never a traceback; a file that cannot be opened says so."""
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ReportInputError([Problem(p.name, "", "", f"cannot be read ({exc.strerror or type(exc).__name__})",
                                        message_sv=f"kan inte läsas ({exc.strerror or type(exc).__name__})")]) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ReportInputError([Problem(p.name, "", "", "the file is UTF-16 text (Excel's 'Unicode text'); expected "
                                        "UTF-8: save the file as 'CSV UTF-8'", "encoding", message_sv="filen är "
                                        "UTF-16-text (Excels 'Unicode-text'); filen ska vara UTF-8: spara den som "
                                        "'CSV UTF-8'")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ReportInputError([Problem(
            p.name, line, "", f"the bytes are not UTF-8 (byte 0x{data[exc.start]:02X}; Windows-1252, Excel's plain "
            "'CSV', writes å, ä and ö like that); expected UTF-8: save the file as 'CSV UTF-8'", "encoding", True,
            f"byten är inte UTF-8 (byte 0x{data[exc.start]:02X}; Windows-1252, Excels vanliga 'CSV', skriver å, ä och "
            "ö så); filen ska vara UTF-8: spara den som 'CSV UTF-8'")]) from None


def read_source(path: str | Path) -> Source:
    """A CSV (header row; `#` lines are comments) or JSON-lines file as a Source with line numbers."""
    p = Path(path)
    text = _utf8_text(p)
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    if p.suffix.lower() == ".csv":
        numbered = [(i, line) for i, line in enumerate(text.splitlines(), 1) if not line.startswith("#")]
        first = numbered[0][1] if numbered else ""
        # Swedish Excel saves CSV with semicolons between cells (and a decimal comma): a header with ';' and no ','
        reader = csv.reader(io.StringIO("\n".join(line for _, line in numbered)),
                            delimiter=";" if ";" in first and "," not in first else ",")
        header: list[str] | None = None
        for row in reader:
            line_no = numbered[reader.line_num - 1][0]  # the file's line (comments skipped) where the row ends
            if header is None:
                header = row
                continue
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ReportInputError([Problem(p.name, line_no, "", f"{len(row)} cells; the header has "
                                                f"{len(header)}", is_line=True,
                                                message_sv=f"{len(row)} fält; rubrikraden har {len(header)}")])
            records.append(dict(zip(header, row, strict=True)))
            lines.append(line_no)
        return Source(p.name, records, lines)
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ReportInputError([Problem(p.name, i, "", f"not JSON ({exc.msg})", is_line=True,
                                                message_sv=f"inte JSON ({exc.msg})")]) from None
            lines.append(i)
    return Source(p.name, records, lines)


def as_source(name: str, records: Source | Iterable[Mapping[str, Any]]) -> Source:
    return records if isinstance(records, Source) else Source(name, list(records))
