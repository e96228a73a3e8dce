"""The HTTP service journal systems call (docs/integrators.md): transport only, no decisions.

Bodies are read and guarded here (media type, size before parsing, read timeout), held to
the memory budget (values counted before parsing), then decoded, checked (depth, numbers,
duplicate keys, identity numbers) and handed to
`classifier.Classifier`, the same entry point the CLI uses, in the worker pool of
api/work.py (the execution model). Every request gets a request id and one structured
log line (method, path, status, duration, contact count, rule-set version, request id);
no body, no patient reference, no contact id is ever logged.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from api import auth, docs, impact, month, national, workbench
from api import decisions as decision_log
from api.security import IdentityGuard, caller_name
from api.server import REQUEST_ID, configure_logging
from api.work import ClientGone, Limits, Overloaded, TimeLimit, Work
from classifier import InputError, privacy
from classifier.decisions import new_id as new_decision_id
from classifier.engine import EngineError, RuleSetDefect
from classifier.errors import first_repeated, listed, problems, with_swedish
from classifier.models import (
    BatchResponse,
    Classification,
    ClassifyRequest,
    ErrorItem,
    TimelineRequest,
    TimelineResponse,
)
from classifier.privacy import identity_number_paths, looks_like_identity_number, redact
from classifier.rulesets import default_rulesets

LIMITS = Limits.from_env()

MiB = 1024 * 1024
# The contract: "413 for a body over 1 MiB" (stated for POST /v1/classify). A batch may hold
# 10,000 requests and a timeline 5,000 events, which cannot fit in 1 MiB; they get
# limits sized for their item counts (about 3 KiB a request, 2 KiB an event).
BODY_LIMITS = {"/v1/classify": 1 * MiB, "/v1/classify/batch": 32 * MiB, "/v1/classify/timeline": 12 * MiB,
               "/v1/reports/monthly": 32 * MiB, "/v1/months": 16 * MiB,
               "/v1/national/deliveries": 64 * MiB, "/v1/national/assessment": 16 * MiB}
# The deepest body the models read is a workbench timeline: {timeline: {events: [{contact:
# {medications_atc: [...]}}]}} is 6 levels; anything past 10 is not a request of this API.
MAX_DEPTH = 10
# A single contact whose body is this small (a history of up to ~130 items) is classified
# in under ~0.5 ms (bench: 286 µs with 100 history items), less than a hop to a worker
# thread and back costs on a busy machine: it runs on the event loop. Every larger or
# heavy request runs in the worker pool (api/work.py).
INLINE_MAX_BYTES = 16 * 1024
_NEVER = threading.Event()  # the cancellation flag of inline work, which is never cancelled
MAX_NUMBER = 2**53  # beyond it a JSON number is no longer exact, and no field needs one
# An X-Request-ID the caller sends is kept when it is this plain (and holds no identity number).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CHARSET_UTF8 = re.compile(r"charset\s*=\s*\"?utf-8\"?", re.IGNORECASE)

log = logging.getLogger("bup_classifier.access")
errlog = logging.getLogger("bup_classifier")


class ApiError(Exception):
    """An error answer: status, a one-line detail, the list of problems and any extra headers."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]],
                 headers: dict[str, str] | None = None):
        self.status, self.detail, self.errors, self.headers = status, detail, listed(errors), headers


def _error_response(status: int, detail: str, errors: list[dict[str, str]],
                    headers: dict[str, str] | None = None) -> JSONResponse:
    """The error answer of the lists given, already cut to `LISTED` where they were made."""
    body = {"detail": detail, "errors": with_swedish(errors), "request_id": REQUEST_ID.get()}
    return FastJSON(body, status_code=status, headers=headers)


def _media_type_problem(ctype: str | None) -> str | None:
    """Why this Content-Type is refused, or None: only application/json, in UTF-8 (the HTTP contract)."""
    if not ctype:
        return "expected Content-Type application/json, got none"
    kind, _, params = ctype.partition(";")
    if kind.strip().lower() != "application/json":
        return f"expected Content-Type application/json, got {redact(kind.strip())[:80]!r}"
    params = params.strip()
    if params and not _CHARSET_UTF8.fullmatch(params):
        return "expected application/json with charset=utf-8 or no parameter"
    return None


