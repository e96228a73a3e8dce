"""The decision log in the service: recording each answer, and /v1/decisions to read it back.

With the log on, a classify endpoint puts a `decision_id` into its answer and encodes it as
before, then hands the request body and the answer bytes to `answer()`, which waits until
the writer process has committed them (group commit, classifier/decisions/writer.py) and
only then returns the answer, with the id in the body and in `X-Decision-Id`. A decision
that cannot be recorded gets a 503 and no classification. Reading the log needs the `audit` role (api/security.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from api.docs import ErrorResponse
from api.security import caller, require_role
from api.server import REQUEST_ID
from classifier import decisions
from classifier.decisions import store
from classifier.errors import ascii_whole, sent, with_swedish
from classifier.rulesets import RuleSets

HEADER = "X-Decision-Id"


def current(request: Request) -> decisions.DecisionLog | None:
    """This app's decision log, None when it is off."""
    return current_of(request.app)


def current_of(app: FastAPI) -> decisions.DecisionLog | None:
    return getattr(app.state, "decision_log", None)


def _error(status: int, detail: str, path: str, message: str, kind: str) -> JSONResponse:
    """The service's error shape (api/app.py): every item with its message_sv, and the request id."""
    body = {"detail": detail, "errors": with_swedish([{"path": path, "message": message, "type": kind}]),
            "request_id": REQUEST_ID.get()}
    return JSONResponse(body, status_code=status)


async def answer(request: Request, kind: str, decision_id: str, body: bytes, encoded: bytes,
                 stored: bytes | None = None) -> Response:
    """The endpoint's answer (`encoded`, holding `decision_id`), returned only once it is recorded with the
    request `body` and the answer as `stored` (default: as returned) (503 when it cannot be)."""
    log = current(request)
    assert log is not None
    try:
        await log.record(decision_id, caller(request).name, kind, body, encoded if stored is None else stored)
    except decisions.LogUnavailable:
        return unavailable()
    return Response(encoded, media_type="application/json", headers={HEADER: decision_id})


def accepted_only(kind: str, payload: Any, body: bytes, result: dict[str, Any],
                  encoded: bytes) -> tuple[bytes, bytes]:
    """The request and answer to record: as they came and went, except that a batch keeps only its
    accepted items. A refused item (an identity number, an invalid item) is recorded as `null` in the
    request's `items`, so positions still match the answer's `results`, and its answer entry keeps only
    its index and error codes: nothing the caller sent in it reaches the log, its digest or its spool.
    Runs in the worker pool, beside the answer's encoding."""
    results = result.get("results") if kind == "batch" else None
    if not results or all("errors" not in r for r in results):
        return body, encoded
    items = payload["items"]
    kept = {**payload, "items": [None if "errors" in r else item for item, r in zip(items, results, strict=True)]}
    traces = [{"index": r["index"], "errors": [{"type": e["type"]} for e in r["errors"]]} if "errors" in r else r
              for r in results]
    return orjson.dumps(kept), orjson.dumps({**result, "results": traces})


def unavailable() -> JSONResponse:
    """503: the decision could not be recorded, so its answer is not returned."""
    return _error(503, "decision log unavailable: the answer was not recorded, so it is not returned", "$",
                  "the decision could not be recorded; retry later", "decision_log_unavailable")


def _when(value: str | None, name: str, end: bool) -> dt.datetime | None:
    try:
        return store.moment(value, end)
    except ValueError:
        raise _BadQuery(name, f"expected a date 'YYYY-MM-DD' or an ISO date-time, got {sent(value)}") from None


def _size(limit: str | None) -> int | None:
    """The page size `limit` asks for (100 when absent), or None. Only ASCII digits, at most four: int() would
    also read `²` or `١` (and fail or guess) and refuse 5,000 digits with an error of its own."""
    if not limit:
        return 100
    size = ascii_whole(limit, 4)
    return size if size is not None and 1 <= size <= 1000 else None


class _BadQuery(Exception):
    def __init__(self, name: str, message: str):
        self.name, self.message = name, message


def _log_or_404(request: Request) -> decisions.DecisionLog | JSONResponse:
    log = current(request)
    if log is None:
        return _error(404, "the decision log is off", "$", "start the service with --decision-log URL", "log_off")
    return log


class Forbidden(BaseModel):
    detail: str = Field(description="Why the key may not do this (its role lacks the one needed).")


_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": Forbidden, "description": "The caller lacks the `audit` role."},
    404: {"model": ErrorResponse, "description": "No such decision, or the decision log is off."},
    422: {"model": ErrorResponse, "description": "A query parameter that cannot be read, named by `path`."},
}
router = APIRouter(prefix="/v1/decisions", tags=["decisions"], dependencies=[Depends(require_role("audit"))],
                   responses=_ERRORS)


@router.get("/{decision_id}", summary="One recorded decision")
async def get_decision(request: Request, decision_id: str) -> Response:
    """The decision as recorded: time, caller, request (or its digest), answer, and each contact's rule set."""
    log = _log_or_404(request)
    if isinstance(log, JSONResponse):
        return log

    def read() -> dict[str, Any] | None:
        with log.engine.connect() as conn:
            return store.get(conn, decision_id)

    record = await run_in_threadpool(read)
    if record is None:
        return _error(404, "no such decision", "decision_id", f"no decision {sent(decision_id)} in the log",
                      "not_found")
    return Response(orjson.dumps(record), media_type="application/json")


@router.get("", summary="Recorded decisions, filtered and paginated")
async def list_decisions(
    request: Request,
    since: str | None = Query(None, alias="from", description="recorded on or after (date or ISO date-time, UTC)"),
    until: str | None = Query(None, alias="to", description="recorded before (a date includes that day)"),
    rule: str | None = None, contact_type: str | None = None, ruleset_version: str | None = None,
    caller_name: str | None = Query(None, alias="caller"),
    limit: str | None = Query(None, description="1 to 1000 (default 100)"), cursor: str | None = None,
) -> Response:
    """Decisions in recording order; `next_cursor` fetches the next page (null on the last)."""
    log = _log_or_404(request)
    if isinstance(log, JSONResponse):
        return log
    try:
        filters = store.Filters(_when(since, "from", False), _when(until, "to", True), rule, contact_type,
                                ruleset_version, caller_name)
        size = _size(limit)
        if size is None:
            raise _BadQuery("limit", "expected a whole number from 1 to 1000 in ASCII digits")
        if cursor:
            try:
                uuid.UUID(cursor)
            except ValueError:
                raise _BadQuery("cursor", "expected the next_cursor of an earlier page") from None
    except _BadQuery as bad:
        return _error(422, f"invalid query parameter {bad.name!r}", bad.name, bad.message, "query_invalid")

    def read() -> tuple[list[dict[str, Any]], str | None]:
        with log.engine.connect() as conn:
            return store.page(conn, filters, size, cursor or None)

    records, next_cursor = await run_in_threadpool(read)
    return Response(orjson.dumps({"decisions": records, "next_cursor": next_cursor}), media_type="application/json")


def mount(app: FastAPI, sets: RuleSets) -> None:
    """Open the log the environment asks for (BUP_DECISION_LOG…) and add /v1/decisions."""
    statuses = {c.ruleset.version: c.ruleset.status for c in sets.classifiers}
    log = decisions.from_env(statuses)
    app.state.decision_log = log
    app.include_router(router)  # the log is closed at the end of the app's lifespan (api/app.py)
