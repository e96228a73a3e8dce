"""A region's extract (docs/month.md §1): read as a stream, partitioned by patient, rows -> timeline events.

Every format is read as its users write it and every cell becomes the text it says, so
one row reader checks them all: CSV (comma, semicolon or tab; UTF-8 with or without a
byte-order mark, or Windows-1252; CRLF; quoted cells) with pyarrow's C++ parser told
that every column is text (no type is guessed: `NA` stays `NA`); JSON lines with
orjson (strings as they are, booleans and numbers as their JSON text, arrays joined);
Parquet in row-group batches, each typed column turned into its canonical text by an
Arrow kernel (a date as YYYY-MM-DD; a timestamp only at midnight); `.xlsx` (the first
sheet) with python-calamine (the `xlsx` extra). A bad cell is a rejected row naming its
column; a file that cannot be read at all is an ExtractError that says where (file,
line or row, column), the value and what was expected, in Swedish and English.

What an extract may hold is limited (`Limits`, docs/month.md §1) and checked before the
memory is spent: a Parquet file's footer and row groups from its metadata, an xlsx's
unpacked size from its zip directory, CSV and JSON lines as they stream by.

Memory does not grow with the file: rows are written, as they stream past, to one Arrow
IPC file per bucket of patients (a hash of `patient_ref`), so the extract may come in any
order and in several files (consecutive months); each bucket then holds whole patients
and is folded on its own, in parallel. A row with an identity number anywhere (checked on
every cell's canonical text, typed numbers included) is rejected and its value is never
written to any bucket or output.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import json
import os
import re
import zipfile
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from pydantic import ValidationError

from classifier.errors import first_repeated, pydantic_words
from classifier.models import (
    CareClosed,
    InvestigationConcluded,
    TimelineCareRequest,
    TimelineContact,
    TimelineDecision,
    TreatmentConcluded,
)
from classifier.privacy import looks_like_identity_number, redact
from classifier.ruleset import RuleSet, held_on

# The En väg in checklist's columns are its item ids, from their one home, rules/tables/evi_checklist.yaml (of the
# held rule set; the loader ties its items to the request model's fields, so every held set has the same ones).
CHECKLIST_COLUMNS = tuple(item["id"] for item in held_on(date.today()).tables["checklist"]["items"])
COLUMNS = (
    "patient_ref", "event_id", "event_type", "date", "region", "unit", "pathway", *CHECKLIST_COLUMNS, "area",
    "health_problem", "treatment_modality", "contact_id", "setting", "activity", "urgent", "contact_form",
    "medications_atc", "kva_codes", "decision_date", "wait_exclusion", "registered_contact_type",
)
LIST_COLUMNS = ("medications_atc", "kva_codes")  # the only columns a JSON array or a Parquet list may fill
EVENT_TYPES = ("care_request", "decision", "contact", "investigation_concluded", "treatment_concluded", "care_closed")
SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS] + [("_row", pa.int64()), ("_file", pa.int32())])
# Which column a model field's error belongs to (the rest keep their name).
FIELD_COLUMN = {"id": "contact_id", "received_date": "date", "type": "event_type"}
# Every spelling of a boolean a region's export writes (any case): docs/month.md §1.
TRUE_TEXT = ("true", "1", "ja", "sant", "yes")
FALSE_TEXT = ("false", "0", "nej", "falskt", "no")
# A user's name of an encoding -> Python's codec; a CSV is UTF-8 unless its bytes are not, then Windows-1252.
ENCODINGS = ("utf-8", "cp1252", "iso8859-1", "iso8859-15")
BATCH_ROWS = 65_536
REQUIRED_SV = "krävs"


@dataclass(frozen=True)
class Limits:
    """What one extract may hold (docs/month.md §1, "Limits"); each is checked before memory is spent on it."""

    rows: int = 50_000_000  # rows in one file
    rows_per_patient: int = 20_000  # one patient's rows (a patient is folded in memory)
    cell_chars: int = 500  # characters in one cell (a longer cell rejects its row)
    line_bytes: int = 1 << 20  # one CSV or JSON line, and a CSV's header
    decompressed_bytes: int = 4 << 30  # a Parquet file's column data, uncompressed
    row_group_bytes: int = 512 << 20  # one Parquet row group, uncompressed (it is read whole)
    footer_bytes: int = 16 << 20  # a Parquet file's metadata
    xlsx_bytes: int = 256 << 20  # an .xlsx workbook unpacked (its sheet is read whole)
    rejected_rows: int = 100_000  # rows that cannot be read before the extract is given up


LIMITS = Limits()


class ExtractError(ValueError):
    """The extract as a whole cannot be read: where (file, line or row, column), the value and what was
    expected, in Swedish and in English (`sv`, `en`)."""

    def __init__(self, en: str, sv: str | None = None):
        super().__init__(en, sv or en)
        self.en, self.sv = en, sv or en

    def __str__(self) -> str:
        return self.en if self.sv == self.en else f"{self.sv}\n{self.en}"


def _shown(value: Any) -> tuple[str, str]:
    """A value as an error may show it (Swedish, English): never an identity number, at most 60 characters."""
    text = str(value)
    if looks_like_identity_number(text):
        return ("(ett värde som liknar ett personnummer; visas inte)",
                "(a value shaped like an identity number; not shown)")
    text = repr(text if len(text) <= 60 else text[:57] + "...")
    return text, text


def fail(source: str, en: str, sv: str, *, line: int | None = None, row: int | None = None,
         column: str | None = None, value: Any = None) -> ExtractError:
    """An ExtractError that says where, the value (unless it is an identity number) and what was expected."""
    where_sv, where_en = [source], [source]
    if line is not None:
        where_sv.append(f"rad {line}")
        where_en.append(f"line {line}")
    if row is not None:
        where_sv.append(f"datarad {row}")
        where_en.append(f"row {row}")
    if column is not None:
        col_sv, col_en = _shown(column)
        where_sv.append(f"kolumn {col_sv}")
        where_en.append(f"column {col_en}")
    val_sv = val_en = ""
    if value is not None:
        v_sv, v_en = _shown(value)
        val_sv, val_en = f" (värde {v_sv})", f" (value {v_en})"
    return ExtractError(f"{', '.join(where_en)}: {en}{val_en}", f"{', '.join(where_sv)}: {sv}{val_sv}")


@dataclass
class Rejected:
    """A row that cannot be read: its file, row number (data rows, 1-based) and every problem by column."""

    file: str
    row: int
    event_id: str
    problems: list[Problem]  # (column, English, Swedish)


@dataclass
class Row:
    """One readable row: its event model and what the month layer keeps beside it."""

    event: Any
    event_id: str
    patient_ref: str
    region: str
    unit: str
    registered: str | None  # a contact type's code; None when the journal registered none, or `unknown`
    file: int
    row: int
    date: date  # the event's date (read once: a contact's is a property of the event)
    unknown_registered: str | None = None  # a registered_contact_type that is no contact type (a finding)


class Source(os.PathLike):  # type: ignore[type-arg]
    """An extract file and how to read it: a CSV's encoding when the user says it (else detected)."""

    def __init__(self, path: str | Path, encoding: str | None = None):
        self.path = Path(path)
        self.encoding = encoding_name(encoding) if encoding else None

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"Source({str(self.path)!r}, encoding={self.encoding!r})"


