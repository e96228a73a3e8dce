"""The national follow-up over HTTP (role `national`): deliveries in, every version out, completeness,
notices and the assessment as of a cut-off. The same functions as `bup-classifier national`.

The store is $BUP_NATIONAL_STORE (a DuckDB file or a postgresql:// URL; with several worker processes use
PostgreSQL: a DuckDB file has one writing process). Without it these endpoints answer 503: the service
never creates a database in its working directory on its own.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from api import docs
from classifier.errors import InputError, ascii_whole
from classifier.national.commands import STORE_ENV
from classifier.national.days import (
    DELIVERY_ID_DIGITS,
    DELIVERY_ID_EN,
    DELIVERY_ID_SV,
    FIRST_AGREEMENT_YEAR,
    LAST_AGREEMENT_YEAR,
    YEAR_EN,
    YEAR_SV,
    DayError,
    agreement_year,
    parse_day,
    read_year,
)
from classifier.national.deliveries import KINDS, read_delivery
from classifier.national.status import today as swedish_today
from classifier.national.store import Store
from classifier.privacy import MESSAGE

_LOCK = threading.Lock()
# a year parameter: read as text and then strictly (FastAPI's int reads ' 2026 ', '+2026', '2_026', '2026.0')
_YEAR_DOC = f"the agreement year, {FIRST_AGREEMENT_YEAR}–{LAST_AGREEMENT_YEAR}, in four ASCII digits"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_STORES: dict[str, Store] = {}
_FIELDS = ("filename", "content", "rows", "region", "month", "kind")
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["filename"],
    "description": "One delivery file as `bup-classifier month` writes it (delivery/completed.csv|json, "
                   "delivery/waiting.csv|json) or the aggregated counts: its text in `content`, or its records "
                   "in `rows`. `region` and `month`, when given, are checked against every row.",
    "properties": {"filename": {"type": "string", "example": "completed.csv"},
                   "content": {"type": "string", "description": "the file's text (CSV or JSON)"},
                   "rows": {"type": "array", "items": {"type": "object"}},
                   "region": {"type": "string", "example": "Region Gotland"},
                   "month": {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"},
                   "kind": {"type": "string", "enum": list(KINDS)}},
}


_ERR = {"model": docs.ErrorResponse}
_COMMON: dict[int | str, dict[str, Any]] = {
    422: {**_ERR, "description": "Invalid request or delivery: every problem with its path (file:row.column)."},
    503: {**_ERR, "description": f"No national store configured (${STORE_ENV})."},
}
POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_COMMON, 413: {**_ERR, "description": "Body too large (checked before parsing)."},
    415: {**_ERR, "description": "Not a JSON body, or a Content-Type other than application/json."}}
GET_RESPONSES: dict[int | str, dict[str, Any]] = {**_COMMON, 404: {**_ERR, "description": "No such delivery."}}


def store() -> Store:
    """The process's store (opened once per URL); 503 when none is configured."""
    import os

    from fastapi import HTTPException

    url = os.environ.get(STORE_ENV)
    if not url:
        raise HTTPException(503, f"no national store: set ${STORE_ENV} to a DuckDB file or a postgresql:// URL")
    with _LOCK:
        if url not in _STORES:
            try:
                _STORES[url] = Store(url)
            except Exception as exc:  # the drivers' own errors: a locked file, a server that does not answer
                from classifier.privacy import redact

                raise HTTPException(503, "the national store cannot be opened: "
                                         f"{redact(str(exc).splitlines()[0])[:200]}") from None
        return _STORES[url]


def _err(path: str, message: str) -> dict[str, str]:
    return {"path": path, "message": message, "type": "invalid"}


def _day(name: str, value: str | None) -> dt.date | None:
    """A day parameter, read strictly (classifier/national/days.py): 422 naming it, the value not repeated."""
    if value is None:
        return None
    try:
        return parse_day(value)
    except DayError as exc:
        raise InputError([{**_err(name, exc.en), "message_sv": exc.sv}]) from None


