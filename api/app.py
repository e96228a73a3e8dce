"""The HTTP service journal systems call (API.md): transport only, no decisions.

Bodies are read and guarded here (size before parsing, JSON media type) and handed to
`classifier.Classifier`, the same entry point the CLI uses. Every request gets one
structured log line (method, path, status, duration, contact count, rule-set version);
no body, no patient reference, no contact id is ever logged.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema

from api import docs, month, workbench
from classifier import InputError, default_classifier
from classifier.engine import EngineError, RuleSetDefect
from classifier.models import (
    BatchResponse,
    Classification,
    ClassifyRequest,
    ErrorItem,
    TimelineRequest,
    TimelineResponse,
)

MiB = 1024 * 1024
# API.md: "413 for a body over 1 MiB" (stated for POST /v1/classify). A batch may hold
# 10,000 requests and a timeline 5,000 events, which cannot fit in 1 MiB; they get
# limits sized for their item counts (about 3 KiB a request, 2 KiB an event).
BODY_LIMITS = {"/v1/classify": 1 * MiB, "/v1/classify/batch": 32 * MiB, "/v1/classify/timeline": 12 * MiB,
               "/v1/reports/monthly": 32 * MiB, "/v1/months": 16 * MiB}

log = logging.getLogger("bup_classifier.access")


class ApiError(Exception):
    """An error answer: status, a one-line detail and the list of problems."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]]):
        self.status, self.detail, self.errors = status, detail, errors


def _error_response(status: int, detail: str, errors: list[dict[str, str]]) -> JSONResponse:
    return FastJSON({"detail": detail, "errors": errors}, status_code=status)


async def read_json(request: Request) -> Any:
    """The request body as JSON: 413 past the size limit before parsing, 415 when not JSON."""
    limit = BODY_LIMITS.get(request.url.path, MiB)
    too_large = ApiError(413, f"body larger than {limit} bytes", [
        {"path": "$", "message": f"expected a body of at most {limit} bytes", "type": "body_too_large"}])
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and ctype != "application/json" and not (ctype.startswith("application/") and ctype.endswith("+json")):
        raise ApiError(415, "unsupported media type", [
            {"path": "$", "message": f"expected Content-Type application/json, got {ctype!r}",
             "type": "unsupported_media_type"}])
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:  # orjson refuses some valid JSON (integers beyond 64 bits): the standard parser decides
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ApiError(415, "body is not JSON", [
            {"path": "$", "message": f"expected a JSON body (UTF-8){where}", "type": "json_invalid"}]) from None


