"""POST /v1/months: a small extract in one request -> the month's audit (audit.json's content).

For extracts that fit a request (up to 16 MiB, about 50,000 rows); a region's whole
extract goes through `bup-classifier month`, which streams it. Also the upload page
beside the workbench (`/workbench/month`), which shows the audit of a small extract.
"""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response

from api import docs
from classifier.errors import InputError
from classifier.models import MAX_YEAR, MIN_YEAR
from classifier.month import run
from classifier.month.extract import COLUMNS, LIST_COLUMNS, ExtractError, Source, kind_of
from classifier.month.fold import MONTH_EXPECTED, month_range

PAGE = Path(__file__).resolve().parent / "workbench" / "month.html"
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"  # [0-9]: \d would also take ２０２６
ENCODINGS = ("utf-8", "windows-1252")
_CELL = {"type": ["string", "boolean", "number", "null"]}
_LIST_CELL = {"type": ["string", "array", "null"], "items": {"type": "string"}}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["month"],
    "description": "The extract of docs/month.md §1, as exactly one of: `rows` (one JSON object per row, the columns "
                   "of §1 as keys; values strings, booleans, numbers or null, and arrays of strings for the lists), "
                   "`csv` (the CSV text with its header row; `#` lines are comments) or `file_base64` (a file as it "
                   "is on disk, base64: CSV, JSON lines, Parquet or .xlsx, named by `file_name`; `encoding` says a "
                   "CSV's encoding, else UTF-8 when its bytes are UTF-8 and Windows-1252 when not).",
    "properties": {
        "month": {"type": "string", "pattern": MONTH_PATTERN, "example": "2026-03"},
        "to": {"type": ["string", "null"], "pattern": MONTH_PATTERN, "description": "last month (default: month)"},
        "publish": {"type": "boolean", "default": False, "description": "suppress every cell under 5 contacts"},
        "rows": {"type": "array", "items": {"type": "object",
                                            "properties": {c: _LIST_CELL if c in LIST_COLUMNS else _CELL
                                                           for c in COLUMNS}, "additionalProperties": False}},
        "csv": {"type": "string"},
        "file_base64": {"type": "string", "description": "an extract file's bytes, base64"},
        "file_name": {"type": "string", "description": "its name, for its kind: .csv, .jsonl, .parquet or .xlsx "
                                                       "(default extract.csv)"},
        "encoding": {"type": "string", "enum": list(ENCODINGS),
                     "description": "a CSV file's encoding (file_base64 only: csv and rows are already text)"},
    },
    "oneOf": [{"required": ["rows"]}, {"required": ["csv"]}, {"required": ["file_base64"]}],
}
_ERR = {"model": docs.ErrorResponse}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The content of audit.json.", "model": docs.MonthAudit},
    413: {**_ERR, "description": "Body too large (checked before parsing)."},
    415: {**_ERR, "description": "Not a JSON body, or a Content-Type other than application/json."},
    422: {**_ERR, "description": "Invalid request or extract: every problem with its path and what was expected."},
}
EXAMPLE = {"month": "2026-03", "rows": [
    {"patient_ref": "p-1", "event_id": "e1", "event_type": "care_request", "date": "2026-02-02", "region": "R",
     "unit": "BUP 1", "pathway": "A"},
    {"patient_ref": "p-1", "event_id": "e2", "event_type": "contact", "date": "2026-03-02", "region": "R",
     "unit": "BUP 1", "contact_id": "c2", "setting": "bup", "activity": "assessment", "health_problem": "F41",
     "registered_contact_type": "first_visit"}]}