def _year(name: str, value: str | None, default: int | None = None) -> int:
    """A year parameter in four ASCII digits (days.read_year): 422 naming it, the value not repeated."""
    if value is None and default is not None:
        return default
    year = read_year(value)
    if year is None:
        raise InputError([{**_err(name, YEAR_EN), "message_sv": YEAR_SV}])
    return year


def _number(name: str, value: str) -> int:
    """A delivery's number in ASCII digits: 422 naming the parameter, the value not repeated."""
    number = ascii_whole(value, DELIVERY_ID_DIGITS)
    if number is None:
        raise InputError([{**_err(name, DELIVERY_ID_EN), "message_sv": DELIVERY_ID_SV}])
    return number


def _refuse_identity_numbers(paths: list[str]) -> None:
    """422 naming every place of the body that holds an identity number (never the number)."""
    if paths:
        raise InputError([{"path": p, "message": MESSAGE, "type": "identity_number"} for p in paths])


def ingest_payload(decoded: tuple[Any, list[str]], sender: str) -> dict[str, Any]:
    """Check a request's delivery and store it; 422 names each problem by file, row and column."""
    payload, identity = decoded
    if not isinstance(payload, dict):
        raise InputError([_err("$", "expected an object with filename and content or rows")])
    # an identity number outside the file itself: refused at the door, nothing stored
    _refuse_identity_numbers([p for p in identity if not re.match(r"^(content|rows)\b", p)])
    problems = [_err(k, f"unknown field; expected {', '.join(_FIELDS)}") for k in payload if k not in _FIELDS]
    if ("content" in payload) == ("rows" in payload):
        problems.append(_err("$", "expected exactly one of content (the file's text) and rows (its records)"))
    for k in ("filename", "content", "region", "month", "kind"):
        if k in payload and not isinstance(payload[k], str):
            problems.append(_err(k, "expected a string"))
    if "rows" in payload and not isinstance(payload["rows"], list):
        problems.append(_err("rows", "expected an array of records"))
    if "filename" not in payload:
        problems.append(_err("filename", "missing: expected the file's name, e.g. completed.csv"))
    if problems:
        raise InputError(problems)
    try:
        data = (payload["content"].encode("utf-8") if "content" in payload
                else orjson.dumps(payload["rows"]))
    except UnicodeEncodeError:
        raise InputError([_err("content", "expected valid Unicode text")]) from None
    d = read_delivery(payload["filename"], data, kind=payload.get("kind"), region=payload.get("region"),
                      month=payload.get("month"))
    if d.problems and not d.parts and d.region is None and any(
            p.column == "region" and p.row is None for p in d.problems):
        # a bad declared field: nothing to keep
        raise InputError([{**_err(p.column, p.message), "message_sv": p.message_sv} for p in d.problems])
    res = store().ingest(d, sender)
    if res["status"] == "refused":
        raise InputError([{"path": p["at"] + (f".{p['column']}" if p["column"] else ""), "message": p["message"],
                           "message_sv": p["message_sv"], "type": "delivery_refused"} for p in res["problems"]]
                         + [{"path": "$", "message": f"the file was recorded as refused (file {res['file_id']}, "
                             f"sha256 {res['sha256']}) with these reasons",
                             "message_sv": f"filen registrerades som avvisad (fil {res['file_id']}, "
                             f"sha256 {res['sha256']}) av dessa skäl", "type": "delivery_recorded"}])
    return res


