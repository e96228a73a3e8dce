"""OpenAPI texts and worked examples, computed from the real classifier at start-up."""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from pydantic import BaseModel, ConfigDict, Field

from classifier import Classifier, InputError, errors, examples
from classifier.models import MAX_BATCH, ErrorItem
from classifier.reporting import records, report
from classifier.resources import data_dir

DESCRIPTION = """
Classifies child and adolescent psychiatry (BUP) care contacts for the national wait-time
follow-up of the 2025–2026 agreement: the contact type (first visit, investigation,
treatment, return visit, acute, or outside the model), whether it is a measurement point,
the wait with numerator/denominator membership, and the single rule that fired with its
source in SKR's definitions document, the facts it used and the rule set's content hash.

The service needs no identity: values that look like Swedish personal identity or
coordination numbers are rejected. Unknown fields are rejected. Every error lists each
problem with its JSON path and what was expected.
"""


class ErrorResponse(BaseModel):
    detail: str
    errors: list[ErrorItem] = Field(description="Every problem found, each with its JSON path.")


ERROR_EXAMPLE = {
    "detail": "invalid request: 3 problem(s)",
    "errors": [
        {"path": "contact.date", "message": "expected a real calendar date as 'YYYY-MM-DD', got '2026-02-30'",
         "message_sv": "ska vara ett verkligt datum som 'ÅÅÅÅ-MM-DD', skickat: '2026-02-30'", "type": "value_error"},
        {"path": "contact.setting", "message": "expected one of 'bup', 'evi', got 'BUP'",
         "message_sv": "ska vara ett av 'bup', 'evi', skickat: 'BUP'", "type": "literal_error"},
        {"path": "patient.ref", "message": "looks like a Swedish personal identity or coordination number; "
         "send a pseudonymous reference instead (the service needs no identity)",
         "message_sv": "ser ut som ett personnummer eller samordningsnummer; skicka en pseudonym referens i stället "
         "(tjänsten behöver ingen identitet)", "type": "value_error"},
    ],
}

BATCH_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array", "minItems": 1, "maxItems": MAX_BATCH,
            "description": "Requests as for POST /v1/classify. Each item is validated on its own: an invalid "
                           "item gets {index, errors} in its place and the others are still answered.",
            # Any object is accepted at this level (API.md): a ClassifyRequest is answered,
            # anything else gets its error entry, so the item schema documents, not rejects.
            "items": {"anyOf": [{"$ref": "#/components/schemas/ClassifyRequest"}, {"type": "object"}]},
        }
    },
}

SHOWN = {
    "direct_start": "investigation/09_direct_start_scenario_b",
    "first_visit": "first_visit/01_new_referral_assessment_scenario_a",
    "return_visit": "investigation/02_second_contact_same_investigation",
    "refused": "investigation/10_direct_start_refused_parent_school_missing",
    "journey": "timeline/01_adhd_journey",
}


def worked_examples(clf: Classifier) -> dict[str, Any]:
    """Request and answer examples for every endpoint, from examples/ through the real classifier."""
    by_name = {e.name: e for e in examples.load()}
    picked = {key: by_name[name] for key, name in SHOWN.items()}
    single = {k: v for k, v in picked.items() if v.request is not None}
    classify = {k: {"summary": v.title, "value": v.request} for k, v in single.items()}
    batch_items = [single["first_visit"].request, single["return_visit"].request]
    journey = picked["journey"]
    return {
        "classify": classify,
        "classify_answer": clf.classify(single["direct_start"].request),
        "batch": {"two": {"summary": "Two independent contacts", "value": {"items": batch_items}}},
        "batch_answer": clf.classify_batch({"items": batch_items}),
        "timeline": {"journey": {"summary": journey.title, "value": journey.timeline}},
        "timeline_answer": clf.classify_timeline(journey.timeline),
        "ruleset": clf.ruleset.describe(),
        "report": {"small": {"summary": "One region, a month and its baseline", "value": REPORT_EXAMPLE}},
        "report_answer": monthly_report(REPORT_EXAMPLE),
    }