async def read_body(request: Request) -> bytes:
    """The raw body: 415 for another media type, 413 past the size limit (before reading it all),
    408 when it does not arrive within the body timeout. Runs on the event loop: I/O only."""
    problem = _media_type_problem(request.headers.get("content-type"))
    if problem:
        raise ApiError(415, "unsupported media type", [
            {"path": "$", "message": problem, "type": "unsupported_media_type"}])
    limit = BODY_LIMITS.get(request.url.path, MiB)
    too_large = ApiError(413, f"body larger than {limit} bytes", [
        {"path": "$", "message": f"expected a body of at most {limit} bytes", "type": "body_too_large"}])
    declared = (request.headers.get("content-length") or "").lstrip("0")
    # ASCII digits only, and no int() of thousands of them (a 500 before: int() refuses over 4,300 digits)
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise too_large
    chunks, size = [], 0
    timeout = LIMITS.body_timeout
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, "body too slow", [
            {"path": "$", "message": f"expected the whole body within {timeout:g} s", "type": "body_timeout"}],
            headers={"Connection": "close"}) from None
    except ClientDisconnect:
        raise ClientGone() from None
    return b"".join(chunks)


def decode(body: bytes) -> tuple[Any, list[str]]:
    """Parse a UTF-8 JSON body and check its shape before any model sees it (runs in the pool).

    413 for a body past the memory budget (before parsing); 415 for a body that is not UTF-8
    JSON; 422 for lone surrogates, nesting past MAX_DEPTH, numbers past MAX_NUMBER and
    duplicate keys (each with its path, on every body). Returns
    the value and the paths that hold an identity number (the caller refuses them).
    """
    if body[:3] == b"\xef\xbb\xbf" or body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:4]:
        raise ApiError(415, "body is not UTF-8", [
            {"path": "$", "message": "expected UTF-8 JSON without a byte-order mark", "type": "unsupported_encoding"}])
    _within_budget(body)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        msg, where = str(exc), f" at line {exc.lineno} column {exc.colno}"
        if "surrogate" in msg and not msg.startswith("str is not valid UTF-8"):
            raise _invalid("$", f"expected valid Unicode text; a string holds a lone surrogate{where}",
                           "invalid_unicode") from None
        if msg.startswith("depth limit"):
            raise _invalid("$", f"expected at most {MAX_DEPTH} levels of nesting{where}", "too_deep") from None
        if "infinity" in msg:
            raise _invalid("$", f"expected a number of at most {MAX_NUMBER}{where}", "number_too_large") from None
        raise ApiError(415, "body is not JSON", [
            {"path": "$", "message": f"expected a JSON body (UTF-8){where}", "type": "json_invalid"}]) from None
    identity = identity_number_paths(value, body)
    shape = _Shape()
    shape.walk(value, 1)
    if shape.problem:
        path, message, kind = shape.problem
        raise _invalid(path or "$", message, kind)
    raw_colons = body.count(b":")
    if b"\\u003" in body:
        raw_colons += len(_ESCAPED_COLON.findall(body))
    if raw_colons > shape.keys + shape.colons_in_strings:  # every body, an identity number's too
        raise _invalid(redact(_duplicate_key_path(body)), "duplicate key; expected each key once in an object",
                       "duplicate_key")
    return value, identity


_ESCAPED_COLON = re.compile(rb"(?<!\\)(?:\\\\)*\\u003[aA]")
# What one parsed JSON value costs at most in this process, its key included (an object in a list,
# `{"a":0},`, is a 184-byte dict and its key for 8 bytes of body); strings add their own bytes.
VALUE_BYTES = 128
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def _values_at_most(body: bytes) -> int:
    """An upper bound of the values in a JSON body, without parsing it: one, plus one per comma, plus the
    first element of each array or object."""
    return 1 + body.count(b",") + body.count(b"[") + body.count(b"{")