def mount(app: FastAPI, compute: Any) -> None:
    """Add /v1/national/…. `compute(request, fn)` reads the body with the app's guards and runs
    `fn(decoded)` (the value and its identity-number paths) in the worker pool."""
    from api.security import caller

    def json_response(value: Any, status: int = 200) -> Response:
        return Response(orjson.dumps(value), status_code=status, media_type="application/json")

    @app.get("/workbench/national", include_in_schema=False)
    async def page() -> Response:
        """The national page: static, open like the other pages; every figure on it is a /v1/national call."""
        from fastapi.responses import FileResponse

        from api.workbench import STATIC_DIR

        return FileResponse(STATIC_DIR / "national.html", media_type="text/html; charset=utf-8")

    @app.post("/v1/national/deliveries", tags=["national"], status_code=201, responses=POST_RESPONSES,
              summary="Store a region's month delivery (completed, waiting or counts)",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": REQUEST_SCHEMA}}}})
    async def post_delivery(request: Request) -> Response:
        """Checked (columns, region, month, dates inside the month, Fas, Avvikelse, waits against their dates,
        duplicate ids, no identity number) and stored with its content hash, received time and sender. A later
        delivery of the same region, month and kind is a supplement and supersedes it; nothing is deleted.
        A refused file is recorded with its reasons (none of its rows) and answered 422."""
        sender = caller(request).name
        return json_response(await compute(request, lambda decoded: ingest_payload(decoded, sender)), 201)

    @app.get("/v1/national/deliveries", tags=["national"], summary="Every stored version", responses=GET_RESPONSES)
    async def list_deliveries(region: str | None = None,
                              month: str | None = Query(None, pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")) -> Response:
        from classifier.national.listing import delivery_list

        return json_response(delivery_list(store(), region, month))

    @app.get("/v1/national/deliveries/{delivery_id}", tags=["national"], summary="One delivery with its rows",
             responses=GET_RESPONSES)
    async def get_delivery(delivery_id: str) -> Response:
        from fastapi import HTTPException

        from classifier.national.listing import delivery_detail

        number = _number("delivery_id", delivery_id)
        found = delivery_detail(store(), number)
        if found is None:
            raise HTTPException(404, f"no delivery {delivery_id}")
        return json_response(found)

    @app.get("/v1/national/status", tags=["national"], summary="Completeness: region × month × file",
             responses=GET_RESPONSES)
    async def status(year: str = Query(..., description=_YEAR_DOC), as_of: str | None = None) -> Response:
        from classifier.national.status import completeness

        return json_response(completeness(store(), _year("year", year), _day("as_of", as_of) or swedish_today()))

    @app.get("/v1/national/notices", tags=["national"], responses=GET_RESPONSES,
             summary="Recorded notices and their answers; with as_of, the notices due then (not recorded)")
    async def notices(year: str | None = Query(None, description=_YEAR_DOC + " (default 2026)"),
                      as_of: str | None = None) -> Response:
        from classifier.national.notices import answered, due_notices

        day, agreement = _day("as_of", as_of), _year("year", year, 2026)
        if day is not None:
            return json_response(due_notices(store(), agreement, day))
        return json_response(answered(store(), store().notices()))

    @app.post("/v1/national/notices", tags=["national"], responses=POST_RESPONSES,
              summary="Record the notices due as of a date (each with its text and HTML)")
    async def record_notices(request: Request) -> Response:
        """Body: {year, as_of (YYYY-MM-DD)}. Records one notice per region whose reporting is incomplete or invalid
        as of that day, and answers them with their ids."""
        return json_response(await compute(request, notices_payload))

    @app.get("/v1/national/statistics", tags=["national"], responses={
        **GET_RESPONSES, 200: {"description": "The table as JSON, CSV or an Excel workbook", "content": {
            "application/json": {}, "text/csv": {}, XLSX: {}}}},
        summary="The public statistics table: per region and month, completed and waiting (cells under 5 suppressed)")
    async def statistics(year: str = Query(..., description=_YEAR_DOC), as_of: str | None = None,
                         format: str = Query("json", pattern="^(json|csv|xlsx)$")) -> Response:
        """Per region (and Riket), month, file (completed, waiting) and measurement point: the share within 30
        days, the total, the total excluding PVV, within 30 days, PVV 31 days or more and the response rate, from
        the deliveries in force as of the date. CSV: UTF-8 with a BOM, semicolons, decimal commas (Swedish
        Excel); xlsx: one sheet with the table, one on how to read it."""
        from fastapi import HTTPException

        from classifier.national.statistics import rendered
        from classifier.national.statistics import statistics as table

        agreement = _year("year", year)
        stats = table(store(), agreement, _day("as_of", as_of) or swedish_today())
        try:
            data = rendered(stats, format)
        except RuntimeError as exc:  # XlsxWriter not installed
            raise HTTPException(503, str(exc)) from None
        if format == "json":
            return Response(data, media_type="application/json")
        name = f"bup-statistik-{agreement}-per-{stats['as_of']}.{format}"
        return Response(data, media_type="text/csv; charset=utf-8" if format == "csv" else XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.post("/v1/national/assessment", tags=["national"], responses=POST_RESPONSES,
              summary="The assessment and the money as of a cut-off date, from the stored deliveries")
    async def assessment(request: Request) -> Response:
        """Body: {year, cutoff (YYYY-MM-DD), shares: {region: share}, baseline: [counts records of last year],
        population: [{region, population, source}], final}. The answer is what `national assess` writes."""
        return Response(await compute(request, assess_payload), media_type="application/json")


def notices_payload(decoded: tuple[Any, list[str]]) -> list[dict[str, Any]]:
    """Record the notices due as of the request's date."""
    from classifier.national.notices import due_notices

    payload, identity = decoded
    _refuse_identity_numbers(identity)
    if not isinstance(payload, dict):
        raise InputError([_err("$", "expected an object {year, as_of}")])
    problems = [_err(k, "unknown field; expected year and as_of") for k in payload if k not in ("year", "as_of")]
    year = payload.get("year")
    if not agreement_year(year):
        problems.append({**_err("year", YEAR_EN), "message_sv": YEAR_SV})
    if not isinstance(payload.get("as_of"), str):
        problems.append(_err("as_of", "expected a date YYYY-MM-DD"))
    if problems:
        raise InputError(problems)
    day = _day("as_of", payload["as_of"])
    s = store()
    out = due_notices(s, year, day or swedish_today())
    for n in out:
        n["notice_id"] = s.record_notice(n)
    return out


def assess_payload(decoded: tuple[Any, list[str]]) -> bytes:
    """The assessment for a request (canonical JSON bytes)."""
    from classifier.national.assess import assess, dumps
    from classifier.reporting.records import ReportInputError, Source

    payload, identity = decoded
    _refuse_identity_numbers(identity)
    allowed = ("year", "cutoff", "shares", "baseline", "population", "final")
    problems = [_err(k, f"unknown field; expected {', '.join(allowed)}") for k in (
        payload if isinstance(payload, dict) else {}) if k not in allowed]
    if not isinstance(payload, dict):
        raise InputError([_err("$", "expected an object")])
    if not agreement_year(payload.get("year")):
        problems.append({**_err("year", YEAR_EN), "message_sv": YEAR_SV})
    if not isinstance(payload.get("shares"), dict):
        problems.append(_err("shares", "expected {region: share (0–1)}"))
    for k in ("baseline", "population"):
        if k in payload and not isinstance(payload[k], list):
            problems.append(_err(k, "expected an array of records"))
    if not isinstance(payload.get("final", False), bool):
        problems.append(_err("final", "expected true or false"))
    cutoff = _day("cutoff", payload.get("cutoff") if isinstance(payload.get("cutoff"), str) else "missing")
    if problems:
        raise InputError(problems)
    try:
        from classifier.reporting.records import shares_from

        shares = shares_from(Source("shares", [{"region": r, "share": v} for r, v in payload["shares"].items()]))
        result = assess(store(), payload["year"], cutoff or swedish_today(), shares,
                        baseline=[Source("baseline", payload.get("baseline", []))],
                        population=Source("population", payload["population"]) if "population" in payload else None,
                        final=payload.get("final", False))
    except ReportInputError as exc:
        raise InputError(exc.items()) from None
    return dumps(result)