def encoding_name(name: str) -> str:
    """A user's encoding name (utf-8, windows-1252, ...) as Python's codec; ValueError naming the accepted ones."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        codec = ""
    codec = "utf-8" if codec == "utf-8-sig" else codec
    if codec not in ENCODINGS:
        raise ValueError(f"encoding {name!r}: expected utf-8 or windows-1252 (also iso-8859-1, iso-8859-15)")
    return codec


# ---- reading ---------------------------------------------------------------------------------------

Problem = tuple[str, str, str]  # (column, the problem in English, in Swedish): rejected.csv's problem, problem_sv
CellProblems = dict[int, list[Problem]]  # a batch's row index -> its problems
Batch = tuple[dict[str, pa.Array], pa.Array, CellProblems]  # text columns, row numbers, problems found reading


def kind_of(path: str | Path) -> str:
    name = os.fspath(path).lower()
    for suffix, kind in ((".csv", "csv"), (".txt", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                         (".json", "jsonl"), (".parquet", "parquet"), (".pq", "parquet"), (".xlsx", "xlsx")):
        if name.endswith(suffix):
            return kind
    raise fail(Path(path).name, "expected an extract ending in .csv, .jsonl, .parquet or .xlsx",
               "ska vara ett uttag som slutar på .csv, .jsonl, .parquet eller .xlsx")


def _check_columns(names: list[str], source: str, required: bool = True) -> None:
    """Every column known, none twice, and (for a header) the two every row needs."""
    seen: set[str] = set()
    for i, n in enumerate(names, 1):
        if n in seen:
            raise fail(source, f"the header names this column twice (cell {i}); expected each column once",
                       f"rubrikraden har kolumnen två gånger (cell {i}); varje kolumn ska finnas en gång",
                       column=n)
        seen.add(n)
        if not n:
            raise _unnamed(source, i)
        if n not in COLUMNS:
            raise fail(source, f"unknown column; expected columns from docs/month.md §1: {', '.join(COLUMNS)}",
                       f"okänd kolumn; tillåtna kolumner (docs/month.md §1): {', '.join(COLUMNS)}", column=n)
    if required and not ("patient_ref" in seen and "event_type" in seen):
        raise fail(source, "the columns 'patient_ref' and 'event_type' are required (a header row naming the "
                   "columns, separated by , or ;)", "kolumnerna 'patient_ref' och 'event_type' krävs (en rubrikrad "
                   "med kolumnernas namn, åtskilda med , eller ;)")


def _unnamed(source: str, cell: int, row: int | None = None) -> ExtractError:
    """A column without a name that holds values: the whole file is refused, once, rather than every row.
    The first column is how pandas writes a DataFrame's index (to_csv/to_excel without index=False)."""
    hint_en = " (pandas writes its index so; write with index=False)" if cell == 1 else ""
    hint_sv = " (så skriver pandas sitt index; skriv med index=False)" if cell == 1 else ""
    return fail(source, f"the header gives column {cell} no name{hint_en}; expected every column that holds "
                "values named, from docs/month.md §1", f"rubrikraden ger kolumn {cell} inget namn{hint_sv}; varje "
                "kolumn med värden ska ha ett namn enligt docs/month.md §1", row=row)


def _row_numbers(kept_before: int, n: int, skipped: list[int]) -> pa.Array:
    """The data-row numbers of the next n rows a reader kept, when it skipped the (ascending) rows `skipped`:
    the k-th kept row is k + the number of skipped rows that have fewer than k kept rows before them."""
    first, last = kept_before + 1, kept_before + n
    before = [s - j - 1 for j, s in enumerate(skipped)]  # kept rows before each skipped one (ascending)
    ks = _numbers(first + bisect.bisect_left(before, first), n)  # the skips before this batch shift it whole
    for t in before[bisect.bisect_left(before, first):bisect.bisect_left(before, last)]:  # the skips inside it
        ks = pc.add(ks, pc.cast(pc.greater(_numbers(first, n), t), pa.int64()))
    return ks


_COUNTING = pa.array(range(1 << 16), pa.int64())


def _numbers(first: int, n: int) -> pa.Array:
    """first, first + 1, ... (n of them) as int64, without a Python int per row."""
    global _COUNTING
    counting = _COUNTING  # read once: threads may grow it meanwhile
    if len(counting) < n:
        counting = _COUNTING = pa.array(range(max(n, 2 * len(counting))), pa.int64())
    return pc.add(counting.slice(0, n), first)


# -- CSV --


def _encoding_of(path: str | Path) -> str:
    """UTF-8 or Windows-1252, decided at the file's first line with non-ASCII text: UTF-8 when that line
    decodes as UTF-8 (Windows-1252 text with å, ä or ö never does), else Windows-1252. The stream then
    checks that every later line agrees, and names the first line that does not (a file that mixes both)."""
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            if block.isascii():
                continue
            at = next(i for i, b in enumerate(block) if b >= 0x80)  # the first non-ASCII line decides
            start, end = block.rfind(b"\n", 0, at) + 1, block.find(b"\n", at)
            try:
                block[start:len(block) if end < 0 else end].decode("utf-8")
            except UnicodeDecodeError as exc:
                return "utf-8" if exc.reason == "unexpected end of data" else "cp1252"
            return "utf-8"
    return "utf-8"


def _cells(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter, quotechar='"', doublequote=True, strict=False))


def _open_quote_cell(line: str, delimiter: str) -> int:
    """The index of the cell whose quote is never closed on its line."""
    cell, quoted, opened = 0, False, 0
    for ch in line:
        if ch == '"':
            quoted = not quoted
            if quoted:
                opened = cell
        elif ch == delimiter and not quoted:
            cell += 1
    return opened


class _CsvStream(io.RawIOBase):
    """A CSV's data lines for pyarrow: after its header, without `#` comment lines, as UTF-8, and each
    line with an unbalanced quote replaced by a marker row pyarrow rejects (so it reaches no other row).

    Read in blocks no longer than a line may be, so only a block's first line (and a block without a
    line end) can be too long: the limit is checked exactly without looking at every line.
    """

    MARK = b"\x01unbalanced-quote\x01"

    def __init__(self, raw: io.BufferedReader, encoding: str, check: bool, rest: bytes, source: str,
                 limits: Limits, offset: int):
        self.raw, self.encoding, self.check, self.source, self.limits = raw, encoding, check, source, limits
        self.detected = False  # the encoding was taken from the bytes (set by the reader), not said by the user
        self.buffer, self.rest = b"", rest
        self.offset = offset  # the file's byte offset of `rest` (for a line number, counted only on an error)
        self.unbalanced: dict[int, str] = {}  # marker number -> the line (until the reader asks for it)

    def readable(self) -> bool:
        return True

    def _line(self, offset: int) -> int:
        """The file's line number at a byte offset (read again: needed only for an error)."""
        with open(self.raw.name, "rb") as f:
            return f.read(offset).count(b"\n") + 1

    def _too_long(self, offset: int) -> ExtractError:
        return fail(self.source, f"a line longer than {self.limits.line_bytes:,} bytes; expected one row per line",
                    f"en rad längre än {self.limits.line_bytes:,} byte; en rad per händelse", line=self._line(offset))

    def _mixed(self, offset: int, found: str, first: str, found_sv: str | None = None) -> ExtractError:
        """A file that mixes UTF-8 and Windows-1252 lines; found_sv: `found` in Swedish when it has words."""
        return fail(self.source, f"this line is {found} text but the file's first non-ASCII text is {first}: the "
                    "file mixes two encodings, so its å, ä and ö cannot all be read; save the whole file again as "
                    "'CSV UTF-8' (or say the encoding with --encoding utf-8|windows-1252)",
                    f"den här raden är {found_sv or found}-text men filens första text utanför ASCII är {first}: "
                    "filen blandar två teckenkodningar, så alla å, ä och ö kan inte läsas; spara hela filen igen "
                    "som 'CSV UTF-8' (eller ange teckenkodningen med --encoding utf-8|windows-1252)",
                    line=self._line(offset))

    def _take(self, data: bytes, offset: int) -> bytes:
        if self.encoding != "utf-8" and self.detected and not data.isascii():
            # Windows-1252 was taken from the file's first non-ASCII text; a later line that is valid UTF-8 with
            # non-ASCII in it was written in UTF-8 (Windows-1252 text with å, ä, ö never is): never mix the two.
            start = 0
            for line in data.split(b"\n"):
                if not line.isascii():
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        pass
                    else:
                        raise self._mixed(offset + start, "UTF-8", "Windows-1252")
                start += len(line) + 1
        if self.encoding != "utf-8" or self.check or not data.isascii():
            try:
                text = data.decode(self.encoding)
            except UnicodeDecodeError as exc:
                if self.detected:
                    raise self._mixed(offset + exc.start, "Windows-1252 (not UTF-8)", "UTF-8",
                                      "Windows-1252 (inte UTF-8)") from None
                bad = data[exc.start:exc.start + 1]
                raise fail(self.source, f"the bytes are not {self.encoding} text; say the file's encoding with "
                           "--encoding (utf-8 or windows-1252)", f"byten är inte {self.encoding}-text; ange filens "
                           "teckenkodning med --encoding (utf-8 eller windows-1252)",
                           line=self._line(offset + exc.start), value=bad.hex()) from None
            if self.encoding != "utf-8":
                data = text.encode("utf-8")
        if data.startswith(b"#") or b"\n#" in data:
            data = b"".join(x for x in data.splitlines(keepends=True) if not x.startswith(b"#"))
        if b'"' in data:
            lines = data.split(b"\n")
            for i, x in enumerate(lines):
                if b'"' in x and x.count(b'"') % 2:
                    k = len(self.unbalanced)
                    self.unbalanced[k] = x.decode("utf-8", "replace")
                    lines[i] = self.MARK + str(k).encode() + (b"\r" if x.endswith(b"\r") else b"")
            data = b"\n".join(lines)
        return data

    def readinto(self, b: Any) -> int:
        limit = self.limits.line_bytes
        while not self.buffer:
            chunk = self.raw.read(min(limit, 1 << 20))
            offset = self.offset
            if not chunk:
                data, self.rest = self.rest, b""
                if not data:
                    return 0
                if len(data) > limit:
                    raise self._too_long(offset)
            else:
                data = self.rest + chunk
                first, cut = data.find(b"\n"), data.rfind(b"\n") + 1
                if (first < 0 and len(data) > limit) or first > limit:
                    raise self._too_long(offset)
                self.rest, data = data[cut:], data[:cut]
                self.offset += len(data)
            self.buffer = self._take(data, offset)
        n = min(len(b), len(self.buffer))
        b[:n] = self.buffer[:n]
        self.buffer = self.buffer[n:]
        return n