class FastJSON(JSONResponse):
    """JSON rendered by orjson: several times faster than json.dumps for the answers."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _count(request: Request, n: int) -> None:
    request.scope.setdefault("bup.log", {})["contacts"] = n


class AccessLog:
    """Pure ASGI middleware: one JSON line per request, never a body or an identifier."""

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}
        scope["bup.log"] = {"contacts": 0}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # already answered with a 500 by the app; log no traceback, no data
            logging.getLogger("bup_classifier").error("unhandled %s on %s", type(exc).__name__, scope["path"])
        finally:
            log.info(orjson.dumps({
                "method": scope["method"],
                "path": scope["path"],
                "status": status["code"],
                "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                "contacts": scope["bup.log"]["contacts"],
                "ruleset_version": default_classifier().ruleset.version,
            }).decode())


def _body(schema_ref: str | dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{schema_ref}"} if isinstance(schema_ref, str) else schema_ref
    content = {"application/json": {"schema": schema, "examples": examples}}
    return {"requestBody": {"required": True, "content": content}}


def _responses(model: type, example: Any) -> dict[int | str, dict[str, Any]]:
    err = {"model": docs.ErrorResponse}
    return {
        200: {"model": model, "content": {"application/json": {"example": example}}},
        413: {**err, "description": "Body too large (checked before parsing)."},
        415: {**err, "description": "Not a JSON body, or a Content-Type other than application/json."},
        422: {**err, "description": "Invalid request: every problem with its JSON path and what was expected.",
              "content": {"application/json": {"example": docs.ERROR_EXAMPLE}}},
    }


def create_app() -> FastAPI:
    """Build the app; the rule set is loaded (and checked) here, so a broken one fails start-up."""
    clf = default_classifier()
    ex = docs.worked_examples(clf)
    app = FastAPI(
        title="bup-classifier",
        version=clf.ruleset.version,
        summary="Classifies BUP care contacts for the national wait-time follow-up (SKR 2025–2026).",
        description=docs.DESCRIPTION,
    )

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc.status, exc.detail, exc.errors)

    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        return _error_response(422, f"invalid request: {len(exc.errors)} problem(s)", exc.errors)

    @app.exception_handler(RuleSetDefect)
    async def _defect(_: Request, exc: RuleSetDefect) -> JSONResponse:
        logging.getLogger("bup_classifier").error("rule-set defect: rules fired %s", exc.fired)
        return _error_response(500, "rule-set defect: the rule set does not give exactly one rule here", [
            {"path": "$", "message": f"rules fired: {exc.fired or 'none'}", "type": "ruleset_defect"}])

    @app.exception_handler(EngineError)
    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logging.getLogger("bup_classifier").error("internal error: %s", type(exc).__name__)
        return _error_response(500, "internal error", [
            {"path": "$", "message": "the service failed; the request was not classified", "type": "internal"}])

    @app.post(
        "/v1/classify", tags=["classify"], summary="Classify one contact",
        response_model=Classification, responses=_responses(Classification, ex["classify_answer"]),
        openapi_extra=_body("ClassifyRequest", ex["classify"]),
    )
    async def classify(request: Request) -> JSONResponse:
        """One contact with its care request and history → its contact type, wait and the rule behind it."""
        payload = await read_json(request)
        _count(request, 1)
        return FastJSON(clf.classify(payload))

    @app.post(
        "/v1/classify/batch", tags=["classify"], summary="Classify many independent contacts",
        response_model=BatchResponse, responses=_responses(BatchResponse, ex["batch_answer"]),
        openapi_extra=_body(docs.BATCH_SCHEMA, ex["batch"]),
    )
    async def classify_batch(request: Request) -> JSONResponse:
        """Up to 10,000 requests; a bad item gets `{"index", "errors"}` in its place, the others are answered."""
        payload = await read_json(request)
        if isinstance(payload, dict) and isinstance(payload.get("items"), list):
            _count(request, len(payload["items"]))
        return FastJSON(await run_in_threadpool(clf.classify_batch, payload))

    @app.post(
        "/v1/classify/timeline", tags=["classify"], summary="Classify one patient's contacts in order",
        response_model=TimelineResponse, responses=_responses(TimelineResponse, ex["timeline_answer"]),
        openapi_extra=_body("TimelineRequest", ex["timeline"]),
    )
    async def classify_timeline(request: Request) -> JSONResponse:
        """Each contact classified with the history the events before it form, its own earlier answers included."""
        payload = await read_json(request)
        result = await run_in_threadpool(clf.classify_timeline, payload)
        _count(request, len(result["results"]))
        return FastJSON(result)

    @app.post(
        "/v1/reports/monthly", tags=["reports"], summary="Monthly wait-time figures and the agreement's money",
        responses=_responses(dict, ex["report_answer"]),
        openapi_extra=_body("MonthlyReportRequest", ex["report"]),
    )
    async def monthly_report(request: Request) -> JSONResponse:
        """What `bup-classifier report --json` prints: figures per unit, region and nation, and every sum with
        its rule, figures and tier."""
        payload = await read_json(request)
        result = await run_in_threadpool(docs.monthly_report, payload)
        return FastJSON(result)

    @app.get("/v1/ruleset", tags=["rule set"], summary="The rule set in force",
             responses={200: {"content": {"application/json": {"example": ex["ruleset"]}}}})
    async def get_ruleset() -> dict[str, Any]:
        """Name, version, sha256 and every rule with id, stage, titles, source and outcome."""
        return clf.ruleset.describe()

    @app.get("/health", tags=["service"], summary="Liveness, with the rule set's identity",
             responses={200: {"content": {"application/json": {"example": {
                 "status": "ok", "ruleset": clf.ruleset.identity()}}}}})
    async def health() -> dict[str, Any]:
        return {"status": "ok", "ruleset": clf.ruleset.identity()}

    if os.environ.get("BUP_BENCH_BARE") == "1":  # the FastAPI floor for bench/: same guards, no classification
        @app.post("/v1/_bench/bare", include_in_schema=False)
        async def bare(request: Request) -> JSONResponse:
            await read_json(request)
            _count(request, 1)
            return FastJSON({"ok": True})

    workbench.mount(app, clf, read_json)
    app.include_router(month.router)
    _add_request_schemas(app)
    return AccessLog(app)  # type: ignore[return-value]


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


def configure_logging() -> None:
    """One JSON line per request on stderr; uvicorn's own access log is turned off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("bup_classifier", "bup_classifier.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler] if name == "bup_classifier" else []
        lg.setLevel(logging.INFO)


configure_logging()
app = create_app()
