"""A region's extract (docs/month.md §1): read as a stream, partitioned by patient, rows -> timeline events.

Read with pyarrow (CSV, JSON lines and Parquet in one library, streamed in record batches,
with a C++ CSV parser): every column is read as text, so each format is checked by the
same row reader and a bad cell is a rejected row naming its column, never a failed file.

Memory does not grow with the file: rows are written, as they stream past, to one Arrow
IPC file per bucket of patients (a hash of `patient_ref`), so the extract may come in any
order and in several files (consecutive months); each bucket then holds whole patients
and is folded on its own, in parallel. A row with an identity number anywhere is rejected
and its value is never written to any bucket or output.
"""

from __future__ import annotations

import io
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.json as pajson
import pyarrow.parquet as pq
from pydantic import ValidationError

from classifier.models import (
    CareClosed,
    InvestigationConcluded,
    TimelineCareRequest,
    TimelineContact,
    TimelineDecision,
    TreatmentConcluded,
)
from classifier.privacy import looks_like_identity_number
from classifier.ruleset import RuleSet

CHECKLIST_COLUMNS = ("D1", "D2", "D3", "D4", "D5", "D6", "D7", "X1")
COLUMNS = (
    "patient_ref", "event_id", "event_type", "date", "region", "unit", "pathway", *CHECKLIST_COLUMNS, "area",
    "health_problem", "treatment_modality", "contact_id", "setting", "activity", "urgent", "contact_form",
    "medications_atc", "kva_codes", "decision_date", "wait_exclusion", "registered_contact_type",
)
EVENT_TYPES = ("care_request", "decision", "contact", "investigation_concluded", "treatment_concluded", "care_closed")
CONTACT_TYPES = ("first_visit", "investigation", "treatment", "return_visit", "acute", "outside_model")
SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS] + [("_row", pa.int64()), ("_file", pa.int32())])
# Which column a model field's error belongs to (the rest keep their name).
FIELD_COLUMN = {"id": "contact_id", "received_date": "date", "type": "event_type"}


class ExtractError(ValueError):
    """The extract as a whole cannot be read (unknown file kind or column, unreadable file)."""


@dataclass
class Rejected:
    """A row that cannot be read: its file, row number (data rows, 1-based) and every problem by column."""

    file: str
    row: int
    event_id: str
    problems: list[tuple[str, str]]


@dataclass
class Row:
    """One readable row: its event model and what the month layer keeps beside it."""

    event: Any
    event_id: str
    patient_ref: str
    region: str
    unit: str
    registered: str | None
    file: int
    row: int
    date: date  # the event's date (read once: a contact's is a property of the event)


# ---- reading ---------------------------------------------------------------------------------------


class _Uncommented(io.RawIOBase):
    """A CSV byte stream without its `#` comment lines (docs/month.md §1), read in large chunks."""

    def __init__(self, raw: io.BufferedReader):
        self.raw, self.buffer, self.rest = raw, b"", b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.buffer:
            chunk = self.raw.read(1 << 20)
            if not chunk:
                self.buffer, self.rest = self.rest, b""
                if not self.buffer:
                    return 0
                break
            data = self.rest + chunk
            cut = data.rfind(b"\n") + 1
            self.rest, data = data[cut:], data[:cut]
            if b"#" in data:
                data = b"".join(line for line in data.splitlines(keepends=True) if not line.startswith(b"#"))
            self.buffer = data
        n = min(len(b), len(self.buffer))
        b[:n] = self.buffer[:n]
        self.buffer = self.buffer[n:]
        return n