def _within_budget(body: bytes) -> None:
    """413 when the parsed body would need more than the memory budget (api/work.py), before it is parsed.

    The quick bound counts the commas and brackets inside strings too; only a body past it is
    counted again with its strings left out.
    """
    budget = LIMITS.memory_budget * MiB
    if _values_at_most(body) * VALUE_BYTES + len(body) <= budget:
        return
    values = _values_at_most(_JSON_STRING.sub(b"", body))
    if values * VALUE_BYTES + len(body) > budget:
        raise ApiError(413, "body needs more memory than a request may use", [
            {"path": "$", "message": f"expected a body that needs at most {LIMITS.memory_budget} MiB once read; "
             f"its {values} values would need about {(values * VALUE_BYTES + len(body)) // MiB} MiB",
             "type": "memory_budget"}])


def _invalid(path: str, message: str, kind: str) -> ApiError:
    return ApiError(422, "invalid request: 1 problem(s)", [{"path": path, "message": message, "type": kind}])


class _Shape:
    """One walk over a parsed body: depth, numbers, and the counts that reveal a duplicate key.

    orjson keeps the last of duplicate keys silently. Every ':' in the raw body is a
    key's or sits inside a string, so more ':' than keys plus ':' in strings means a key
    was repeated; only then is the body parsed again, slowly, to name it.
    """

    def __init__(self) -> None:
        self.keys = self.colons_in_strings = 0
        self.problem: tuple[str, str, str] | None = None

    def walk(self, value: Any, depth: int, path: str = "$") -> None:
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                self.problem = (path, f"expected at most {MAX_DEPTH} levels of nesting", "too_deep")
                return
            self.keys += len(value)
            for k, v in value.items():
                self.colons_in_strings += k.count(":")
                if isinstance(v, str):
                    self.colons_in_strings += v.count(":")
                elif not isinstance(v, bool | None):
                    self.walk(v, depth + 1, f"{path}.{k}" if path != "$" else k)
                    if self.problem:
                        return
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                self.problem = (path, f"expected at most {MAX_DEPTH} levels of nesting", "too_deep")
                return
            for i, v in enumerate(value):
                if isinstance(v, str):
                    self.colons_in_strings += v.count(":")
                elif not isinstance(v, bool | None):
                    self.walk(v, depth + 1, f"{path}[{i}]" if path != "$" else f"[{i}]")
                    if self.problem:
                        return
        elif isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            self.problem = (path, f"expected a number of at most {MAX_NUMBER} in magnitude", "number_too_large")
        elif isinstance(value, str):
            self.colons_in_strings += value.count(":")


class _Pairs(dict):  # type: ignore[type-arg]
    duplicate: str | None = None


def _pairs(items: list[tuple[str, Any]]) -> _Pairs:
    obj = _Pairs(items)
    if len(obj) < len(items):
        obj.duplicate = first_repeated(items)
    return obj


def _duplicate_key_path(body: bytes) -> str:
    """The path of the first repeated key (the standard parser keeps every pair)."""
    def find(value: Any, path: str) -> str | None:
        if isinstance(value, _Pairs):
            if value.duplicate is not None:
                return f"{path}.{value.duplicate}" if path else value.duplicate
            items: Any = value.items()
        elif isinstance(value, list):
            items = ((f"[{i}]", v) for i, v in enumerate(value))
        else:
            return None
        for k, v in items:
            child = f"{path}{k}" if k.startswith("[") else (f"{path}.{k}" if path else k)
            found = find(v, child)
            if found:
                return found
        return None

    return find(json.loads(body, object_pairs_hook=_pairs), "") or "$"


def refuse_identity_numbers(paths: list[str]) -> None:
    """422 naming where an identity number was sent; the number itself is never repeated."""
    if paths:
        raise ApiError(422, f"invalid request: {len(paths)} problem(s)", [
            {"path": p, "message": privacy.MESSAGE, "type": "identity_number"} for p in paths])


