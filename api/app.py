"""FastAPI service (filled in by the HTTP issue): health for now."""

from __future__ import annotations

from fastapi import FastAPI

from classifier import default_classifier

app = FastAPI(title="bup-classifier")


@app.get("/health")
def health() -> dict[str, object]:
    return {"status": "ok", "ruleset": default_classifier().ruleset.identity()}
