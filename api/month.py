"""POST /v1/months: a small extract in one request -> the month's audit (audit.json's content).

For extracts that fit a request (up to 16 MiB, about 50,000 rows); a region's whole
extract goes through `bup-classifier month`, which streams it. Also the upload page
beside the workbench (`/workbench/month`), which shows the audit of a small extract.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response

from api import docs
from classifier.errors import InputError
from classifier.month import run
from classifier.month.extract import COLUMNS, ExtractError
from classifier.month.fold import month_range

PAGE = Path(__file__).resolve().parent / "workbench" / "month.html"
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["month"],
    "description": "The extract of docs/month.md §1, either as `rows` (one JSON object per row, the columns of §1 "
                   "as keys; values strings, booleans, numbers or null) or as `csv` (the CSV text with its header "
                   "row; `#` lines are comments). Exactly one of the two.",
    "properties": {
        "month": {"type": "string", "pattern": MONTH_PATTERN, "example": "2026-03"},
        "to": {"type": ["string", "null"], "pattern": MONTH_PATTERN, "description": "last month (default: month)"},
        "publish": {"type": "boolean", "default": False, "description": "suppress every cell under 5 contacts"},
        "rows": {"type": "array", "items": {"type": "object",
                                            "properties": {c: {"type": ["string", "boolean", "number", "null"]}
                                                           for c in COLUMNS}, "additionalProperties": False}},
        "csv": {"type": "string"},
    },
    "oneOf": [{"required": ["rows"]}, {"required": ["csv"]}],
}
_ERR = {"model": docs.ErrorResponse}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The content of audit.json.",
          "content": {"application/json": {"schema": {"type": "object"}}}},
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
        return [err("$", "expected an object with month and rows or csv")]
    out = [err(k, "unknown field; expected month, to, publish, rows or csv") for k in payload
           if k not in REQUEST_SCHEMA["properties"]]
    import re

    for k in ("month", "to"):
        v = payload.get(k)
        if (v is not None or k == "month") and not (isinstance(v, str) and re.match(MONTH_PATTERN, v)):
            out.append(err(k, "expected a month as 'YYYY-MM'"))
    if not isinstance(payload.get("publish", False), bool):
        out.append(err("publish", "expected true or false"))
    if ("rows" in payload) == ("csv" in payload):
        out.append(err("$", "expected exactly one of rows (JSON objects) and csv (CSV text)"))
    if "csv" in payload and not isinstance(payload["csv"], str):
        out.append(err("csv", "expected the CSV text as a string"))
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
            elif v is not None and not isinstance(v, str | bool | int | float):
                out.append(err(f"rows[{i}].{k}", "expected a string, boolean, number or null"))
        if len(out) > 100:
            break
    return out


def _text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def audit_of(payload: Any) -> dict[str, Any]:
    """The month's audit for an extract sent in a request (written to a temporary file, then run as the CLI does)."""
    problems = _problems(payload)
    if problems:
        raise InputError(problems)
    try:
        months = month_range(payload["month"], payload.get("to") or payload["month"])
    except ValueError as exc:
        raise InputError([{"path": "to", "message": str(exc), "type": "invalid"}]) from None
    with tempfile.TemporaryDirectory(prefix="bup-months-") as tmp:
        if "csv" in payload:
            path = Path(tmp) / "extract.csv"
            try:
                path.write_text(payload["csv"], encoding="utf-8")
            except UnicodeEncodeError:
                raise InputError([{"path": "csv", "message": "expected text that is valid Unicode (a lone surrogate "
                                   "was found)", "type": "invalid"}]) from None
        else:
            path = Path(tmp) / "extract.jsonl"
            with path.open("w", encoding="utf-8") as f:
                for row in payload["rows"]:
                    f.write(json.dumps({k: _text(v) for k, v in row.items()}) + "\n")
        try:
            return run([path], months, None, workers=1, publish=bool(payload.get("publish", False)))
        except ExtractError as exc:
            where = "csv" if "csv" in payload else "rows"
            raise InputError([{"path": where, "message": str(exc).removeprefix(path.name + ": "),
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