def _csv_header(raw: io.BufferedReader, source: str, encoding: str,
                limits: Limits) -> tuple[list[str], str, int, bytes]:
    """The header's column names, the delimiter, the header's line number and the bytes read after it."""
    head = raw.read(limits.line_bytes + 1)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise fail(source, "the file is UTF-16 text (Excel's 'Unicode text'); expected CSV in UTF-8 or "
                   "Windows-1252 (save as 'CSV UTF-8')", "filen är UTF-16-text (Excels 'Unicode-text'); spara som "
                   "'CSV UTF-8' eller CSV i Windows-1252", line=1)
    head = head.removeprefix(codecs.BOM_UTF8)
    line_no, pos = 0, 0
    while True:
        end = head.find(b"\n", pos)
        if end < 0:
            if len(head) > limits.line_bytes:
                raise fail(source, f"no header line within {limits.line_bytes:,} bytes; expected a header row",
                           f"ingen rubrikrad inom {limits.line_bytes:,} byte", line=line_no + 1)
            end = len(head)
        line_no += 1
        line = head[pos:end]
        pos = end + 1
        if not line.startswith(b"#"):
            break
        if pos >= len(head):
            raise fail(source, "no header row; expected a header row naming the columns",
                       "ingen rubrikrad; första raden ska namnge kolumnerna")
    try:
        text = line.decode(encoding).rstrip("\r")
    except UnicodeDecodeError:
        raise fail(source, f"the header is not {encoding} text; say the encoding with --encoding",
                   f"rubrikraden är inte {encoding}-text; ange teckenkodningen med --encoding", line=line_no) from None
    if text.count('"') % 2:
        raise fail(source, "the header has an unbalanced quote; expected column names",
                   "rubrikraden har ett citattecken som inte avslutas", line=line_no)
    counts = {d: sum(c.count(d) for i, c in enumerate(text.split('"')) if i % 2 == 0) for d in (",", ";", "\t")}
    delimiter = max(counts, key=lambda d: counts[d])
    try:
        names = [n.strip() for n in _cells(text, delimiter)]
    except csv.Error:  # a bare carriage return inside the line (old Mac line ends, or a pasted cell)
        raise fail(source, "the header has a carriage return (CR) inside it; expected one line of column names "
                   "ending in LF or CRLF", "rubrikraden har en vagnretur (CR) mitt i raden; den ska vara en rad "
                   "med kolumnnamn", line=line_no) from None
    return names, delimiter, line_no, head[pos:]


def _open_csv(stream: _CsvStream, names: list[str], delimiter: str, skip: Any, limits: Limits) -> Any:
    """pyarrow's streaming CSV reader over the data lines, every column as text (no type guessed)."""
    return pacsv.open_csv(
        io.BufferedReader(stream, 1 << 20),
        read_options=pacsv.ReadOptions(block_size=max(1 << 22, 2 * limits.line_bytes), use_threads=False,
                                       column_names=names),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                         newlines_in_values=False, invalid_row_handler=skip),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), null_values=[""],
                                             strings_can_be_null=True, quoted_strings_can_be_null=True),
    )


def _csv_batches(path: str | Path, source: str, encoding: str | None, malformed: list[Rejected] | None,
                 limits: Limits) -> Iterator[Batch]:
    enc = encoding or _encoding_of(path)
    with open(path, "rb") as raw_file:
        names, delimiter, _, rest = _csv_header(raw_file, source, enc, limits)
        # A column without a name (Excel writes `a;b;;;` when cells beside the table were touched) is
        # read but must stay empty: a value there is a problem of its row.
        unnamed = {f"\x00cell {i}": f"cell {i}" for i, n in enumerate(names, 1) if not n}
        names = [n or f"\x00cell {i}" for i, n in enumerate(names, 1)]
        _check_columns([n for n in names if n not in unnamed], source)
        stream = _CsvStream(raw_file, enc, encoding == "utf-8", rest, source, limits, raw_file.tell() - len(rest))
        stream.detected = encoding is None
        skipped: list[int] = []

        def skip(bad: Any) -> str:
            row = bad.number or (skipped[-1] + 1 if skipped else 1)
            if bad.text.startswith(_CsvStream.MARK.decode()):
                line = stream.unbalanced.pop(int(bad.text[len(_CsvStream.MARK):].strip()), "")
                cell = _open_quote_cell(line, delimiter)
                column = names[cell] if cell < len(names) else f"cell {cell + 1}"
                problem = (column, 'an unbalanced quote: a cell opens " and does not close it on its line; '
                           "expected a closed quote (a line break inside a cell is not accepted)",
                           'ett citattecken som inte avslutas: en cell öppnar " och stänger det inte på sin rad; '
                           "ett avslutat citattecken väntades (en radbrytning inne i en cell tas inte emot)")
            else:
                problem = ("row", f"expected {bad.expected_columns} cells, got {bad.actual_columns}",
                           f"{bad.expected_columns} celler väntades, raden har {bad.actual_columns}")
            if malformed is None:
                return "error"
            malformed.append(Rejected(source, row, "", [problem]))
            skipped.append(row)
            return "skip"

        try:
            reader = _open_csv(stream, names, delimiter, skip, limits)
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):  # a header and no rows: an empty month, not a broken file
                return
            raise
        kept = 0
        for b in reader:
            n = b.num_rows
            cols = dict(zip(b.schema.names, b.columns, strict=True))
            problems: CellProblems = {}
            for key, label in unnamed.items():
                filled = pc.fill_null(pc.not_equal(cols.pop(key), ""), False)
                if key == "\x00cell 1" and pc.any(filled).as_py():  # a table's row numbers, not stray cells
                    raise _unnamed(source, 1, _row_numbers(kept, n, skipped)[
                        pc.indices_nonzero(filled)[0].as_py()].as_py())
                for i in pc.indices_nonzero(filled).to_pylist():
                    problems.setdefault(i, []).append((label, "a value in a column without a name in the header; "
                                                              "expected it empty", "ett värde i en kolumn utan namn "
                                                              "i rubrikraden; den ska vara tom"))
            yield cols, _row_numbers(kept, n, skipped), problems
            kept += n


# -- typed columns (Parquet) --


def _text_type_problem(name: str, t: pa.DataType) -> str | None:
    """Why a typed column cannot be read as text, or None when its values have a canonical text."""
    if pa.types.is_dictionary(t):
        return _text_type_problem(name, t.value_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if name not in LIST_COLUMNS:
            return f"a list; lists are accepted only in {' and '.join(LIST_COLUMNS)}"
        v = t.value_type
        return None if (pa.types.is_string(v) or pa.types.is_large_string(v) or pa.types.is_dictionary(v)
                        or pa.types.is_integer(v)) else f"a list of {v}; expected a list of text"
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t)
            or pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t)
            or pa.types.is_decimal(t) or pa.types.is_date(t) or pa.types.is_timestamp(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t)):
        return None
    return f"of type {t}; expected text, a date, a timestamp at midnight, a boolean, a number or a list of text"


