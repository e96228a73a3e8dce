"""The clinicians' workbench: a static page at `/` and the two things it needs from the server.

The page (api/workbench/: HTML, CSS and plain JavaScript, no build step) calls the public
API for every answer, so it shows exactly what a journal system gets. It needs only:
- `GET /workbench/library`: the clinical examples by section, and the words a clinician
  reads (contact types, facts, exclusions, the En väg in checklist), all from rules/ and
  examples/, so a renamed label changes in one place;
- `POST /workbench/example`: a case as a YAML file in the examples format, its
  expectation taken from today's answer (classifier.examples.record);
- `POST /workbench/example/read`: such a file (`{"yaml": text}`) back as JSON, so the page
  can load a saved example without a YAML parser of its own.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from api import docs
from classifier import Classifier, InputError
from classifier import examples as library

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
    }


def _filename(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", title.lower().translate(str.maketrans("åäöé", "aaoe"))).strip("_")
    return f"{slug[:60] or 'example'}.yaml"


def read_example(body: object) -> dict[str, Any]:
    """An example file's text as {title, story, request | timeline, expect}; 422 for anything else."""
    text = body.get("yaml") if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise InputError([{"path": "yaml", "message": "expected the example file's text as a string",
                           "message_sv": "ska vara exempelfilens text", "type": "value_error"}])
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        n = f" {where.line + 1}" if where else ""
        raise InputError([{"path": "yaml", "message": f"not a YAML file (line{n})",
                           "message_sv": f"ingen YAML-fil (rad{n})", "type": "value_error"}]) from None
    if not isinstance(doc, dict) or ("request" in doc) == ("timeline" in doc):
        raise InputError([{"path": "yaml", "message": "expected an example file with either request or timeline",
                           "message_sv": "ska vara en exempelfil med antingen request eller timeline",
                           "type": "value_error"}])
    keys = ("title", "story", "fires", "misses", "request", "timeline", "expect")
    return {k: doc[k] for k in keys if k in doc}


def mount(app: FastAPI, clf: Classifier, compute: Any) -> None:
    """Add the page and its two helpers to the app (none of them is part of the API contract).

    `compute(request, fn)` reads the JSON body and runs `fn(payload)` in the service's
    worker pool (api/work.py), with its guards (identity numbers refused at the door).
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
        return await compute(request, read_example)

    app.mount("/workbench/static", StaticFiles(directory=STATIC_DIR), name="workbench")
