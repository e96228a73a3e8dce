"""The clinicians' workbench: a static page at `/` and the two things it needs from the server.

The page (api/workbench/: HTML, CSS and plain JavaScript, no build step) calls the public
API for every answer, so it shows exactly what a journal system gets. It needs only:
- `GET /workbench/library`: the clinical examples by section, the words a clinician reads
  (contact types, facts, exclusions, the En väg in checklist, the month's findings) and the
  values each select offers (from the request models), all from their one home (rules/,
  examples/, classifier/models.py), so a renamed label or a new value changes in one place;
  the month and impact pages read it too (pages.js);
- `POST /workbench/example`: a case as a YAML file in the examples format, its
  expectation taken from today's answer (classifier.examples.record);
- `POST /workbench/example/read`: such a file (`{"yaml": text}`) back as JSON, so the page
  can load a saved example without a YAML parser of its own.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, get_args

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from api import docs
from api.work import Limits
from classifier import Classifier, InputError, models
from classifier import examples as library
from classifier.month.outputs import FINDING_SV

STATIC_DIR = Path(__file__).resolve().parent / "workbench"


@lru_cache(maxsize=4)
def library_payload(clf: Classifier) -> dict[str, Any]:
    """Everything the page shows that is not an answer: examples, sections and vocabulary."""
    rs = clf.ruleset
    sections = library.sections()
    found = library.load()
    return {
        "ruleset": rs.identity(),
        "wait": {"limit_days": rs.limit_days, "commitment_months": rs.commitment_months},
        "sections": [{"id": k, **v} for k, v in sections.items()],
        "examples": [
            {"name": ex.name, "section": ex.section, "title_en": ex.title, "title_sv": ex.title_sv, "story": ex.story,
             "fires": list(ex.fires), "misses": list(ex.misses), "expect": ex.expect,
             **({"request": ex.request} if ex.request is not None else {"timeline": ex.timeline})}
            for ex in found
        ],
        "contact_types": {k: {"label_sv": v["label_sv"], "label_en": v["label_en"],
                              "measurement_point": v["measurement_point"]}
                          for k, v in rs.tables["contact_types"]["contact_types"].items()},
        "facts": rs.fact_texts,
        "rules": {r["id"]: {"title_sv": r["title_sv"], "title_en": r["title_en"]} for r in rs.describe()["rules"]},
        # docs/definitions.md served at /docs/definitions: rule sources cite its sections (§6.3)
        "definitions": {"url": "/docs/definitions", "anchors": docs.definition_anchors()},
        "exclusions": rs.tables["exclusions"]["codes"],
        "checklist": rs.tables["checklist"]["items"],
        "options": options(),
        # the month's data-quality findings in Swedish (month page), from their one home
        "findings": FINDING_SV,
    }


def _literal(field: Any) -> list[str]:
    """The values a field's Literal allows (an Optional unwrapped)."""
    kind = next((a for a in get_args(field.annotation) if a is not type(None)), None)
    return list(get_args(kind) if kind is not None and get_args(kind) else get_args(field.annotation))


@lru_cache(maxsize=1)
def options() -> dict[str, list[str]]:
    """The values each select of the page may offer, taken from the request models (their one home),
    so the page never lists them again. `event`: the event types a history holds."""
    contact = models.Contact.model_fields
    events = get_args(get_args(models.HistoryItem)[0])
    return {
        "setting": _literal(contact["setting"]),
        "activity": _literal(contact["activity"]),
        "modality": _literal(contact["treatment_modality"]),
        "form": _literal(contact["contact_form"]),
        "exclusion": _literal(contact["wait_exclusion"]),
        "pathway": _literal(models.CareRequest.model_fields["pathway"]),
        "contact_type": _literal(models.HistoryContact.model_fields["contact_type"]),
        "event": [_literal(e.model_fields["type"])[0] for e in events],
    }


def _filename(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", title.lower().translate(str.maketrans("åäöé", "aaoe"))).strip("_")
    return f"{slug[:60] or 'example'}.yaml"


def read_example(body: object, limits: Limits | None = None) -> dict[str, Any]:
    """An example file's text as {title, story, request | timeline, expect}; 422 for anything else.

    The text is read by classifier.examples.read_text: no anchors, aliases or tags, and the
    service's size, depth and node limits (api/work.py), so no file expands past what was sent.
    """
    text = body.get("yaml") if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise InputError([{"path": "yaml", "message": "expected the example file's text as a string",
                           "message_sv": "ska vara exempelfilens text", "type": "value_error"}])
    lim = limits or Limits()
    doc = library.read_text(text, lim.yaml_max_chars, lim.yaml_max_depth, lim.yaml_max_nodes)
    if not isinstance(doc, dict) or ("request" in doc) == ("timeline" in doc):
        raise InputError([{"path": "yaml", "message": "expected an example file with either request or timeline",
                           "message_sv": "ska vara en exempelfil med antingen request eller timeline",
                           "type": "value_error"}])
    keys = ("title", "story", "fires", "misses", "request", "timeline", "expect")
    return {k: doc[k] for k in keys if k in doc}


def mount(app: FastAPI, clf: Classifier, compute: Any, limits: Limits) -> None:
    """Add the page and its two helpers to the app (none of them is part of the API contract).

    `compute(request, fn)` reads the JSON body and runs `fn(payload)` in the service's
    worker pool (api/work.py), under its time limit and with its guards (identity numbers
    refused at the door).
    """
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(index, media_type="text/html; charset=utf-8")

    @app.get("/workbench/library", include_in_schema=False)
    async def get_library() -> dict[str, Any]:
        return library_payload(clf)

    @app.post("/workbench/example", include_in_schema=False)
    async def new_example(request: Request) -> Response:
        def record(payload: Any) -> tuple[str, str]:
            doc = library.record(clf, payload)
            return doc["title"], library.dump(doc)

        title, text = await compute(request, record)
        return Response(text, media_type="application/yaml; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{_filename(title)}"'})

    @app.post("/workbench/example/read", include_in_schema=False)
    async def read_example_file(request: Request) -> dict[str, Any]:
        return await compute(request, lambda payload: read_example(payload, limits))

    app.mount("/workbench/static", StaticFiles(directory=STATIC_DIR), name="workbench")
