"""Several rule sets at once, each valid from a date: a contact is classified by the set
valid on its date, unless the request names a version (`ruleset_version`).

The agreement and its definitions are yearly, so a 2025 contact must keep its 2025
answer after the 2026 rules are released. `RuleSets` has the same interface as
`Classifier` (classify, classify_batch, classify_timeline, ruleset, engine), so the
service and the CLI take either; with one loaded set it answers exactly as that set.
A contact dated before every loaded set's `valid_from` is classified by the earliest
set: there is no older one to ask (README, "Rule sets by validity date").
"""

from __future__ import annotations

import bisect
import functools
import os
import threading
from datetime import date
from typing import Any

from classifier import errors
from classifier.classify import Classifier, classify_batch, default_classifier
from classifier.models import TimelineContact, TimelineRequest


class RuleSets:
    """Loaded rule sets ordered by `valid_from`; picks one per contact."""

    def __init__(self, classifiers: list[Classifier], today: date | None = None):
        if not classifiers:
            raise ValueError("RuleSets needs at least one rule set")
        ordered = sorted(classifiers, key=lambda c: c.ruleset.valid_from or date.min)
        versions = [c.ruleset.version for c in ordered]
        if len(set(versions)) != len(versions):
            raise ValueError(f"two loaded rule sets share a version: {versions}")
        starts = [c.ruleset.valid_from or date.min for c in ordered]
        if len(set(starts)) != len(starts):
            raise ValueError(f"two loaded rule sets share a valid_from date: {[str(s) for s in starts]}")
        self.classifiers = ordered
        self._starts = starts
        self.by_version = {c.ruleset.version: c for c in ordered}
        self.default = self.for_date(today or date.today())

    # -- the Classifier interface (the default set's rules, per-contact choice) ----------

    @property
    def ruleset(self) -> Any:
        return self.default.ruleset

    @property
    def engine(self) -> Any:
        return self.default.engine

    def for_date(self, day: date) -> Classifier:
        """The set valid on `day`: the latest whose valid_from is on or before it (else the earliest)."""
        i = bisect.bisect_right(self._starts, day) - 1
        return self.classifiers[max(i, 0)]

    def named(self, version: object, path: str) -> Classifier:
        """The set with this version; a 422 naming `path` when none is loaded."""
        if not isinstance(version, str) or version not in self.by_version:
            raise errors.InputError([{
                "path": path, "type": "unknown_ruleset",
                "message": f"expected one of the loaded rule-set versions {list(self.by_version)}, got {version!r}"}])
        return self.by_version[version]

    def _pick(self, payload: object, contact_date: object) -> Classifier:
        if isinstance(payload, dict) and payload.get("ruleset_version") is not None:
            return self.named(payload["ruleset_version"], "ruleset_version")
        if len(self.classifiers) == 1:
            return self.classifiers[0]
        day = _as_date(contact_date)
        return self.for_date(day) if day else self.default  # a bad date is reported by validation

    def classify(self, payload: object) -> dict[str, Any]:
        contact = payload.get("contact") if isinstance(payload, dict) else None
        day = contact.get("date") if isinstance(contact, dict) else None
        return self._pick(payload, day).classify(payload)

    def classify_batch(
        self, payload: object, cancelled: threading.Event | None = None,
        rejected: dict[int, list[dict[str, str]]] | None = None,
    ) -> dict[str, Any]:
        """Each item by its own date (or named version); a bad item gets its own error entry."""
        return classify_batch(self.classify, payload, cancelled, rejected)

    def classify_timeline(self, payload: object, cancelled: threading.Event | None = None) -> dict[str, Any]:
        """Each contact by the set valid on its date, with the history that same set gives the
        events before it: the timeline runs once per set it spans (usually one)."""
        if (isinstance(payload, dict) and payload.get("ruleset_version") is not None) or len(self.classifiers) == 1:
            return self._pick(payload, None).classify_timeline(payload, cancelled)
        timeline = errors.parse(TimelineRequest, payload)
        chosen = [self.for_date(ev.contact.date) for ev in timeline.events if isinstance(ev, TimelineContact)]
        runs = {id(c): c.classify_timeline(payload, cancelled)["results"] for c in {id(c): c for c in chosen}.values()}
        return {"results": [runs[id(c)][i] for i, c in enumerate(chosen)]}

    def describe(self) -> dict[str, Any]:
        """GET /v1/ruleset: the default set as before, plus every loaded set with its validity."""
        return {**self.default.ruleset.describe(), "rulesets": [
            {**c.ruleset.identity(),
             "valid_from": c.ruleset.valid_from.isoformat() if c.ruleset.valid_from else None,
             "default": c is self.default} for c in self.classifiers]}


def _as_date(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def load_all(dirs: list[str] | None) -> RuleSets:
    """Rule sets from these directories (the default rules/ when none)."""
    if not dirs:
        return RuleSets([default_classifier()])
    return RuleSets([Classifier(d) for d in dirs])


@functools.cache
def default_rulesets() -> RuleSets:
    """The process-wide rule sets: $BUP_RULES_DIRS (os.pathsep-separated), else the default set."""
    dirs = [d for d in os.environ.get("BUP_RULES_DIRS", "").split(os.pathsep) if d]
    return load_all(dirs)
