"""Clinical examples: YAML files with a story, a request (or a timeline) and the expected answer.

An example states only what a clinician cares about (type, rule, wait, warnings,
chosen facts); `check` compares just those, so an example stays valid when the answer
grows new fields. Used by `bup-classifier examples` and by the test suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, Field

from classifier import resources
from classifier.classify import Classifier
from classifier.errors import InputError, parse
from classifier.models import Strict, Text
from classifier.privacy import identity_number_paths, reject_identity_number

DEFAULT_EXAMPLES_DIR = resources.data_dir("examples")  # the shipped library (checkout or wheel)
SECTIONS_FILE = "sections.yaml"
EXPECT_KEYS = {"contact_type", "rule", "measurement_point", "wait", "warnings", "facts", "error_paths"}


@dataclass(frozen=True)
class Example:
    path: Path
    title: str
    title_sv: str
    section: str
    story: str
    fires: tuple[str, ...]
    misses: tuple[str, ...]
    request: dict[str, Any] | None
    timeline: dict[str, Any] | None
    expect: Any

    @property
    def name(self) -> str:
        return f"{self.path.parent.name}/{self.path.stem}"


def load(directory: str | Path | None = None) -> list[Example]:
    """Every example file under `directory` (default: examples/), sorted by path."""
    root = Path(directory or DEFAULT_EXAMPLES_DIR)
    out = []
    for path in sorted(root.rglob("*.yaml")):
        if path.name == SECTIONS_FILE and path.parent == root:
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        missing = [k for k in ("title", "story", "expect") if k not in doc]
        if missing or ("request" in doc) == ("timeline" in doc):
            raise ValueError(f"{path}: an example needs title, story, expect and one of request/timeline")
        out.append(
            Example(
                path=path,
                title=doc["title"],
                title_sv=doc.get("title_sv", doc["title"]),
                section=path.parent.name,
                story=doc["story"],
                fires=tuple(doc.get("fires", ())),
                misses=tuple(doc.get("misses", ())),
                request=doc.get("request"),
                timeline=doc.get("timeline"),
                expect=doc["expect"],
            )
        )
    return out


def sections(directory: str | Path | None = None) -> dict[str, dict[str, str]]:
    """The library's sections (folder → sv/en title and source) in the definitions document's order.

    Folders that sections.yaml does not name come last, titled by their folder name.
    """
    root = Path(directory or DEFAULT_EXAMPLES_DIR)
    file = root / SECTIONS_FILE
    known = yaml.safe_load(file.read_text(encoding="utf-8"))["sections"] if file.exists() else {}
    out = {k: {"title_sv": v["title_sv"], "title_en": v["title_en"], "source": v.get("source", "")}
           for k, v in known.items()}
    for path in sorted(root.rglob("*.yaml")):
        if path != file:
            out.setdefault(path.parent.name, {"title_sv": path.parent.name, "title_en": path.parent.name,
                                              "source": ""})
    return out


def _compare(expected: Any, actual: Any, where: str, diffs: list[str]) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key not in actual:
                diffs.append(f"{where}.{key}: expected {value!r}, answer has no such field")
            else:
                _compare(value, actual[key], f"{where}.{key}", diffs)
    elif expected != actual:
        diffs.append(f"{where}: expected {expected!r}, got {actual!r}")


def _check_one(expect: dict[str, Any], answer: dict[str, Any], where: str) -> list[str]:
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        return [f"{where}: unknown expectation key(s) {sorted(unknown)}"]
    diffs: list[str] = []
    view = {
        "contact_type": answer["contact_type"],
        "rule": answer["rule"]["id"],
        "measurement_point": answer["measurement_point"],
        "wait": answer["wait"],
        "warnings": [w["code"] for w in answer["warnings"]],
        "facts": answer["facts"],
    }
    for key, value in expect.items():
        if key == "wait" and value is None:
            if view["wait"] is not None:
                diffs.append(f"{where}.wait: expected no wait, got {view['wait']!r}")
        else:
            _compare(value, view[key], f"{where}.{key}", diffs)
    return diffs


def check(classifier: Classifier, example: Example) -> list[str]:
    """The differences between the example's expectation and the classifier's answer."""
    try:
        if example.request is not None:
            result = classifier.classify(example.request)
            if "error_paths" in example.expect:
                return [f"expected a rejection at {example.expect['error_paths']}, got an answer"]
            return _check_one(example.expect, result, "answer")
        results = classifier.classify_timeline(example.timeline)["results"]
    except InputError as exc:
        paths = sorted({e["path"] for e in exc.errors})
        if isinstance(example.expect, dict) and "error_paths" in example.expect:
            expected = sorted(example.expect["error_paths"])
            return [] if expected == paths else [f"error paths: expected {expected}, got {paths}"]
        return [f"rejected: {exc}"]
    if not isinstance(example.expect, list) or len(example.expect) != len(results):
        return [f"timeline: expected {len(example.expect or [])} answers, got {len(results)}"]
    diffs = []
    for i, (exp, res) in enumerate(zip(example.expect, results, strict=True)):
        diffs += _check_one(exp, res, f"results[{i}]")
    return diffs


def coverage(classifier: Classifier, found: list[Example]) -> dict[str, dict[str, list[str]]]:
    """Per rule: the examples whose answer fired it, and those declared as just missing it.

    "Fires" is read from the answers (every contact of a timeline counts), not from the
    files' own `fires:` lists, so the table cannot claim more than the classifier does.
    """
    table = {r.id: {"fires": [], "misses": []} for r in classifier.ruleset.rules}
    for ex in found:
        try:
            if ex.request is not None:
                answers = [classifier.classify(ex.request)]
            else:
                answers = classifier.classify_timeline(ex.timeline)["results"]
        except InputError:
            answers = []
        for rid in dict.fromkeys(a["rule"]["id"] for a in answers):
            table[rid]["fires"].append(ex.name)
        for rid in ex.misses:
            if rid in table:
                table[rid]["misses"].append(ex.name)
    return table


class NewExample(Strict):
    """What a clinician sends to record a case: a title, a story and one request or timeline."""

    title: Text
    story: Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(reject_identity_number)]
    request: dict[str, Any] | None = None
    timeline: dict[str, Any] | None = None


def record(classifier: Classifier, body: object) -> dict[str, Any]:
    """A new example whose expectation is today's answer, so a clinician's case becomes a regression test.

    An input the service rejects is recorded too, expecting the same error paths. `misses`
    stays empty: which rule a case just misses is the author's judgement, not the engine's.
    """
    new = parse(NewExample, body)
    if (new.request is None) == (new.timeline is None):
        raise InputError([{"path": "request", "message": "expected exactly one of request and timeline",
                           "type": "value_error"}])
    case_key, case = ("request", new.request) if new.request is not None else ("timeline", new.timeline)
    # A rejected case is recorded as it was sent, so an identity number must never get that far.
    found = [f"{case_key}.{p}" if p[0] != "[" else case_key + p for p in identity_number_paths(case)]
    if found:
        raise InputError([{"path": path, "message": "looks like a Swedish personal identity or coordination "
                           "number; an example file must not hold one (use a made-up pseudonym)",
                           "type": "value_error"} for path in found])
    expect: Any
    try:
        if new.request is not None:
            answers = [classifier.classify(new.request)]
            expect = _expectation(answers[0], with_facts=True)
        else:
            answers = classifier.classify_timeline(new.timeline)["results"]
            expect = [_expectation(a, with_facts=False) for a in answers]
    except InputError as exc:
        answers, expect = [], {"error_paths": sorted({e["path"] for e in exc.errors})}
    doc: dict[str, Any] = {"title": new.title, "source": "Arbetsbänken (bup-classifier workbench)",
                           "story": new.story.rstrip() + "\n",
                           "fires": list(dict.fromkeys(a["rule"]["id"] for a in answers)), "misses": []}
    doc[case_key] = case
    doc["expect"] = expect
    return doc


def _expectation(answer: dict[str, Any], with_facts: bool) -> dict[str, Any]:
    out = {"contact_type": answer["contact_type"], "rule": answer["rule"]["id"], "wait": answer["wait"],
           "warnings": [w["code"] for w in answer["warnings"]]}
    if with_facts:
        out["facts"] = answer["facts"]
    return out


class _Dumper(yaml.SafeDumper):
    """Writes a multi-line story as a `|` block, as the hand-written examples do."""


_Dumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))


def dump(doc: dict[str, Any]) -> str:
    """An example as YAML, in the key order of the files under examples/."""
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110, default_flow_style=None)