def kind_of(path: str | Path) -> str:
    name = str(path).lower()
    for suffix, kind in ((".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"),
                         (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(suffix):
            return kind
    raise ExtractError(f"{path}: expected an extract ending in .csv, .jsonl or .parquet")


def _check_columns(names: list[str], source: str) -> None:
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise ExtractError(f"{source}: unknown column(s) {', '.join(map(repr, unknown))}; "
                           f"expected columns from docs/month.md §1: {', '.join(COLUMNS)}")
    if "patient_ref" not in names or "event_type" not in names:
        raise ExtractError(f"{source}: the columns 'patient_ref' and 'event_type' are required")


def _as_text(batch: pa.RecordBatch | pa.Table) -> dict[str, pa.Array]:
    out = {}
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if pa.types.is_boolean(col.type):
            col = pc.if_else(col, "true", "false")
        out[name] = col if pa.types.is_string(col.type) else col.cast(pa.string())
    return out


def batches(path: str | Path, malformed: list[Rejected] | None = None) -> Iterator[dict[str, pa.Array]]:
    """The extract's rows in record batches, every column as text (missing columns are absent).

    A CSV line with the wrong number of cells is skipped into `malformed` (its row is the
    line's number in the file without comment lines: the data rows around it keep theirs).
    """
    kind, source = kind_of(path), Path(path).name
    try:
        if kind == "parquet":
            f = pq.ParquetFile(path)
            _check_columns(f.schema_arrow.names, source)
            for b in f.iter_batches(batch_size=65536):
                yield _as_text(b)
        elif kind == "jsonl":
            table = pajson.read_json(path)  # pyarrow's JSON reader reads blocks; the table is columnar
            _check_columns(table.schema.names, source)
            for b in table.to_batches(max_chunksize=65536):
                yield _as_text(b)
        else:
            with open(path, "rb") as raw:
                stream = io.BufferedReader(_Uncommented(raw), 1 << 20)
                header = stream.peek(1 << 16).split(b"\n", 1)[0].decode("utf-8").strip().split(",")
                _check_columns(header, source)
                def skip(bad: Any) -> str:
                    if malformed is None:
                        return "error"
                    malformed.append(Rejected(source, bad.number or 0, "", [
                        ("row", f"expected {bad.expected_columns} cells, got {bad.actual_columns}")]))
                    return "skip"

                reader = pacsv.open_csv(
                    stream, read_options=pacsv.ReadOptions(block_size=1 << 22, use_threads=False),
                    parse_options=pacsv.ParseOptions(invalid_row_handler=skip),
                    convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                                         strings_can_be_null=True, quoted_strings_can_be_null=False),
                )
                for b in reader:
                    yield _as_text(b)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise ExtractError(f"{source}: cannot be read as {kind}: {exc}") from None


# ---- partitioning by patient ---------------------------------------------------------------------


@dataclass
class Partition:
    """Bucket files of whole patients, and what was learnt on the way (duplicates, identity rows)."""

    files: list[Path]
    names: list[str]  # extract file names, by _file
    rows: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: set[tuple[int, int]] = field(default_factory=set)  # (file, row) of rows to leave out: later copies


# Every identity-number candidate (privacy._CANDIDATE: six date digits, up to three separators of
# any kind, four digits) matches this, so a row that does not cannot hold one; the few that do
# are checked cell by cell with the real test. Columns are joined with four separators so that
# no match spans two cells.
_SIEVE = r"[0-9]{6}[^0-9]{0,3}[0-9]{4}"
_JOIN = "\x1f" * 4
_POS_BITS = 40  # a row's place in the extracts as one int: file << 40 | row (first copy = smallest)


def _identity_rows(cols: dict[str, pa.Array]) -> dict[int, list[str]]:
    """Row -> the columns holding an identity-number-shaped value, for the rows that have one."""
    joined = pc.binary_join_element_wise(*(pc.fill_null(c, "") for c in cols.values()), _JOIN)
    hits: dict[int, list[str]] = {}
    for i in pc.indices_nonzero(pc.match_substring_regex(joined, _SIEVE)).to_pylist():
        names = [name for name, col in cols.items()
                 if (v := col[i].as_py()) is not None and looks_like_identity_number(v)]
        if names:
            hits[i] = names
    return hits


_COUNTING = pa.array(range(1 << 16), pa.int64())


def _numbers(first: int, n: int) -> pa.Array:
    """first, first + 1, ... (n of them) as int64, without a Python int per row."""
    global _COUNTING
    counting = _COUNTING  # read once: threads may grow it meanwhile
    if len(counting) < n:
        counting = _COUNTING = pa.array(range(max(n, 2 * len(counting))), pa.int64())
    return pc.add(counting.slice(0, n), first)


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
        part.duplicates.add((file_no, row))
        part.rejected.append(Rejected(part.names[file_no], row, eid, [
            ("event_id", f"duplicate event_id (first at {where}); expected unique ids")]))


@dataclass
class _Split:
    """One record batch made ready for the bucket files (in a thread: Arrow's kernels release the GIL)."""

    rejected: list[Rejected]
    ids: pa.Array | None
    positions: pa.Array | None
    pieces: list[tuple[int, pa.RecordBatch]]  # (bucket, its rows)
    rows: int


def _split(cols: dict[str, pa.Array], file_no: int, name: str, row0: int, buckets: int) -> _Split:
    n = len(next(iter(cols.values())))
    identity = _identity_rows(cols)
    rejected = [Rejected(name, row0 + i + 1, "", [
        (c, "looks like a Swedish personal identity or coordination number (value not copied)") for c in names])
        for i, names in identity.items()]
    full = pa.RecordBatch.from_arrays(
        [cols.get(c, pa.nulls(n, pa.string())) for c in COLUMNS]
        + [_numbers(row0 + 1, n), pa.repeat(pa.scalar(file_no, pa.int32()), n)], schema=SCHEMA)
    if identity:  # the row is gone before anything is written: its values reach no file
        full = full.filter(pa.array([i not in identity for i in range(n)]))
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


def partition(paths: list[str | Path], out: Path, buckets: int) -> Partition:
    """Stream every extract into `buckets` IPC files by patient; identity rows and duplicate ids are rejected.

    Batches are read in order and split by two threads, a few batches ahead (memory stays
    bounded); writing stays in this thread. A duplicate's later copies still reach a
    bucket; `Partition.duplicates` says which rows the fold leaves out (found at the end,
    by Arrow, so no set of every id is held in Python).
    """
    out.mkdir(parents=True, exist_ok=True)
    files = [out / f"bucket_{k:04d}.arrow" for k in range(buckets)]
    writers: list[Any] = [None] * buckets
    part = Partition(files=[], names=[Path(p).name for p in paths])
    ids: list[pa.Array] = []
    positions: list[pa.Array] = []

    def take(split: _Split) -> None:
        part.rejected.extend(split.rejected)
        part.rows += split.rows
        if split.ids is not None:
            ids.append(split.ids)
            positions.append(split.positions)
        for k, piece in split.pieces:
            if writers[k] is None:
                writers[k] = ipc.new_file(files[k], SCHEMA)
            writers[k].write_batch(piece)

    try:
        with ThreadPoolExecutor(2, thread_name_prefix="bup-partition") as pool:
            ahead: deque[Future[_Split]] = deque()
            for file_no, path in enumerate(paths):
                row0 = 0
                for cols in batches(path, part.rejected):
                    ahead.append(pool.submit(_split, cols, file_no, part.names[file_no], row0, buckets))
                    row0 += len(next(iter(cols.values())))
                    while len(ahead) > 3:
                        take(ahead.popleft().result())
            while ahead:
                take(ahead.popleft().result())
    finally:
        for w in writers:
            if w is not None:
                w.close()
    _duplicates(ids, positions, part)
    part.files = [f for f, w in zip(files, writers, strict=True) if w is not None]
    return part


def read_bucket(path: Path) -> list[dict[str, Any]]:
    with ipc.open_file(path) as f:
        return f.read_all().to_pylist()


# ---- one row -> one event ----------------------------------------------------------------------------


def _bool(value: str | None, column: str, problems: list[tuple[str, str]]) -> bool | None:
    if value is None or value == "":
        return None
    v = value.strip().lower()
    if v in ("true", "1", "ja", "yes"):
        return True
    if v in ("false", "0", "nej", "no"):
        return False
    problems.append((column, f"{value!r} is not true, false or empty"))
    return None


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()] if value else []