def _text_column(name: str, col: pa.Array, problems: CellProblems) -> pa.Array:
    """A typed column as the text its values say (no guessing): booleans true/false, dates YYYY-MM-DD, a
    timestamp at midnight as its date (any other time of day is a problem for that cell), lists joined by ;."""
    t = col.type
    if pa.types.is_dictionary(t):
        return _text_column(name, col.dictionary_decode(), problems)
    if pa.types.is_string(t):
        return col
    if pa.types.is_null(t):
        return pa.nulls(len(col), pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(col, "true", "false")
    if pa.types.is_timestamp(t):
        clock = pc.add(pc.add(pc.multiply(pc.hour(col), 3600), pc.multiply(pc.minute(col), 60)),
                       pc.add(pc.second(col), pc.subsecond(col)))
        timed = pc.fill_null(pc.not_equal(clock, 0), False)
        if pc.any(timed).as_py():
            for i in pc.indices_nonzero(timed).to_pylist():
                problems.setdefault(i, []).append((name, f"{col[i].as_py()} has a time of day; expected a date "
                                                   "(a timestamp at midnight)", f"{col[i].as_py()} har en tid på "
                                                   "dygnet; ett datum väntades (en tidpunkt vid midnatt)"))
        return pc.strftime(col, "%Y-%m-%d")
    if pa.types.is_list(t) or pa.types.is_large_list(t):  # codes as text (dictionary or integer values too)
        return pc.binary_join(col.cast(pa.list_(pa.string())), ";")
    if pa.types.is_floating(t):  # NaN (a missing value where a writer did not use null) or ±inf is no value to read
        odd = pc.fill_null(pc.invert(pc.is_finite(col)), False)
        if pc.any(odd).as_py():
            for i in pc.indices_nonzero(odd).to_pylist():
                problems.setdefault(i, []).append((name, f"{col[i].as_py()} is not a number; expected a value or an "
                                                   "empty (null) cell", f"{col[i].as_py()} är inget tal; ett värde "
                                                   "eller en tom (null) cell väntades"))
            return pc.if_else(odd, pa.scalar(None, pa.string()), col.cast(pa.string()))
    return col.cast(pa.string())


def _typed_batch(batch: pa.RecordBatch) -> tuple[dict[str, pa.Array], CellProblems]:
    problems: CellProblems = {}
    cols = {name: _text_column(name, col, problems) for name, col in zip(batch.schema.names, batch.columns,
                                                                          strict=True)}
    return cols, problems


_PANDAS_INDEX = re.compile(r"__index_level_[0-9]+__")


def _parquet_batches(path: str | Path, source: str, limits: Limits) -> Iterator[Batch]:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size >= 12:
            f.seek(size - 8)
            tail = f.read(8)
        else:
            tail = b""
    if tail[4:] != b"PAR1":
        raise fail(source, "not a Parquet file (no PAR1 footer)", "inte en Parquet-fil (saknar PAR1 i slutet)")
    footer = int.from_bytes(tail[:4], "little")
    if footer > min(size, limits.footer_bytes):
        raise fail(source, f"the file's metadata is {footer:,} bytes; at most {limits.footer_bytes:,}",
                   f"filens metadata är {footer:,} byte; högst {limits.footer_bytes:,}")
    f = pq.ParquetFile(path)
    md = f.metadata
    if md.num_rows > limits.rows:
        raise fail(source, f"{md.num_rows:,} rows; at most {limits.rows:,} in one file",
                   f"{md.num_rows:,} rader; högst {limits.rows:,} i en fil")
    groups = [md.row_group(i).total_byte_size for i in range(md.num_row_groups)]
    if sum(groups) > limits.decompressed_bytes or max(groups, default=0) > limits.row_group_bytes:
        raise fail(source, f"{sum(groups):,} bytes uncompressed (largest row group {max(groups):,}); at most "
                   f"{limits.decompressed_bytes:,} (a row group at most {limits.row_group_bytes:,})",
                   f"{sum(groups):,} byte okomprimerat (största radgrupp {max(groups):,}); högst "
                   f"{limits.decompressed_bytes:,} (en radgrupp högst {limits.row_group_bytes:,})")
    schema = f.schema_arrow
    # pandas' to_parquet() writes a DataFrame's index (one that is not a plain 0..n-1 range, e.g. after a
    # filter) as __index_level_0__ (…_1__, … for several levels): row labels, not a column of the extract.
    names = [n for n in schema.names if not _PANDAS_INDEX.fullmatch(n)]
    _check_columns(names, source)
    for fld in (schema.field(n) for n in names):
        why = _text_type_problem(fld.name, fld.type)
        if why:
            raise fail(source, f"the column is {why}", f"kolumnen har typen {fld.type}; ska vara text, datum, tidpunkt "
                       "vid midnatt, sant/falskt, tal eller lista av text", column=fld.name)
    n = 0
    for b in f.iter_batches(batch_size=BATCH_ROWS, columns=names):
        cols, problems = _typed_batch(b)
        yield cols, _row_numbers(n, b.num_rows, []), problems
        n += b.num_rows


# -- JSON lines --

_COLUMN_SET = frozenset(COLUMNS)


def _json_text(column: str, v: Any) -> str | Problem | None:
    """A JSON value as its text, or (column, problem): strings as they are, booleans true/false, numbers as
    their JSON text, arrays (in the list columns only) joined by ;."""
    if isinstance(v, str) or v is None:
        return v
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, int | float) and column in ("date", "decision_date"):  # pandas' to_json writes epoch ms
        return (column, "a number; expected a date as text 'YYYY-MM-DD' (pandas: to_json(date_format="
                "'iso'))", "ett tal; ett datum som text 'ÅÅÅÅ-MM-DD' väntades (pandas: "
                "to_json(date_format='iso'))")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list):
        if column not in LIST_COLUMNS:
            return (column, f"a JSON array; arrays are accepted only in {' and '.join(LIST_COLUMNS)}",
                    f"en JSON-lista; listor tas bara emot i {' och '.join(LIST_COLUMNS)}")
        if not all(isinstance(x, str) for x in v):
            return (column, "an array with other values than text; expected an array of codes as strings",
                    "en lista med annat än text; en lista av koder som text väntades")
        return ";".join(v)
    return (column, "a JSON object; expected a string, a boolean, a number or null",
            "ett JSON-objekt; text, sant/falskt, ett tal eller null väntades")


def _jsonl_lines(path: str | Path, source: str, limits: Limits) -> Iterator[tuple[int, list[bytes]]]:
    """(number of the first line, lines) in blocks; a line over the limit fails the file."""
    line = 0
    with open(path, "rb") as f:
        rest = f.read(3).removeprefix(codecs.BOM_UTF8)
        while True:
            chunk = f.read(1 << 22)
            data = rest + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                rest, data = data[cut:], data[:cut]
                if not data and len(rest) <= limits.line_bytes:
                    continue
            else:
                rest = b""
            lines = data.split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            if len(rest) > limits.line_bytes or (lines and max(map(len, lines)) > limits.line_bytes):
                too = next((i for i, x in enumerate(lines) if len(x) > limits.line_bytes), len(lines))
                raise fail(source, f"a line longer than {limits.line_bytes:,} bytes; expected one JSON object per "
                           "line", f"en rad längre än {limits.line_bytes:,} byte; ett JSON-objekt per rad",
                           line=line + too + 1)
            for i in range(0, len(lines), BATCH_ROWS):
                yield line + i + 1, lines[i:i + BATCH_ROWS]
            line += len(lines)
            if not chunk:
                return


def _key_twice(raw: bytes) -> str | None:
    """The first key a JSON object line has twice, or None. Asked only of a line with more colons than
    keys read (every key has one, outside strings): most lines are never parsed twice."""
    return first_repeated(json.loads(raw, object_pairs_hook=lambda kv: kv))