class MonthlyReportRequest(BaseModel):
    """POST /v1/reports/monthly: the records of `bup-classifier report`, as JSON (examples/reports/README.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    year: int = Field(ge=2024, le=2100, description="The agreement year; last year's months are the baseline.")
    completed: list[dict[str, Any]] = Field(default_factory=list, max_length=2_000_000,
                                            description="Classified contacts with region, unit and date.")
    waiting: list[dict[str, Any]] = Field(default_factory=list, max_length=2_000_000,
                                          description="Month-end waiting lists, one patient per record.")
    counts: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000,
                                         description="Already aggregated monthly counts.")
    shares: dict[str, float] = Field(description="Each region's share (0–1) of the national pots; they may not "
                                     "sum above 1.")
    final: bool = Field(False, description="The year's reporting is declared final: money held for months not "
                                           "reported is settled (target not met, to the bonus pot).")
    publish: bool = Field(False, description="Figures for publication: counts of 1–4 contacts are null, named in "
                                             "the row's `suppressed` list, with every share derived from them.")


def monthly_report(payload: object) -> dict[str, Any]:
    """Validate and build a monthly report; every bad record is a 422 naming the record and field."""
    req = errors.parse(MonthlyReportRequest, payload)
    try:
        return report.monthly_report(
            req.year, shares=records.Source("shares", [{"region": r, "share": v} for r, v in req.shares.items()]),
            completed=req.completed, waiting=req.waiting, counts=req.counts, final=req.final, publish=req.publish)
    except records.ReportInputError as exc:
        raise InputError(exc.items()) from None


REPORT_EXAMPLE = {
    "year": 2025,
    "completed": [
        {"region": "Region Nord", "unit": "BUP Nord 1", "date": "2025-03-12", "contact_type": "first_visit",
         "in_numerator": True, "in_denominator": True},
        {"region": "Region Nord", "unit": "BUP Nord 1", "date": "2024-03-20", "contact_type": "first_visit",
         "in_numerator": False, "in_denominator": True},
    ],
    "waiting": [{"region": "Region Nord", "unit": "BUP Nord 1", "month": "2025-03", "area": "first_visit",
                 "wait_start": "2025-03-10"}],
    "shares": {"Region Nord": 0.052},
    "final": False,
    "publish": False,
}


# ---- /docs without the internet, and the project's own account of the definitions ----------

DOCS_DIR = data_dir("docs")
# Swagger UI 5 and ReDoc as the fastapi-offline package ships them (MIT; its LICENSE is in its dist-info)
SWAGGER_DIR = Path(importlib.util.find_spec("fastapi_offline").origin or "").parent / "static"
_DOC_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SECTION = re.compile(r"^(\d+(?:\.\d+)?)\.?\s")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – bup-classifier</title><link rel="icon" href="data:,">
<style>body{{font:16px/1.55 system-ui,sans-serif;max-width:52rem;margin:0 auto;padding:1rem;color:#1d2530}}
table{{border-collapse:collapse;display:block;overflow-x:auto}}td,th{{border:1px solid #d5dbe3;padding:.25rem .5rem;
vertical-align:top}}code{{background:#f1f3f6;padding:0 .2rem}}pre{{overflow-x:auto}}h2,h3{{scroll-margin-top:1rem}}
:target{{background:#fff6e0}}a{{color:#1f5fa8}}</style></head>
<body><p><a href="/">← arbetsbänken / the workbench</a> · <a href="/docs/{name}.md">markdown</a></p>
{body}</body></html>"""


@lru_cache(maxsize=8)
def _markdown() -> MarkdownIt:
    # GitHub's heading anchors (docs/README.md lists them; rule sources cite them)
    return MarkdownIt("commonmark", {"html": False}).enable("table").use(anchors_plugin, max_level=4)


def _doc_path(name: str) -> Path:
    path = DOCS_DIR / f"{name}.md"
    if not _DOC_NAME.fullmatch(name) or not path.is_file():
        raise HTTPException(404, f"no document {name!r} under docs/")
    return path


@lru_cache(maxsize=8)
def render_doc(name: str) -> str:
    """A document under docs/ as one HTML page, with an id on every heading (GitHub's anchors)."""
    path = _doc_path(name)
    text = path.read_text(encoding="utf-8")
    title = next((line.lstrip("# ") for line in text.splitlines() if line.startswith("# ")), name)
    body = _markdown().render(text).replace('href="definitions.md#', 'href="/docs/definitions#')
    return _PAGE.format(title=title, name=name, body=body)


@lru_cache(maxsize=1)
def definition_anchors() -> dict[str, str]:
    """Section number ("6.3") -> heading anchor of docs/definitions.md, for links from a rule's source."""
    tokens = _markdown().parse(_doc_path("definitions").read_text(encoding="utf-8"))
    out = {}
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.attrs.get("id"):
            m = _SECTION.match(tokens[i + 1].content)
            if m:
                out[m.group(1)] = str(tok.attrs["id"])
    return out


def mount(app: FastAPI) -> None:
    """Serve /docs and /redoc (their files from the fastapi-offline package, no CDN) and docs/ read-only.

    The app is built with docs_url=None and redoc_url=None, so these are the only docs pages.
    The markdown is served as it is at /docs/NAME.md and rendered at /docs/NAME.
    """
    app.mount("/docs/static", StaticFiles(directory=SWAGGER_DIR), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} – API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js", swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon.png")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} – API",
                              redoc_js_url="/docs/static/redoc.standalone.js",
                              redoc_favicon_url="/docs/static/favicon.png", with_google_fonts=False)

    @app.get("/docs/{name}.md", include_in_schema=False)
    async def doc_text(name: str) -> PlainTextResponse:
        return PlainTextResponse(_doc_path(name).read_text(encoding="utf-8"),
                                 media_type="text/plain; charset=utf-8")

    @app.get("/docs/{name}", include_in_schema=False)
    async def doc_page(name: str) -> HTMLResponse:
        return HTMLResponse(render_doc(name))