def _blank(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != ""}


# A contact's text fields and the columns they come from (empty cells are left out, so the model's
# defaults apply); its id is contact_id, or the event_id when the extract has no contact id.
_CONTACT_TEXT = (("date", "date"), ("setting", "setting"), ("activity", "activity"),
                 ("health_problem", "health_problem"), ("treatment_modality", "treatment_modality"),
                 ("contact_form", "contact_form"), ("decision_date", "decision_date"),
                 ("wait_exclusion", "wait_exclusion"))


def _problems_of(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for e in exc.errors():
        loc = [str(x) for x in e["loc"] if not isinstance(x, int)]
        name = loc[-1] if loc else "row"
        if loc[:1] == ["evi_assessment"] and len(loc) > 1:
            name = prefix + loc[1]
        out.append((FIELD_COLUMN.get(name, name), e["msg"].removeprefix("Value error, ")))
    return out


def to_row(rec: dict[str, Any], ruleset: RuleSet, names: list[str]) -> Row | Rejected:
    """A row of the extract as its timeline event, or every problem it has by column."""
    problems: list[tuple[str, str]] = []
    etype = rec.get("event_type")
    if not (rec.get("patient_ref") and rec.get("event_id") and etype and rec.get("date")):
        problems += [(col, "required") for col in ("patient_ref", "event_id", "event_type", "date") if not rec.get(col)]
    if etype and etype not in EVENT_TYPES:
        problems.append(("event_type", f"{etype!r}; expected one of {', '.join(EVENT_TYPES)}"))
    registered = rec.get("registered_contact_type") or None
    if registered is not None and registered not in CONTACT_TYPES:
        problems.append(("registered_contact_type", f"{registered!r}; expected one of {', '.join(CONTACT_TYPES)}"))
    if etype in ("care_request", "decision", "contact") and not (rec.get("region") and rec.get("unit")):
        problems += [(c, "required") for c in ("region", "unit") if not rec.get(c)]
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
            problems += [(reverse.get(c, c), m) for c, m in _problems_of(exc)]
    if problems:
        unique = list(dict.fromkeys((c, m) for c, m in problems if (c, "required") not in problems or m == "required"))
        return Rejected(names[rec["_file"]], rec["_row"], rec.get("event_id") or "", unique)
    return Row(event, rec["event_id"], rec["patient_ref"], rec.get("region") or "", rec.get("unit") or "",
               registered, rec["_file"], rec["_row"], event.date)