def _jsonl_batches(path: str | Path, source: str, malformed: list[Rejected] | None, limits: Limits) -> Iterator[Batch]:
    for first, lines in _jsonl_lines(path, source, limits):
        if first == 1 and next((x for x in lines if x.strip()), b"").lstrip().startswith(b"["):
            raise fail(source, "a JSON array; expected JSON lines (one JSON object per line, no enclosing [ ])",
                       "en JSON-lista; ska vara JSON lines (ett JSON-objekt per rad, utan omgivande [ ])", line=1)
        cols: dict[str, list[Any]] = {}
        rows: list[int] = []
        problems: CellProblems = {}
        for j, raw in enumerate(lines):
            number = first + j
            if not raw.strip():
                continue
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                why = str(exc).split(':', 1)[0]
                problem = ("row", f"not JSON ({why}); expected one JSON object per line",
                           f"inte JSON ({why}); ett JSON-objekt per rad väntades")
                if malformed is None:
                    raise fail(source, problem[1], "inte JSON; ett JSON-objekt per rad", line=number) from None
                malformed.append(Rejected(source, number, "", [problem]))
                continue
            if not isinstance(rec, dict):
                if malformed is None:
                    raise fail(source, "expected a JSON object", "ska vara ett JSON-objekt", line=number)
                malformed.append(Rejected(source, number, "", [("row", "expected a JSON object per line",
                                                                      "ett JSON-objekt per rad väntades")]))
                continue
            i = len(rows)
            rows.append(number)
            if raw.count(b":") > len(rec):  # a key may be there twice (orjson keeps the last without a word)
                twice = _key_twice(raw)
                if twice is not None:
                    problems.setdefault(i, []).append(
                        (twice, "the key is in this line's JSON object twice; expected each key once",
                         "nyckeln står två gånger i radens JSON-objekt; varje nyckel ska stå en gång"))
            for k, v in rec.items():
                if k not in _COLUMN_SET:
                    raise fail(source, f"unknown column; expected columns from docs/month.md §1: {', '.join(COLUMNS)}",
                               f"okänd kolumn; tillåtna kolumner (docs/month.md §1): {', '.join(COLUMNS)}",
                               line=number, column=k)
                text = v if type(v) is str else _json_text(k, v)
                if type(text) is tuple:
                    problems.setdefault(i, []).append(text)
                    text = None
                col = cols.get(k)
                if col is None:
                    col = cols[k] = [None] * i
                col.append(text)
            for col in cols.values():
                if len(col) <= i:
                    col.append(None)
        if rows:
            yield ({k: pa.array(v, pa.string()) for k, v in cols.items()}, pa.array(rows, pa.int64()), problems)


# -- Excel --


def _excel_text(v: Any) -> str | tuple[str, str, str] | None:
    """An Excel cell as the text it shows: text as it is, a whole number without decimals, TRUE/FALSE as
    true/false, a date (or a date and time at midnight) as YYYY-MM-DD; a time of day is a problem."""
    if isinstance(v, str):
        return v or None
    if v is None:
        return None
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime):
        if v.time() != time(0):
            return "", f"{v.isoformat(sep=' ')} has a time of day; expected a date", \
                f"{v.isoformat(sep=' ')} har en tid på dygnet; ett datum väntades"
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, time | timedelta):
        return "", f"{v} is a time or a duration; expected text or a date", \
            f"{v} är en tid eller en varaktighet; text eller ett datum väntades"
    return str(v)


_XLSX_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_XLSX_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_XLSX_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _cell_place(ref: str) -> tuple[int, int]:
    """'C12' -> (11, 2): a cell reference as a 0-based (row, column)."""
    letters = ref.rstrip("0123456789")
    column = 0
    for ch in letters:
        column = column * 26 + ord(ch.upper()) - 64
    return int(ref[len(letters):]) - 1, column - 1


def _xlsx_error_cells(z: zipfile.ZipFile) -> dict[tuple[int, int], str]:
    """The first sheet's error cells (#N/A, #DIV/0!, #VALUE!, #REF!, ...) by 0-based (row, column).

    python-calamine reads an error cell as an empty one, and an empty `wait_exclusion` means
    "no exclusion": a failed formula would pass as a fact. The sheet's XML says which cells are
    errors (`t="e"`); it is parsed only when that mark is in it at all.
    """
    import xml.etree.ElementTree as ET

    try:
        book = ET.fromstring(z.read("xl/workbook.xml"))
        first = book.find(f"{_XLSX_NS}sheets/{_XLSX_NS}sheet")
        rels = ET.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        target = next(r.get("Target", "") for r in rels.iter(f"{_XLSX_PKG}Relationship")
                      if first is not None and r.get("Id") == first.get(_XLSX_REL))
    except (KeyError, StopIteration, ET.ParseError):
        return {}  # not the usual layout: calamine says what it cannot read
    name = target.lstrip("/") if target.startswith("/") else "xl/" + target
    with z.open(name) as f:
        tail, marked = b"", False
        while block := f.read(1 << 20):
            if b't="e"' in tail + block or b"t='e'" in tail + block:
                marked = True
                break
            tail = block[-8:]
    if not marked:
        return {}
    errors: dict[tuple[int, int], str] = {}
    row, column = -1, -1
    with z.open(name) as f:
        for _, el in ET.iterparse(f, events=("end",)):
            if el.tag == f"{_XLSX_NS}row":
                el.clear()
            elif el.tag == f"{_XLSX_NS}c":
                ref = el.get("r")
                if ref:
                    row, column = _cell_place(ref)
                if el.get("t") == "e":
                    v = el.find(f"{_XLSX_NS}v")
                    errors[(row, column)] = (v.text or "#ERROR") if v is not None else "#ERROR"
    return errors


def _xlsx_batches(path: str | Path, source: str, limits: Limits) -> Iterator[Batch]:
    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(i.file_size for i in z.infolist())
            errors = _xlsx_error_cells(z) if unpacked <= limits.xlsx_bytes else {}
    except (zipfile.BadZipFile, OSError):
        raise fail(source, "not an .xlsx workbook (not a zip file)",
                   "inte en .xlsx-arbetsbok (ingen zip-fil)") from None
    if unpacked > limits.xlsx_bytes:
        raise fail(source, f"the workbook unpacks to {unpacked:,} bytes; at most {limits.xlsx_bytes:,} (save a large "
                   "extract as CSV or Parquet)", f"arbetsboken packas upp till {unpacked:,} byte; högst "
                   f"{limits.xlsx_bytes:,} (spara ett stort uttag som CSV eller Parquet)")
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:
        raise fail(source, "reading .xlsx needs the xlsx extra: pip install 'bup-classifier[xlsx]'",
                   "för att läsa .xlsx behövs tillägget xlsx: pip install 'bup-classifier[xlsx]'") from None
    try:
        sheet = CalamineWorkbook.from_path(os.fspath(path)).get_sheet_by_index(0)
        # iter_rows gives the sheet's rows from its first (a table lower down has empty rows above its header, and
        # fails as a file without a header) and its columns from the first used one (a table may start in column B)
        left = (sheet.start or (0, 0))[1]
        rows = iter(sheet.iter_rows())
        header = next(rows, [])
    except Exception as exc:  # calamine raises its own error types for a damaged workbook
        raise fail(source, f"the workbook cannot be read ({type(exc).__name__})",
                   f"arbetsboken kan inte läsas ({type(exc).__name__})") from None
    names = [str(h).strip() for h in header]
    while names and not names[-1]:
        names.pop()
    _check_columns(names, source)
    width = len(names)
    cols: list[list[Any]] = [[] for _ in names]
    numbers: list[int] = []
    problems: CellProblems = {}
    for number, cells in enumerate(rows, 1):
        if numbers and len(numbers) >= BATCH_ROWS:
            yield ({n: pa.array(c, pa.string()) for n, c in zip(names, cols, strict=True)},
                   pa.array(numbers, pa.int64()), problems)
            cols, numbers, problems = [[] for _ in names], [], {}
        if number > limits.rows:
            raise fail(source, f"more than {limits.rows:,} rows", f"fler än {limits.rows:,} rader")
        failed = {j: errors[(number, left + j)] for j in range(len(cells))
                  if (number, left + j) in errors} if errors else {}
        if not failed and all(c == "" or c is None for c in cells):
            continue
        i = len(numbers)
        numbers.append(number)
        for j, v in enumerate(cells):
            text = _excel_text(v) if j not in failed else (
                "", f"an Excel error cell {failed[j]}: the formula behind it failed; expected a value (or an empty "
                "cell)", f"en felcell i Excel, {failed[j]}: formeln bakom den gick fel; ett värde (eller en tom cell) "
                "väntades")
            if type(text) is tuple:
                problems.setdefault(i, []).append((names[j] if j < width else f"cell {j + 1}", text[1], text[2]))
                text = None
            if j < width:
                cols[j].append(text)
            elif text:
                problems.setdefault(i, []).append((f"cell {j + 1}", "a value in a column without a header",
                                                   "ett värde i en kolumn utan rubrik"))
        for j in range(len(cells), width):
            cols[j].append(None)
    if numbers:
        yield {n: pa.array(c, pa.string()) for n, c in zip(names, cols, strict=True)}, pa.array(numbers, pa.int64()), \
            problems


