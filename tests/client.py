"""The in-process HTTP client shared by the API and property tests."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx versions
    from fastapi.testclient import TestClient

from api.app import app

client = TestClient(app, raise_server_exceptions=False)
