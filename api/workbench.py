"""The clinicians' workbench: a static page at `/` and the two things it needs from the server.

The page (api/workbench/: HTML, CSS and plain JavaScript, no build step) calls the public
API for every answer, so it shows exactly what a journal system gets. It needs only:
- `GET /workbench/library`: the clinical examples by section, and the words a clinician
  reads (contact types, facts, exclusions, the En väg in checklist), all from rules/ and
  examples/, so a renamed label changes in one place;
- `POST /workbench/example`: a case as a YAML file in the examples format, its
  expectation taken from today's answer (classifier.examples.record).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from classifier import Classifier
from classifier import examples as library

STATIC_DIR = Path(__file__).resolve().parent / "workbench"

# Answer fields that are not rule facts but are shown beside them.
_ANSWER_FACTS = {
    "activity_source": {"label_sv": "Aktivitetens källa (angiven eller KVÅ)",
                        "label_en": "Source of the activity (given or KVÅ)", "description": ""},
}


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
        "facts": {**rs.fact_texts, **_ANSWER_FACTS},
        "exclusions": rs.tables["exclusions"]["codes"],
        "checklist": rs.tables["checklist"]["items"],
        # the contact types that open or continue a care commitment: the journey draws its 12 months from them
        "commitment_types": sorted(rs.commitment_types),
    }


def _filename(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", title.lower().translate(str.maketrans("åäöé", "aaoe"))).strip("_")
    return f"{slug[:60] or 'example'}.yaml"


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

    app.mount("/workbench/static", StaticFiles(directory=STATIC_DIR), name="workbench")