class FastJSON(JSONResponse):
    """JSON rendered by orjson: several times faster than json.dumps for the answers."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _count(request: Request, n: int) -> None:
    request.scope.setdefault("bup.log", {})["contacts"] = n


def new_request_id() -> str:
    """16 random hex digits; never one that a reader of the log could take for an identity number
    (about one in a thousand has ten digits in a row shaped like one)."""
    while looks_like_identity_number(rid := secrets.token_hex(8)):
        pass
    return rid


class AccessLog:
    """Pure ASGI middleware: the request id, and one JSON line per request, never a body or an identifier.

    The id is the caller's X-Request-ID when it is plain (letters, digits, `._:-`, at most
    64, no identity number), else a new one; it is in the answer's X-Request-ID header, in
    every error body and in every log line of the request. The path is logged with any
    identity-number-shaped part redacted. An exception that escaped the app is logged with
    its traceback (frames only, api/server.py) and answered with a 500.
    """

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        rid = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        if not _REQUEST_ID.fullmatch(rid) or looks_like_identity_number(rid):
            rid = new_request_id()
        token = REQUEST_ID.set(rid)
        scope["bup.log"] = {"contacts": 0}
        header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        line: dict[str, Any] = {}
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # already answered with a 500 by the app's handler
            errlog.error("internal error on %s %s", scope["method"], redact(scope["path"]), exc_info=exc,
                         extra={"event": "internal_error"})
        except asyncio.CancelledError:  # the server stopped past its grace time
            line["outcome"] = "cancelled_at_shutdown"
            raise
        finally:
            if status["code"] == 499:
                line["outcome"] = "client_disconnected"
            log.info({
                "method": scope["method"],
                "path": redact(scope["path"]),
                "status": status["code"],
                "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                "contacts": scope["bup.log"]["contacts"],
                "caller": caller_name(scope),
                **_rulesets_line(scope["bup.log"].get("rulesets"), scope.get("app")),
                "request_id": rid,
                **line,
            })
            REQUEST_ID.reset(token)


def _rulesets_line(used: dict[str, str] | None, app: Any) -> dict[str, str]:
    """The access line's rule sets: those the request's answer named (docs/rulesets.md), else those the app
    holds (Starlette puts the app into the scope)."""
    if not used:
        held = getattr(getattr(app, "state", None), "rulesets", None) or default_rulesets()
        used = {c.ruleset.version: c.ruleset.sha256 for c in held.classifiers}
    return {"ruleset_version": "+".join(used), "ruleset_sha256": "+".join(used.values())}


def _rulesets_in(result: Any) -> dict[str, str]:
    """version -> sha256 of every rule set an answer names: a classification's `ruleset`, a batch's or
    timeline's results', a month's or report's `rulesets`, impact's baseline and candidate sets."""
    if not isinstance(result, dict):
        return {}
    found: list[Any] = []
    if isinstance(result.get("results"), list):
        found += [r.get("ruleset") for r in result["results"] if isinstance(r, dict)]
    named = result.get("rulesets")  # in valid_from order
    found += named if isinstance(named, list) else [r for side in named.values() for r in side] \
        if isinstance(named, dict) else []
    found.append(result.get("ruleset"))
    return {r["version"]: r["sha256"] for r in found if isinstance(r, dict) and "version" in r and "sha256" in r}


def _noting(request: Request, job: Callable[[Any, threading.Event], Any]) -> Callable[[Any, threading.Event], Any]:
    """`job`, with the rule sets its answer names kept for the request's access line."""
    def noted(decoded: Any, cancelled: threading.Event) -> Any:
        result = job(decoded, cancelled)
        request.scope.setdefault("bup.log", {}).setdefault("rulesets", {}).update(_rulesets_in(result))
        return result
    return noted


