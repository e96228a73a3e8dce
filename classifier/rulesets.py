"""The rule sets a process holds, each valid from a date: a contact is classified by the set
valid on its date, unless the request names a version (`ruleset_version`).

The agreement and its definitions are yearly, so a 2025 contact must keep its 2025
answer after the 2026 rules are released. One variable says which sets a process holds,
$BUP_RULES_DIR (one directory, or several separated by os.pathsep), and one flag sets it,
`--rules DIR` (repeatable) on every command (docs/rulesets.md). `default_rulesets()` is the
one holding per process: classify, batch, timeline, the month, the reports, impact, the
access log, the decision log and /v1/ruleset all take each contact's set from it.
`RuleSets` has the same interface as `Classifier` (classify, classify_batch,
classify_timeline, ruleset, engine), so the service and the CLI take either; with one held
set it answers exactly as that set. A contact dated before every held set's `valid_from`
is classified by the earliest set: there is no older one to ask.
"""

from __future__ import annotations

import argparse
import functools
import os
import threading
from datetime import date
from pathlib import Path
from typing import Any

from classifier import errors, resources
from classifier.classify import Classifier, classify_batch, commitment_windows
from classifier.models import TimelineContact, TimelineRequest
from classifier.ruleset import RuleSet, RuleSetError, held, ordered, valid_on


class RuleSets:
    """Loaded rule sets ordered by `valid_from`; picks one per contact."""

    def __init__(self, classifiers: list[Classifier], today: date | None = None):
        if not classifiers:
            raise ValueError("RuleSets needs at least one rule set")
        by_ruleset = {id(c.ruleset): c for c in classifiers}
        self.classifiers = [by_ruleset[id(r)] for r in ordered([c.ruleset for c in classifiers])]
        self._starts = [c.ruleset.valid_from or date.min for c in self.classifiers]
        self.by_version = {c.ruleset.version: c for c in self.classifiers}
        self.today = today or date.today()
        self.default = self.for_date(self.today)

    # -- the Classifier interface (the default set's rules, per-contact choice) ----------

    @property
    def ruleset(self) -> Any:
        return self.default.ruleset

    @property
    def engine(self) -> Any:
        return self.default.engine

    def for_date(self, day: date) -> Classifier:
        """The set valid on `day`: the latest whose valid_from is on or before it (else the earliest)."""
        return self.classifiers[valid_on(self._starts, day)]

    def for_counting(self) -> RuleSets:
        """Every held set as Classifier.for_counting gives it (the month, impact on an extract)."""
        if all(c.explain is False for c in self.classifiers):
            return self
        return RuleSets([c.for_counting() for c in self.classifiers], self.today)

    def identities(self, versions: object = None) -> list[dict[str, Any]]:
        """Name, version, sha256, status and valid_from of the held sets (only `versions`, when given), in
        valid_from order: what an answer or output that used them names."""
        return [identity(c.ruleset) for c in self.classifiers if versions is None or c.ruleset.version in versions]

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
        results = [runs[id(c)][i] for i, c in enumerate(chosen)]
        return {"results": results, "commitments": commitment_windows(timeline.events, results)}

    def describe(self) -> dict[str, Any]:
        """GET /v1/ruleset: the set valid today as before, plus every held set with its validity."""
        return {**self.default.ruleset.describe(), "rulesets": [
            {**identity(c.ruleset), "default": c is self.default} for c in self.classifiers]}


def identity(ruleset: RuleSet) -> dict[str, Any]:
    """A rule set's identity with the first date it answers for (None: from the start)."""
    return {**ruleset.identity(), "valid_from": ruleset.valid_from.isoformat() if ruleset.valid_from else None}


def as_rulesets(classifier: Classifier | RuleSets) -> RuleSets:
    """A single Classifier (a candidate, a test's copy) held alone; RuleSets as they are."""
    return classifier if isinstance(classifier, RuleSets) else RuleSets([classifier], date.today())


def _as_date(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def load_all(dirs: list[str] | None = None) -> RuleSets:
    """Rule sets from these directories (default: the ones $BUP_RULES_DIR names, else rules/)."""
    if dirs:
        return RuleSets([Classifier(d) for d in dirs])
    return RuleSets([Classifier(ruleset=r) for r in held()])


def default_rulesets() -> RuleSets:
    """The process's one holding of rule sets: $BUP_RULES_DIR, else the shipped set (loaded once per value)."""
    return _holding(os.environ.get(resources.RULES_ENV, ""), os.environ.get(resources.RETIRED_RULES_ENV, ""))


@functools.lru_cache(maxsize=4)
def _holding(_dirs: str, _retired: str) -> RuleSets:
    return load_all()


default_rulesets.cache_clear = _holding.cache_clear  # type: ignore[attr-defined]


def add_option(parser: argparse.ArgumentParser, what: str = "") -> None:
    """`--rules DIR`, the one flag that names the held rule sets (every command that classifies has it)."""
    parser.add_argument("--rules", action="append", default=[], metavar="DIR",
                        help="a rule-set directory; repeat to hold several, each used for the contacts dated on or "
                             f"after its valid_from (default: $BUP_RULES_DIR, else rules/){what}")


def use(dirs: list[str]) -> None:
    """Hold the rule sets in `dirs` in this process and its children (workers inherit the variable); each is
    loaded and checked here, so a broken one fails before anything runs."""
    if not dirs:
        return
    missing = [d for d in dirs if not (Path(d) / "ruleset.yaml").is_file()]
    if missing:
        raise RuleSetError(f"--rules {missing[0]}: no ruleset.yaml there; expected a rule-set directory")
    os.environ[resources.RULES_ENV] = os.pathsep.join(str(Path(d).resolve()) for d in dirs)
    default_rulesets()