_MIDNIGHT = r"^(\d{4}-\d{2}-\d{2})[T ]00:00(?::00(?:\.0{1,9})?)?$"  # no zone: its date is the date written


def _blank_as_null(batch: Batch) -> Batch:
    """An empty text cell as no value, as the CSV and Excel readers read one (a warehouse's Parquet or JSON
    often writes '' for nothing): the rows then read alike whatever the format, and the fold's column-wise
    check (events.table_rows), which takes only null for an empty optional cell, does not leave them to
    to_row (85 % of a Parquet region's rows went the slow way, the month 3-5 s slower than its CSV)."""
    cols, numbers, problems = batch
    for name, col in cols.items():
        if pa.types.is_string(col.type) and pc.any(pc.equal(col, "")).as_py():
            cols[name] = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    return cols, numbers, problems


def _midnight_as_date(batch: Batch) -> Batch:
    """A text date-time at midnight without a zone as its date, as a typed one is read (Parquet, Excel):
    pandas' to_json(date_format='iso') writes 2026-03-04T00:00:00.000, a warehouse 2026-03-04 00:00:00.
    A time of day, or a zone (Z, +01:00: which day is meant?), stays as written and fails as a date."""
    cols, numbers, problems = batch
    for name in ("date", "decision_date"):
        col = cols.get(name)
        if col is not None and pc.any(pc.match_substring(col, "00:00")).as_py():
            cols[name] = pc.replace_substring_regex(col, _MIDNIGHT, r"\1")
    return cols, numbers, problems


def batches(path: str | Path, malformed: list[Rejected] | None = None, limits: Limits | None = None) -> Iterator[Batch]:
    """The extract's rows in record batches: every column as text (missing columns are absent), each row's
    number (CSV: data rows; JSON lines: lines; Parquet, xlsx: data rows) and the cell problems found reading.

    A CSV line that cannot be parsed (wrong number of cells, an unbalanced quote), or a JSON line that is no
    object, is skipped into `malformed` (the rows around it keep their numbers).
    """
    limits = limits or LIMITS
    kind, source = kind_of(path), Path(path).name
    encoding = getattr(path, "encoding", None)
    try:
        if kind == "parquet":
            yield from map(_blank_as_null, _parquet_batches(path, source, limits))
        elif kind == "jsonl":
            yield from map(_midnight_as_date, map(_blank_as_null, _jsonl_batches(path, source, malformed, limits)))
        elif kind == "xlsx":
            yield from _xlsx_batches(path, source, limits)
        else:
            yield from map(_midnight_as_date, _csv_batches(path, source, encoding, malformed, limits))
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        message = redact(str(exc).split("\n")[0])
        if kind == "csv" and "UTF8" in message:
            raise fail(source, "the bytes are not UTF-8 text further on; say the file's encoding with --encoding "
                       "(utf-8 or windows-1252)", "byten är inte UTF-8-text längre fram i filen; ange filens "
                       "teckenkodning med --encoding (utf-8 eller windows-1252)") from None
        if "straddling" in message:
            raise fail(source, "a line longer than the reader's block; expected one row per line",
                       "en rad längre än läsarens block; en rad per händelse") from None
        raise fail(source, f"cannot be read as {kind}: {message}", f"kan inte läsas som {kind}: {message}") from None


# ---- partitioning by patient ---------------------------------------------------------------------


@dataclass
class Partition:
    """Bucket files of whole patients, and what was learnt on the way (duplicates, identity rows)."""

    files: list[Path]
    names: list[str]  # extract file names, by _file
    rows: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: set[tuple[int, int]] = field(default_factory=set)  # (file, row) of rows to leave out: later copies


# A cell can only hold an identity number in privacy's sense (any spelling: other digits, other
# separators, invisible characters, percent-encoding) if it has a character outside printable ASCII
# (but `%` and `\`) and letters (but the Hangul fillers, which show nothing), or ten ASCII digits
# joined by runs of ASCII separators. Marks (combining accents, variation selectors) and control
# characters are outside both, so they are suspect. The sieve finds the rows, then the cells, that
# may; only their distinct values are given to the real test. The join character is neither a
# digit nor a separator nor suspect, so no match spans two cells.
_SIEVE = (r"[^\x20-\x24\x26-\x5b\x5d-\x7e\p{L}]|[\x{115F}\x{1160}\x{3164}\x{FFA0}]"
          r"|[0-9](?:[ \-./_,:+]*[0-9]){9}")
_JOIN = "|"
_POS_BITS = 40  # a row's place in the extracts as one int: file << 40 | row (first copy = smallest)


IDENTITY = "looks like a Swedish personal identity or coordination number (value not copied)"
IDENTITY_SV = "ser ut som ett personnummer eller samordningsnummer (värdet kopieras inte)"


def _nul_in(col: pa.Array) -> bool:
    """Whether a text column's data holds a NUL byte anywhere (a scan of its buffer at memory speed)."""
    data = col.buffers()[2] if len(col.buffers()) > 2 else None
    return data is not None and data.size > 0 and data.to_pybytes().find(b"\x00") >= 0


def _without(n: int, rows: CellProblems) -> pa.Array:
    """A mask of n rows, false at the rows with problems."""
    return pc.invert(pc.is_in(_numbers(0, n), value_set=pa.array(list(rows), pa.int64())))


def _identity_cells(cols: dict[str, pa.Array], rows: pa.Array) -> list[tuple[int, str]]:
    """(row, column) of every cell, among `rows`, that privacy.looks_like_identity_number refuses: each
    column's suspect cells by the sieve, each distinct value tested once (a unit's name repeats)."""
    found: list[tuple[int, str]] = []
    if not len(rows):
        return found
    for name, col in cols.items():
        cells = col.take(rows)
        suspect = pc.fill_null(pc.match_substring_regex(cells, _SIEVE), False)
        if not pc.any(suspect).as_py():
            continue
        bad = [v for v in pc.unique(cells.filter(suspect)).to_pylist() if looks_like_identity_number(v)]
        if bad:
            hit = pc.and_(suspect, pc.is_in(cells, value_set=pa.array(bad, pa.string())))
            found += [(i, name) for i in pc.take(rows, pc.indices_nonzero(hit)).to_pylist()]
    return found


