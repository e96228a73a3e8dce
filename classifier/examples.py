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
from classifier.privacy import identity_number_paths, looks_like_identity_number, reject_identity_number

DEFAULT_EXAMPLES_DIR = resources.data_dir("examples")  # the shipped library (checkout or wheel)
SECTIONS_FILE = "sections.yaml"
EXPECT_KEYS = {"contact_type", "rule", "measurement_point", "wait", "warnings", "facts", "error_paths"}
# A caller's example file (the workbench's "open"): the limits of `read_text`, overridable by the service.
YAML_MAX_CHARS = 256 * 1024  # a hand-written example is a few KiB; a 100-event timeline about 40 KiB
YAML_MAX_DEPTH = 16  # an example's deepest part, a timeline event's medication list, is 6 levels down
YAML_MAX_NODES = 20_000  # keys, values and items; a 100-event timeline holds about 2,500
MAX_NUMBER = 2**53  # as in a JSON body: beyond it a number is no longer exact, and no field needs one


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


class _Refused(Exception):
    """A part of a caller's YAML that is refused: what it is (English, Swedish) and where."""

    def __init__(self, what: str, what_sv: str, mark: yaml.Mark | None):
        self.what, self.what_sv, self.mark = what, what_sv, mark


_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


class _CallerLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the composer guarded: no anchor, alias or tag, bounded depth and
    node count, no duplicate key and no identity number, each refused while the document is read,
    so a 500-byte alias bomb is refused at its first anchor before any node is shared."""

    def __init__(self, text: str, max_depth: int, max_nodes: int):
        super().__init__(text)
        self.max_depth, self.max_nodes = max_depth, max_nodes
        self.depth = self.nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused("an alias (*name); write the value out instead",
                           "ett alias (*namn); skriv ut värdet i stället", event.start_mark)
        if event.anchor is not None:
            raise _Refused("an anchor (&name); write each value out instead",
                           "ett ankare (&namn); skriv ut varje värde i stället", event.start_mark)
        if event.tag is not None:
            raise _Refused("a tag (!…); an example file holds plain values only",
                           "en tagg (!…); en exempelfil har bara vanliga värden", event.start_mark)
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise _Refused(f"more than {self.max_nodes} keys, values and items",
                           f"fler än {self.max_nodes} nycklar, värden och element", event.start_mark)
        if not isinstance(event, yaml.ScalarEvent) and self.depth >= self.max_depth:
            raise _Refused(f"more than {self.max_depth} levels of nesting",
                           f"fler än {self.max_depth} nivåer", event.start_mark)
        self.depth += 1
        node = super().compose_node(parent, index)
        self.depth -= 1
        if isinstance(node, yaml.ScalarNode):
            self._check_scalar(node)
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key in (k for k, _ in node.value if isinstance(k, yaml.ScalarNode)):
                if key.value in seen:
                    raise _Refused(f"a duplicate key {key.value[:40]!r}; expected each key once",
                                   f"en upprepad nyckel {key.value[:40]!r}; varje nyckel ska finnas en gång",
                                   key.start_mark)
                seen.add(key.value)
        return node

    def _check_scalar(self, node: yaml.ScalarNode) -> None:
        """An identity number in a scalar of any type: its source text (escapes and all), its decoded text,
        and for a number its decimal value (`0b…`, octal, `2012_0312_1234` and `1.2e+11` resolve to one)."""
        source = self.buffer[node.start_mark.index:node.end_mark.index]
        texts = [source, node.value]
        if node.tag == "tag:yaml.org,2002:timestamp":
            try:
                self.construct_object(node)
            except ValueError:
                raise _Refused("a date that does not exist; expected 'YYYY-MM-DD'",
                               "ett datum som inte finns; ska vara 'ÅÅÅÅ-MM-DD'", node.start_mark) from None
        elif node.tag in _NUMBER_TAGS:
            try:
                value = self.construct_object(node)
            except ValueError:  # more digits than Python converts
                value = float("inf")
            if not abs(value) <= MAX_NUMBER:  # NaN too
                raise _Refused(f"a number larger than {MAX_NUMBER}", f"ett tal större än {MAX_NUMBER}",
                               node.start_mark)
            texts += [str(value), f"{value:f}"] if isinstance(value, float) else [str(value)]
        if any(looks_like_identity_number(t) for t in texts):
            raise _Refused("a value that looks like a Swedish personal identity or coordination number (not "
                           "repeated); an example file must not hold one (use a made-up pseudonym)",
                           "ett värde som liknar ett personnummer eller samordningsnummer (upprepas inte); en "
                           "exempelfil får inte innehålla något (använd en påhittad pseudonym)", node.start_mark)


def _where(mark: Any) -> tuple[str, str]:
    if isinstance(mark, yaml.reader.ReaderError):  # a character YAML does not allow, by its position
        return f" at character {mark.position + 1}", f" vid tecken {mark.position + 1}"
    if mark is None or not hasattr(mark, "line"):
        return "", ""
    return f" at line {mark.line + 1}, column {mark.column + 1}", f" på rad {mark.line + 1}, kolumn {mark.column + 1}"


def read_text(text: str, max_chars: int = YAML_MAX_CHARS, max_depth: int = YAML_MAX_DEPTH,
              max_nodes: int = YAML_MAX_NODES, path: str = "yaml") -> Any:
    """A caller's YAML document as plain values, or an InputError naming what is refused and where.

    Anchors, aliases and tags are refused (the alias bomb, `!!binary`, `!!python/…`), as are
    duplicate keys, identity numbers in any scalar and input past the size, depth and node
    limits: every limit is checked while the document is read, before memory is spent on it.
    """
    def refuse(message: str, message_sv: str) -> InputError:
        return InputError([{"path": path, "message": message, "message_sv": message_sv, "type": "yaml_refused"}])

    if len(text) > max_chars:
        raise refuse(f"expected a YAML file of at most {max_chars} characters, got {len(text)}",
                     f"ska vara en YAML-fil på högst {max_chars} tecken, skickat: {len(text)}")
    loader: _CallerLoader | None = None
    try:
        loader = _CallerLoader(text, max_depth, max_nodes)
        node = loader.get_single_node()
        return None if node is None else loader.construct_document(node)
    except _Refused as exc:
        where, where_sv = _where(exc.mark)
        raise refuse(f"refused{where}: {exc.what}", f"avvisas{where_sv}: {exc.what_sv}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        where, where_sv = _where(getattr(exc, "problem_mark", exc))
        raise InputError([{"path": path, "message": f"not a YAML file{where}",
                           "message_sv": f"ingen YAML-fil{where_sv}", "type": "value_error"}]) from None
    finally:
        if loader is not None:
            loader.dispose()


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
    """Writes a multi-line story as a `|` block, as the hand-written examples do, and a value used twice
    in full each time: a file with an anchor would not open again (`read_text` refuses anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))


def dump(doc: dict[str, Any]) -> str:
    """An example as YAML, in the key order of the files under examples/."""
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110, default_flow_style=None)
