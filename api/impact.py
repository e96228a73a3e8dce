"""POST /v1/impact: what a candidate rule set the service holds changes on the example library.

The JSON of `bup-classifier impact --candidate DIR --examples --json`, for a candidate
loaded beside the released set (`serve --rules rules/ --rules rules-next/`; `GET
/v1/ruleset` lists them). Needs the `audit` role (api/security.py), like the decision
log. The workbench page `/workbench/impact` draws it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api import docs
from api.security import require_role
from classifier import errors
from classifier.decisions import replay
from classifier.rulesets import RuleSets

PAGE = Path(__file__).resolve().parent / "workbench" / "impact.html"


class ImpactRequest(BaseModel):
    """Which loaded rule set to try, against which, and how to count the money."""

    model_config = ConfigDict(extra="forbid")

    candidate: str = Field(min_length=1, max_length=100, description=(
        "The version of the rule set to release: one of the versions the service holds (`GET /v1/ruleset` → "
        "`rulesets`)."))
    baseline: str | None = Field(None, min_length=1, max_length=100, description=(
        "A loaded version to compare with (not the candidate). Default: every other loaded set, each contact "
        "classified by the one valid on its date."))
    source: Literal["examples"] = Field("examples", description=(
        "The requests to replay: `examples`, the clinical example library the service ships. (Logged decisions "
        "and month extracts are replayed with `bup-classifier impact --from-log | --extract`.)"))
    region: str = Field("Region", min_length=1, max_length=100, description=(
        "The region the examples count for in the shares and money (the requests carry none)."))
    shares: dict[str, float] | None = Field(None, description=(
        "Each region's share of the national pots (0–1), for the money. Default: each region 1/21."))
    year: int | None = Field(None, ge=2000, le=2100, description=(
        "The agreement year of the money (default: the year most contacts fall in)."))
    max_changes: int = Field(1000, ge=0, le=10000, description="At most this many changed contacts are listed.")


def _problem(path: str, message: str, message_sv: str) -> errors.InputError:
    return errors.InputError([{"path": path, "message": message, "message_sv": message_sv, "type": "value_error"}])


def impact_of(sets: RuleSets, payload: object) -> dict[str, Any]:
    """The impact report for a request body; a bad field is a 422 naming it."""
    body = errors.parse(ImpactRequest, payload)
    versions = list(sets.by_version)
    candidate = sets.by_version.get(body.candidate)
    if candidate is None:
        raise _problem("candidate", f"expected one of the loaded rule-set versions {versions}, "
                       f"got {errors.sent(body.candidate)}",
                       f"ska vara en av de inlästa regelversionerna {versions}, skickat: {errors.sent(body.candidate)}")
    others = [c for c in sets.classifiers if c is not candidate]
    if body.baseline is not None:
        if body.baseline == body.candidate or body.baseline not in sets.by_version:
            allowed = [c.ruleset.version for c in others]
            raise _problem("baseline", f"expected another loaded version than the candidate, one of {allowed}, got "
                           f"{errors.sent(body.baseline)}", f"ska vara en annan inläst version än kandidaten, en av "
                           f"{allowed}, skickat: {errors.sent(body.baseline)}")
        baseline: Any = sets.by_version[body.baseline]
        name = body.baseline
    elif not others:
        raise _problem("candidate", "the service holds only this rule set; load the released one beside it "
                       "(serve --rules DIR --rules DIR) to compare",
                       "tjänsten har bara denna regelversion; läs in den gällande bredvid (serve --rules KATALOG "
                       "--rules KATALOG) för att jämföra")
    else:
        baseline, name = RuleSets(others), "+".join(c.ruleset.version for c in others)
    shares = None
    if body.shares is not None:
        bad = [k for k, v in body.shares.items() if not 0 <= v <= 1]
        if bad:
            raise _problem(f"shares.{bad[0]}", "expected a share between 0 and 1", "ska vara en andel mellan 0 och 1")
        shares = {k: Decimal(str(v)) for k, v in body.shares.items()}
    found = replay.impact(replay.from_examples(), candidate, baseline, name, body.candidate, body.region)
    result = found.result(body.year, shares, body.max_changes)
    result["source"] = "the example library"
    return result


RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The impact report: transition matrices of contact types and rules, the changed "
                         "contacts (by example name), each region's shares and money before and after.",
          "content": {"application/json": {"schema": {"type": "object"}}}},
    403: {"model": docs.ErrorResponse, "description": "The caller lacks the `audit` role."},
    413: {"model": docs.ErrorResponse, "description": "Body too large (checked before parsing)."},
    415: {"model": docs.ErrorResponse, "description": "Not a JSON body, or a Content-Type other than "
                                                      "application/json."},
    422: {"model": docs.ErrorResponse, "description": "A field that cannot be used, named by `path`."},
}


def mount(app: FastAPI, sets: RuleSets, compute: Any) -> None:
    """Add POST /v1/impact and its workbench page.

    `compute(request, fn)` reads the body with the app's guards and runs `fn(payload)` in
    the worker pool as a heavy request (it classifies the library twice).
    """

    @app.post("/v1/impact", tags=["decisions"], summary="What a candidate rule set changes on the example library",
              responses=RESPONSES, dependencies=[Depends(require_role("audit"))],
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": ImpactRequest.model_json_schema(), "example": {"candidate": "2027.1-rc"}}}}})
    async def impact(request: Request) -> Response:
        """`bup-classifier impact --examples --json` for a candidate the service holds: every example classified
        under the baseline and the candidate; contact-type and rule transition matrices, the changed contacts,
        and (through the monthly report) the region's shares and money before and after."""
        result = await compute(request, lambda payload: impact_of(sets, payload))
        return Response(orjson.dumps(result), media_type="application/json")

    @app.get("/workbench/impact", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(PAGE, media_type="text/html; charset=utf-8")