def _cell_problems(cols: dict[str, pa.Array], found: CellProblems, limits: Limits) -> CellProblems:
    """Row -> (column, problem) for every cell no row may carry, beside those `found` while reading: a cell
    over the limit, an identity number (any column, any type: checked on the canonical text), a NUL byte.

    Over-long cells are found first by their byte length (no row of theirs is copied anywhere, so the
    rest of the check skips them). One regex pass over the joined rows finds the few that may hold an
    identity number (`_SIEVE`); only their suspect cells' distinct values meet privacy's real test.
    """
    problems: CellProblems = {i: list(p) for i, p in found.items()}
    joined = pc.binary_join_element_wise(*(pc.fill_null(c, "") for c in cols.values()), _JOIN)
    widest = pc.max(pc.binary_length(joined)).as_py() or 0
    for name, col in cols.items() if widest > limits.cell_chars else ():  # no row that long: no cell either
        longest = pc.max(pc.binary_length(col)).as_py()
        if longest is not None and longest > limits.cell_chars:
            chars = pc.utf8_length(col)
            rows = pc.indices_nonzero(pc.fill_null(pc.greater(chars, limits.cell_chars), False))
            for i, k in zip(rows.to_pylist(), pc.take(chars, rows).to_pylist(), strict=True):
                problems.setdefault(i, []).append((name, f"{k:,} characters; at most {limits.cell_chars:,} in a "
                                                         "cell (value not copied)", f"{k:,} tecken; högst "
                                                         f"{limits.cell_chars:,} i en cell (värdet kopieras inte)"))
    index: list[int] | None = None
    if problems:  # the rows already refused are not searched again
        kept = pc.indices_nonzero(_without(len(joined), problems))
        if not len(kept):
            return problems
        index = kept.to_pylist()
        cols = {name: col.take(kept) for name, col in cols.items()}
        joined = joined.take(kept)
    for j, name in _identity_cells(cols, pc.indices_nonzero(pc.match_substring_regex(joined, _SIEVE))):
        problems.setdefault(j if index is None else index[j], []).append((name, IDENTITY, IDENTITY_SV))
    if any(_nul_in(c) for c in cols.values()):  # a byte scan of the columns' data first: NUL is rare
        for name, col in cols.items():
            for j in pc.indices_nonzero(pc.fill_null(pc.match_substring(col, "\x00"), False)).to_pylist():
                problems.setdefault(j if index is None else index[j], []).append(
                    (name, "a NUL byte (U+0000); expected text", "en NUL-byte (U+0000); text väntades"))
    return problems


def _duplicates(ids: list[pa.Array], positions: list[pa.Array], part: Partition) -> None:
    """Later copies of an event_id (in extract order) into `part.rejected` and `part.duplicates`."""
    if not ids:
        return
    table = pa.table({"id": pa.chunked_array(ids, pa.string()), "pos": pa.chunked_array(positions, pa.int64())})
    counts = pc.value_counts(table["id"])  # one hash pass in C++
    repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    repeated = pc.drop_null(repeated)
    if len(repeated) == 0:
        return
    copies = table.filter(pc.is_in(table["id"], value_set=repeated))
    first: dict[str, int] = {}
    mask = (1 << _POS_BITS) - 1
    for eid, pos in sorted(zip(copies["id"].to_pylist(), copies["pos"].to_pylist(), strict=True),
                           key=lambda x: x[1]):
        if first.setdefault(eid, pos) == pos:
            continue
        file_no, row = pos >> _POS_BITS, pos & mask
        f_file, f_row = first[eid] >> _POS_BITS, first[eid] & mask
        where = f"row {f_row}" + ("" if f_file == file_no else f" of {part.names[f_file]}")
        where_sv = f"först på datarad {f_row}" + ("" if f_file == file_no else f" i {part.names[f_file]}")
        part.duplicates.add((file_no, row))
        part.rejected.append(Rejected(part.names[file_no], row, eid, [
            ("event_id", f"duplicate event_id (first at {where}); expected unique ids",
             f"event_id finns redan ({where_sv}); varje id ska vara unikt")]))


@dataclass
class _Split:
    """One record batch made ready for the bucket files (in a thread: Arrow's kernels release the GIL)."""

    rejected: list[Rejected]
    ids: pa.Array | None
    positions: pa.Array | None
    pieces: list[tuple[int, pa.RecordBatch]]  # (bucket, its rows)
    rows: int


def _split(batch: Batch, file_no: int, name: str, buckets: int, limits: Limits) -> _Split:
    cols, numbers, found = batch
    n = len(numbers)
    problems = _cell_problems(cols, found, limits)
    where = numbers.to_pylist() if problems else []
    ids_of = cols["event_id"].take(pa.array(sorted(problems), pa.int64())).to_pylist() \
        if problems and "event_id" in cols else [None] * len(problems)
    rejected = [Rejected(name, where[i], "" if eid is None or any(c[0] == "event_id" for c in p) else eid, p)
                for (i, p), eid in zip(sorted(problems.items()), ids_of, strict=True)]
    full = pa.RecordBatch.from_arrays(
        [cols.get(c, pa.nulls(n, pa.string())) for c in COLUMNS]
        + [numbers, pa.repeat(pa.scalar(file_no, pa.int32()), n)], schema=SCHEMA)
    if problems:  # the row is gone before anything is written: its values reach no file
        full = full.filter(_without(n, problems))
    _patient_rows(full.column("patient_ref"), name, full.column("_row"), limits)
    ids = positions = None
    if "event_id" in cols:
        ids = full.column("event_id")
        positions = pc.add(full.column("_row"), file_no << _POS_BITS)
    refs = full.column("patient_ref").cast(pa.binary()).to_pylist()
    bucket = pa.array([zlib.crc32(r) % buckets if r else 0 for r in refs], pa.int32())
    order = pc.sort_indices(bucket)
    full, bucket = full.take(order), bucket.take(order)
    pieces, start = [], 0
    for item in pc.value_counts(bucket).to_pylist():  # sorted, so in bucket order
        pieces.append((item["values"], full.slice(start, item["counts"])))
        start += item["counts"]
    return _Split(rejected, ids, positions, pieces, n)


def _patient_rows(refs: pa.Array | pa.ChunkedArray, source: str, rows: pa.Array | None, limits: Limits) -> None:
    """Fail when one patient has more rows than a patient may (a patient is folded in memory)."""
    if len(refs) <= limits.rows_per_patient:
        return
    counts = pc.value_counts(refs)
    most = pc.max(counts.field("counts")).as_py()
    if most > limits.rows_per_patient:
        ref = counts.field("values")[pc.index(counts.field("counts"), most).as_py()].as_py()
        span = f" (rows {rows[0].as_py()}–{rows[len(rows) - 1].as_py()})" if rows is not None and len(rows) else ""
        raise fail(source, f"patient_ref {ref!r} has more than {limits.rows_per_patient:,} rows{span}; expected at "
                   f"most {limits.rows_per_patient:,} rows per patient",
                   f"patient_ref {ref!r} har fler än {limits.rows_per_patient:,} rader{span}; högst "
                   f"{limits.rows_per_patient:,} rader per patient", column="patient_ref")


def partition(paths: list[str | Path], out: Path, buckets: int) -> Partition:
    """Stream every extract into `buckets` IPC files by patient; identity rows and duplicate ids are rejected.

    Batches are read in order and split by two threads, a few batches ahead (memory stays
    bounded); writing stays in this thread. A duplicate's later copies still reach a
    bucket; `Partition.duplicates` says which rows the fold leaves out (found at the end,
    by Arrow, so no set of every id is held in Python).
    """
    limits = LIMITS
    out.mkdir(parents=True, exist_ok=True)
    files = [out / f"bucket_{k:04d}.arrow" for k in range(buckets)]
    writers: list[Any] = [None] * buckets
    part = Partition(files=[], names=[Path(p).name for p in paths])
    ids: list[pa.Array] = []
    positions: list[pa.Array] = []

    def take(split: _Split) -> None:
        part.rejected.extend(split.rejected)
        part.rows += split.rows
        if len(part.rejected) > limits.rejected_rows:
            first = part.rejected[0]
            raise fail(first.file, f"more than {limits.rejected_rows:,} rows cannot be read; the first: row "
                       f"{first.row}, {first.problems[0][0]}: {first.problems[0][1]}",
                       f"fler än {limits.rejected_rows:,} rader kan inte läsas; den första: datarad {first.row}, "
                       f"{first.problems[0][0]}: {first.problems[0][1]}")
        if split.ids is not None:
            ids.append(split.ids)
            positions.append(split.positions)
        for k, piece in split.pieces:
            if writers[k] is None:
                writers[k] = ipc.new_file(files[k], SCHEMA)
            writers[k].write_batch(piece)

    pool = ThreadPoolExecutor(2, thread_name_prefix="bup-partition")
    try:
        ahead: deque[Future[_Split]] = deque()
        for file_no, path in enumerate(paths):
            rows = 0
            for batch in batches(path, part.rejected, limits):
                rows += len(batch[1])
                if rows > limits.rows:
                    raise fail(part.names[file_no], f"more than {limits.rows:,} rows in one file",
                               f"fler än {limits.rows:,} rader i en fil")
                ahead.append(pool.submit(_split, batch, file_no, part.names[file_no], buckets, limits))
                while len(ahead) > 3:
                    take(ahead.popleft().result())
        while ahead:
            take(ahead.popleft().result())
        pool.shutdown()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # the batches read ahead are not split for nothing
        raise
    finally:
        for w in writers:
            if w is not None:
                w.close()
    _duplicates(ids, positions, part)
    part.files = [f for f, w in zip(files, writers, strict=True) if w is not None]
    return part


