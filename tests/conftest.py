"""Shared fixtures and the Hypothesis profiles (`ci` by default, `long` for make test-long)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from classifier import Classifier, default_classifier
from classifier.ruleset import DEFAULT_RULES_DIR

settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return default_classifier()


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of rules/ for tests that break or change it."""
    dest = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, dest)
    return dest


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the session's decision-log tests (tests/postgres.py)."""
    from tests.postgres import postgres_server

    with postgres_server() as pg:
        yield pg