def _problems(payload: Any) -> list[dict[str, str]]:
    def err(path: str, message: str) -> dict[str, str]:
        return {"path": path, "message": message, "type": "invalid"}

    if not isinstance(payload, dict):
        return [err("$", "expected an object with month and rows, csv or file_base64")]
    out = [err(k, "unknown field; expected month, to, publish, rows, csv, file_base64, file_name or encoding")
           for k in payload if k not in REQUEST_SCHEMA["properties"]]
    for k in ("month", "to"):
        v = payload.get(k)
        if (v is not None or k == "month") and not (isinstance(v, str) and re.match(MONTH_PATTERN, v)
                                                    and MIN_YEAR <= int(v[:4]) <= MAX_YEAR):
            out.append(err(k, MONTH_EXPECTED))
    if not isinstance(payload.get("publish", False), bool):
        out.append(err("publish", "expected true or false"))
    if sum(k in payload for k in ("rows", "csv", "file_base64")) != 1:
        out.append(err("$", "expected exactly one of rows (JSON objects), csv (CSV text) and file_base64 (a file)"))
    for k in ("csv", "file_base64", "file_name"):
        if k in payload and not isinstance(payload[k], str):
            out.append(err(k, "expected a string"))
    if "file_name" in payload and "file_base64" not in payload:
        out.append(err("file_name", "names the file of file_base64; expected with file_base64"))
    if "encoding" in payload:
        if "file_base64" not in payload:
            out.append(err("encoding", "says how a file's bytes are text; csv and rows are already text: expected "
                                       "encoding only with file_base64"))
        elif payload["encoding"] not in ENCODINGS:
            out.append(err("encoding", "expected utf-8 or windows-1252"))
    if isinstance(payload.get("file_name"), str):
        try:
            kind_of(payload["file_name"])
        except ExtractError as exc:
            out.append({**err("file_name", exc.en.split(": ", 1)[-1]), "message_sv": exc.sv.split(": ", 1)[-1]})
    rows = payload.get("rows")
    if "rows" in payload and not isinstance(rows, list):
        out.append(err("rows", "expected an array of row objects"))
    for i, row in enumerate(rows if isinstance(rows, list) else []):
        if not isinstance(row, dict):
            out.append(err(f"rows[{i}]", "expected an object"))
            continue
        for k, v in row.items():
            if k not in COLUMNS:
                out.append(err(f"rows[{i}].{k}", "unknown column; expected a column of docs/month.md §1"))
            elif k in LIST_COLUMNS:
                if not (v is None or isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str)
                                                                                         for x in v))):
                    out.append(err(f"rows[{i}].{k}", "expected codes: a string (separated by ;), an array of "
                                                     "strings or null"))
            elif v is not None and not isinstance(v, str | bool | int | float):
                out.append(err(f"rows[{i}].{k}", "expected a string, boolean, number or null"))
        if len(out) > 100:
            break
    return out


def _write_extract(payload: dict[str, Any], tmp: Path) -> tuple[Source, str]:
    """The request's extract as a file the CLI's reader reads (rows as JSON lines, exactly as sent: the reader
    turns each value into its text), and the request field it came from."""
    if "csv" in payload:
        path = tmp / "extract.csv"
        try:
            path.write_text(payload["csv"], encoding="utf-8")
        except UnicodeEncodeError:
            raise InputError([{"path": "csv", "message": "expected text that is valid Unicode (a lone surrogate "
                               "was found)", "type": "invalid"}]) from None
        return Source(path, "utf-8"), "csv"
    if "file_base64" in payload:
        try:
            data = base64.b64decode(payload["file_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise InputError([{"path": "file_base64", "message": "expected the file's bytes as base64",
                               "type": "invalid"}]) from None
        path = tmp / ("extract" + Path(payload.get("file_name") or "extract.csv").suffix.lower())
        path.write_bytes(data)
        return Source(path, payload.get("encoding")), "file_base64"
    path = tmp / "extract.jsonl"
    with path.open("wb") as f:
        for row in payload["rows"]:
            f.write(orjson.dumps(row) + b"\n")
    return Source(path), "rows"


def audit_of(payload: Any) -> dict[str, Any]:
    """The month's audit for an extract sent in a request (written to a temporary file, then run as the CLI does,
    with the CLI's reader and its limits)."""
    problems = _problems(payload)
    if problems:
        raise InputError(problems)
    try:
        months = month_range(payload["month"], payload.get("to") or payload["month"])
    except ValueError as exc:
        raise InputError([{"path": "to", "message": str(exc), "type": "invalid"}]) from None
    with tempfile.TemporaryDirectory(prefix="bup-months-") as tmp:
        source, where = _write_extract(payload, Path(tmp))
        try:
            return run([source], months, None, workers=1, publish=bool(payload.get("publish", False)))
        except ExtractError as exc:
            name = re.compile(re.escape(source.path.name) + "[,:] ")  # the file is the request's field
            line = re.match(r"line (\d+)", name.sub("", exc.en, 1))
            if where == "rows" and line:  # one row per line: the line is the row's index + 1
                where = f"rows[{int(line.group(1)) - 1}]"
            raise InputError([{"path": where, "message": name.sub("", exc.en, 1), "message_sv": name.sub("", exc.sv, 1),
                               "type": "invalid"}]) from None


def mount(app: FastAPI, compute: Any) -> None:
    """Add POST /v1/months and the upload page.

    `compute(request, fn)` reads the body with the app's guards (size, media type, identity
    numbers refused at the door) and runs `fn(payload)` in the worker pool as a heavy request.
    """

    @app.post("/v1/months", tags=["month"], summary="A small extract -> the month's registration audit",
              responses=RESPONSES, openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": REQUEST_SCHEMA, "example": EXAMPLE}}}})
    async def months(request: Request) -> Response:
        """docs/month.md: completed and waiting, figures as registered and as the rules say, the disagreement matrix by
        unit, the money tier both ways and the data-quality findings: the content of `audit.json`."""
        return Response(orjson.dumps(await compute(request, audit_of)), media_type="application/json")

    @app.get("/workbench/month", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(PAGE, media_type="text/html; charset=utf-8")