def read_table(path: Path) -> pa.Table:
    """A bucket's rows, once no patient in it has more rows than a patient may."""
    with ipc.open_file(path) as f:
        table = f.read_all()
    _patient_rows(table.column("patient_ref"), "extract", None, LIMITS)
    return table


def read_bucket(path: Path) -> list[dict[str, Any]]:
    """A bucket's rows as dicts (the fold reads the table itself: read_table)."""
    return read_table(path).to_pylist()


# ---- one row -> one event ----------------------------------------------------------------------------


def _bool(value: str | None, column: str, problems: list[Problem]) -> bool | None:
    if value is None or value == "":
        return None
    v = value.strip().lower()
    if v in TRUE_TEXT:
        return True
    if v in FALSE_TEXT:
        return False
    problems.append((column, f"{value!r}; expected {'/'.join(TRUE_TEXT)} or {'/'.join(FALSE_TEXT)} (any case) "
                             "or empty", f"{value!r}; ska vara {'/'.join(TRUE_TEXT)} eller {'/'.join(FALSE_TEXT)} "
                             "(stora eller små bokstäver) eller tom"))
    return None


_LIST_SEPARATORS = str.maketrans({",": ";"})


def _list(value: str | None) -> list[str]:
    """A list cell: codes separated by ; (or , as a semicolon file's quoted cell writes them)."""
    return [v.strip() for v in value.translate(_LIST_SEPARATORS).split(";") if v.strip()] if value else []


_REGISTERED: dict[int, tuple[RuleSet, dict[str, str]]] = {}


def registered_types(ruleset: RuleSet) -> dict[str, str]:
    """What a journal may write in registered_contact_type -> the contact type: each code and its Swedish
    label from the rule set's contact_types table (the labels' one home), whole and each part of a label
    written `a/b`, any case."""
    hit = _REGISTERED.get(id(ruleset))
    if hit is not None and hit[0] is ruleset:
        return hit[1]
    out: dict[str, str] = {}
    for code, spec in ruleset.tables["contact_types"]["contact_types"].items():
        label = spec["label_sv"]
        for text in (code, label, *label.split("/")):
            out.setdefault(text.strip().casefold(), code)
    _REGISTERED[id(ruleset)] = (ruleset, out)
    return out


def _blank(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != ""}


# A contact's text fields and the columns they come from (empty cells are left out, so the model's
# defaults apply); its id is contact_id, or the event_id when the extract has no contact id.
_CONTACT_TEXT = (("date", "date"), ("setting", "setting"), ("activity", "activity"),
                 ("health_problem", "health_problem"), ("treatment_modality", "treatment_modality"),
                 ("contact_form", "contact_form"), ("decision_date", "decision_date"),
                 ("wait_exclusion", "wait_exclusion"))


def _problems_of(exc: ValidationError, prefix: str = "") -> list[Problem]:
    """A model's errors by column, each with its Swedish text (classifier.errors' wording)."""
    out = []
    for e in exc.errors(include_url=False):
        loc = [str(x) for x in e["loc"] if not isinstance(x, int)]
        name = loc[-1] if loc else "row"
        if loc[:1] == ["evi_assessment"] and len(loc) > 1:
            name = prefix + loc[1]
        out.append((FIELD_COLUMN.get(name, name), e["msg"].removeprefix("Value error, "), pydantic_words(e)[1]))
    return out


def to_row(rec: dict[str, Any], ruleset: RuleSet, names: list[str]) -> Row | Rejected:
    """A row of the extract as its timeline event, or every problem it has by column."""
    problems: list[Problem] = []
    etype = rec.get("event_type")
    if not (rec.get("patient_ref") and rec.get("event_id") and etype and rec.get("date")):
        problems += [(col, "required", REQUIRED_SV) for col in ("patient_ref", "event_id", "event_type", "date")
                     if not rec.get(col)]
    if etype and etype not in EVENT_TYPES:
        problems.append(("event_type", f"{etype!r}; expected one of {', '.join(EVENT_TYPES)}",
                         f"{etype!r}; ska vara en av {', '.join(EVENT_TYPES)}"))
    written = rec.get("registered_contact_type") or None
    registered = None if written is None else registered_types(ruleset).get(written.strip().casefold())
    unknown = written if written is not None and registered is None and written.strip() else None
    if etype in ("care_request", "decision", "contact") and not (rec.get("region") and rec.get("unit")):
        problems += [(c, "required", REQUIRED_SV) for c in ("region", "unit") if not rec.get(c)]
    event: Any = None
    if etype in EVENT_TYPES:  # every problem of the row, not only the first
        checklist = ruleset.checklist_fields
        try:
            if etype == "contact":
                contact: dict[str, Any] = {"id": rec.get("contact_id") or rec.get("event_id"),
                                           "medications_atc": _list(rec.get("medications_atc")),
                                           "kva_codes": _list(rec.get("kva_codes"))}
                for key, col in _CONTACT_TEXT:
                    if value := rec.get(col):
                        contact[key] = value
                urgent = _bool(rec.get("urgent"), "urgent", problems)
                if urgent is not None:
                    contact["urgent"] = urgent
                if not contact["id"]:
                    del contact["id"]
                event = TimelineContact.model_validate({"type": "contact", "contact": contact})
            elif etype == "care_request":
                evi = {checklist[c]: _bool(rec.get(c), c, problems) for c in CHECKLIST_COLUMNS if c in checklist}
                evi = _blank(evi)
                event = TimelineCareRequest.model_validate(_blank({
                    "type": "care_request", "date": rec.get("date"), "pathway": rec.get("pathway"),
                    "evi_assessment": evi or None, "wait_exclusion": rec.get("wait_exclusion")}))
                ev = event.evi_assessment
                if ev is not None and ev.structured_assessment_sufficient and ev.referrer_assessment_doubted:
                    # definitions.md §4.8: D2 true with X1 true is rejected. Kept, the care request's waiting list would
                    # rest on a guess of which answer was meant (X1 true: a first-visit wait; D2: a direct start).
                    doubt = {v: k for k, v in checklist.items()}["referrer_assessment_doubted"]
                    problems.append((doubt, "contradicts D2 true (BUP judged the assessment enough to start without "
                                     "another contact); expected false or empty when D2 is true",
                                     "motsäger D2 = ja (BUP bedömde att bedömningen räcker för att starta utan ny "
                                     "kontakt); ska vara nej eller tom när D2 är ja"))
            elif etype == "decision":
                event = TimelineDecision.model_validate(_blank({
                    "type": "decision", "date": rec.get("date"), "area": rec.get("area"),
                    "health_problem": rec.get("health_problem"), "treatment_modality": rec.get("treatment_modality"),
                    "wait_exclusion": rec.get("wait_exclusion")}))
            elif etype == "investigation_concluded":
                event = InvestigationConcluded.model_validate(_blank({
                    "type": etype, "date": rec.get("date"), "health_problem": rec.get("health_problem")}))
            elif etype == "treatment_concluded":
                event = TreatmentConcluded.model_validate(_blank({
                    "type": etype, "date": rec.get("date"), "health_problem": rec.get("health_problem"),
                    "treatment_modality": rec.get("treatment_modality")}))
            else:
                event = CareClosed.model_validate({"type": etype, "date": rec.get("date")})
        except ValidationError as exc:
            reverse = {v: k for k, v in checklist.items()}
            problems += [(reverse.get(c, c), m, sv) for c, m, sv in _problems_of(exc)]
    if problems:
        required = {c for c, m, _ in problems if m == "required"}
        unique = list(dict.fromkeys(p for p in problems if p[0] not in required or p[1] == "required"))
        return Rejected(names[rec["_file"]], rec["_row"], rec.get("event_id") or "", unique)
    return Row(event, rec["event_id"], rec["patient_ref"], rec.get("region") or "", rec.get("unit") or "",
               registered, rec["_file"], rec["_row"], event.date, unknown)