def _body(schema_ref: str | dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{schema_ref}"} if isinstance(schema_ref, str) else schema_ref
    content = {"application/json": {"schema": schema, "examples": examples}}
    return {"requestBody": {"required": True, "content": content}}


def _responses(model: type, example: Any, logged: bool = False) -> dict[int | str, dict[str, Any]]:
    """The documented answers; `logged`: a classification, recorded in the decision log when it is on."""
    err = {"model": docs.ErrorResponse}
    busy = "Busy or past the time limit (with Retry-After)" + (
        ", or the decision log is on and the answer could not be recorded, so it is not returned (`type` "
        "`decision_log_unavailable`)." if logged else ".")
    return {
        200: {"model": model, "content": {"application/json": {"example": example}}},
        413: {**err, "description": "Body too large (checked before parsing)."},
        415: {**err, "description": "Not a JSON body, or a Content-Type other than application/json."},
        422: {**err, "description": "Invalid request: every problem with its JSON path and what was expected.",
              "content": {"application/json": {"example": docs.ERROR_EXAMPLE}}},
        503: {**err, "description": busy},
    }


def create_app() -> FastAPI:
    """Build the app; the rule set is loaded (and checked) here, so a broken one fails start-up."""
    clf = default_rulesets()  # one or several rule sets, each valid from a date
    ex = docs.worked_examples(clf)
    app = FastAPI(
        title="bup-classifier",
        version=clf.ruleset.version,
        summary="Classifies BUP care contacts for the national wait-time follow-up (SKR 2025–2026).",
        description=docs.DESCRIPTION,
        docs_url=None, redoc_url=None,  # served without a CDN by docs.mount
    )

    app.state.rulesets = clf  # the one holding, for the access log (docs/rulesets.md)
    work = Work(LIMITS)
    app.router.lifespan_context = _lifespan(work)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        return _error_response(422, exc.detail, exc.errors)

    @app.exception_handler(RequestValidationError)
    async def _parameters(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer would echo each `input`; ours echoes a value only when it is not an identity number
        errors = problems(exc.errors())
        return _error_response(422, f"invalid request: {len(errors)} problem(s)", listed(errors))

    @app.exception_handler(Overloaded)
    async def _overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        return _error_response(503, "overloaded", [{"path": "$", "message": f"{exc.detail}; retry later",
                                                    "type": "overloaded"}],
                               {"Retry-After": str(LIMITS.retry_after)})

    @app.exception_handler(TimeLimit)
    async def _time_limit(_: Request, exc: TimeLimit) -> JSONResponse:
        return _error_response(503, "time limit", [{"path": "$", "message": f"the request took longer than the "
                                                    f"limit of {LIMITS.time_limit:g} s and was stopped",
                                                    "type": "time_limit"}],
                               {"Retry-After": str(LIMITS.retry_after)})

    @app.exception_handler(MemoryError)
    async def _out_of_memory(_: Request, exc: MemoryError) -> JSONResponse:
        # a job that ran out of memory despite the budget: its answer is given up, the worker lives on
        errlog.error("a request ran out of memory", extra={"event": "out_of_memory"})
        return _error_response(503, "out of memory", [{"path": "$", "message": "the request needed more memory "
                                                       "than the service has free and was stopped; retry later",
                                                       "type": "out_of_memory"}],
                               {"Retry-After": str(LIMITS.retry_after)})

    @app.exception_handler(ClientGone)
    async def _gone(_: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody reads it; the access log says client_disconnected

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error_response(exc.status_code, str(exc.detail), [{"path": "$", "message": str(exc.detail),
                                                                   "type": kind}], exc.headers)

    @app.exception_handler(RuleSetDefect)
    async def _defect(_: Request, exc: RuleSetDefect) -> JSONResponse:
        errlog.error("rule-set defect: rules fired %s", exc.fired, extra={"event": "ruleset_defect"})
        return _error_response(500, "rule-set defect: the rule set does not give exactly one rule here", [
            {"path": "$", "message": f"rules fired: {exc.fired or 'none'}", "type": "ruleset_defect"}])

    @app.exception_handler(EngineError)
    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # logged with its traceback by AccessLog, which the exception reaches next
        return _error_response(500, "internal error", [
            {"path": "$", "message": "the service failed; the request was not classified", "type": "internal"}])

    async def compute(request: Request, heavy: bool, job: Callable[[Any, threading.Event], Any],
                      body: bytes | None = None, inline: bool = True, noted: bool = False) -> Any:
        """The execution model (api/work.py): the body is read here, on the loop (unless the caller has
        read it); decoding and the job run in the pool (`inline`: a small body's may run on the loop).
        `noted`: the caller already keeps the answer's rule sets for the access line (its job encodes it)."""
        body = await read_body(request) if body is None else body
        job = job if noted else _noting(request, job)
        if inline and not heavy and len(body) <= INLINE_MAX_BYTES:  # bounded below ~0.5 ms: a thread hop costs more
            return job(decode(body), _NEVER)
        return await work.run(request.receive, heavy, lambda cancelled: job(decode(body), cancelled))

    async def run(request: Request, heavy: bool, job: Callable[[Any, threading.Event], Any]) -> Response:
        """`compute`, with the answer encoded as JSON in the pool too."""
        job = _noting(request, job)
        encoded = await compute(request, heavy, lambda decoded, cancelled: orjson.dumps(job(decoded, cancelled)),
                                noted=True)
        return Response(encoded, media_type="application/json")

    def plain(fn: Callable[[Any], Any]) -> Callable[[Any, threading.Event], Any]:
        """A job for a body that must hold no identity number anywhere."""
        def job(decoded: tuple[Any, list[str]], _: threading.Event) -> Any:
            payload, identity = decoded
            refuse_identity_numbers(identity)
            return fn(payload)
        return job

    async def decide(request: Request, heavy: bool, kind: str, job: Callable[[Any, threading.Event], Any]) -> Response:
        """`run` for a classification (`job` answers it). With the decision log on,
        the answer gets a decision_id, is encoded in the pool as well, and is recorded with the request body
        before it is returned (api/decisions.py); of a batch, only the accepted items are recorded."""
        if decision_log.current(request) is None:
            return await run(request, heavy, job)
        body = await read_body(request)
        decision_id = new_decision_id()
        job = _noting(request, job)

        def with_id(decoded: Any, cancelled: threading.Event) -> tuple[bytes, bytes, bytes]:
            result = job(decoded, cancelled)
            result["decision_id"] = decision_id
            encoded = orjson.dumps(result)
            return encoded, *decision_log.accepted_only(kind, decoded[0], body, result, encoded)

        encoded, stored_body, stored_answer = await compute(request, heavy, with_id, body, noted=True)
        return await decision_log.answer(request, kind, decision_id, stored_body, encoded, stored_answer)

    @app.post(
        "/v1/classify", tags=["classify"], summary="Classify one contact",
        response_model=Classification, responses=_responses(Classification, ex["classify_answer"], logged=True),
        openapi_extra=_body("ClassifyRequest", ex["classify"]),
    )
    async def classify(request: Request) -> Response:
        """One contact with its care request and history → its contact type, wait and the rule behind it."""
        _count(request, 1)
        return await decide(request, False, "classify", plain(clf.classify))

    @app.post(
        "/v1/classify/batch", tags=["classify"], summary="Classify many independent contacts",
        response_model=BatchResponse, responses=_responses(BatchResponse, ex["batch_answer"], logged=True),
        openapi_extra=_body(docs.BATCH_SCHEMA, ex["batch"]),
    )
    async def classify_batch(request: Request) -> Response:
        """Up to 10,000 requests; a bad item gets `{"index", "errors"}` in its place, the others are answered."""
        def job(decoded: tuple[Any, list[str]], cancelled: threading.Event) -> Any:
            payload, identity = decoded
            rejected, outside = _identity_by_item(identity)
            refuse_identity_numbers(outside)
            if isinstance(payload, dict) and isinstance(payload.get("items"), list):
                _count(request, len(payload["items"]))
            return clf.classify_batch(payload, cancelled, rejected)

        return await decide(request, True, "batch", job)

    @app.post(
        "/v1/classify/timeline", tags=["classify"], summary="Classify one patient's contacts in order",
        response_model=TimelineResponse, responses=_responses(TimelineResponse, ex["timeline_answer"], logged=True),
        openapi_extra=_body("TimelineRequest", ex["timeline"]),
    )
    async def classify_timeline(request: Request) -> Response:
        """Each contact classified with the history the events before it form, its own earlier answers included."""
        def job(decoded: tuple[Any, list[str]], cancelled: threading.Event) -> Any:
            refuse_identity_numbers(decoded[1])
            result = clf.classify_timeline(decoded[0], cancelled)
            _count(request, len(result["results"]))
            return result

        return await decide(request, True, "timeline", job)

    @app.post(
        "/v1/reports/monthly", tags=["reports"], summary="Monthly wait-time figures and the agreement's money",
        responses=_responses(docs.MonthlyReport, ex["report_answer"]),
        openapi_extra=_body("MonthlyReportRequest", ex["report"]),
    )
    async def monthly_report(request: Request) -> Response:
        """What `bup-classifier report --json` prints: figures per unit, region and nation, and every sum with
        its rule, figures and tier."""
        return await run(request, True, plain(docs.monthly_report))

    @app.get("/v1/ruleset", tags=["rule set"], summary="The rule set in force",
             responses={200: {"content": {"application/json": {"example": ex["ruleset"]}}}})
    async def get_ruleset() -> dict[str, Any]:
        """Name, version, sha256 and every rule with id, stage, titles, source and outcome."""
        return clf.describe()

    @app.get("/health", tags=["service"], summary="Liveness, with the rule set's identity",
             responses={200: {"content": {"application/json": {"example": {
                 "status": "ok", "ruleset": clf.ruleset.identity()}}}}})
    async def health() -> dict[str, Any]:
        return {"status": "ok", "ruleset": clf.ruleset.identity()}

    if os.environ.get("BUP_BENCH_BARE") == "1":  # the FastAPI floor for bench/: same guards, no classification
        @app.post("/v1/_bench/bare", include_in_schema=False)
        async def bare(request: Request) -> JSONResponse:
            body = await read_body(request)
            refuse_identity_numbers(decode(body)[1])
            _count(request, 1)
            return FastJSON({"ok": True})

    decision_log.mount(app, clf)
    # a YAML file's cost is not bounded by its bytes as a contact's is: always in the pool, under its time limit
    workbench.mount(app, clf, lambda request, fn: compute(request, False, plain(fn), inline=False), LIMITS)
    docs.mount(app)
    month.mount(app, lambda request, fn: compute(request, True, plain(fn)))
    impact.mount(app, clf, lambda request, fn: compute(request, True, plain(fn)))
    national.mount(app, lambda request, fn: compute(request, True, lambda decoded, _cancelled: fn(decoded)))
    _add_request_schemas(app)
    asgi: Any = app
    for middleware in reversed(MIDDLEWARES):
        asgi = middleware(asgi)
    return asgi  # type: ignore[no-any-return]


# Pure ASGI middlewares around the app, outermost first. AccessLog stays first: it sets the
# request id every later layer logs with, and sees every answer (and every exception). The
# identity guard comes next: a path, query or header holding an identity number is refused
# before anything reads it (access control included). Access control (auth.protect) comes
# last, so the log line names the caller it authenticated.
MIDDLEWARES: list[Callable[[Any], Any]] = [AccessLog, IdentityGuard, auth.protect]


def _lifespan(work: Work) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        # Everything built at start-up (rule sets, engine, schemas) lives as long as the process: out of the
        # collector's sight, a full collection scans only what requests left behind (~70 ms -> ~1 ms here; a
        # request waiting for the decision log lives through several young collections and gets promoted).
        gc.freeze()
        yield
        try:
            await asyncio.to_thread(work.shutdown)  # after uvicorn's grace time: the jobs stop at their next item
        finally:
            log = decision_log.current_of(app)
            if log is not None:  # every request is answered: its writer commits what it has and stops (on
                log.close()      # this loop, whose reader it removes; without a lifespan, atexit closes it)

    return lifespan


_ITEM = re.compile(r"items\[(\d+)\]\.?(.*)")


def _identity_by_item(paths: list[str]) -> tuple[dict[int, list[dict[str, str]]], list[str]]:
    """Identity numbers inside batch items become those items' errors; others refuse the whole body."""
    by_item: dict[int, list[dict[str, str]]] = {}
    outside = []
    for p in paths:
        m = _ITEM.fullmatch(p)
        if m:
            by_item.setdefault(int(m.group(1)), []).extend(with_swedish(
                [{"path": m.group(2) or "$", "message": privacy.MESSAGE, "type": "identity_number"}]))
        else:
            outside.append(p)
    return by_item, outside


def _add_request_schemas(app: FastAPI) -> None:
    """Put the request models (read by hand, not by FastAPI) into the OpenAPI components."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        _, defs = models_json_schema(
            [(ClassifyRequest, "validation"), (TimelineRequest, "validation"), (ErrorItem, "validation"),
             (docs.MonthlyReportRequest, "validation")],
            ref_template="#/components/schemas/{model}",
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in defs["$defs"].items():
            components.setdefault(name, definition)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


configure_logging()
app = create_app()
