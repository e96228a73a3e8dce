"""Load and check the rule files under rules/, and compute their content hash.

Loading is where a malformed rule set must fail, loudly and by name: every file is
validated by its schema (classifier/rulefiles.py: unknown keys and wrong types are
errors at every level), then cross-checked: unknown facts, values and warning codes, a
duplicate id, and the tables and facts.yaml against the request model (models.py, the
API contract, whose Literals are the one source of allowed values) and against the
facts `derive` produces (facts.FACT_VALUES).
The result is an immutable `RuleSet` that the engine compiles and the answer builder
reads; nothing here decides a contact.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import ValidationError

from classifier import conditions as c
from classifier import models, resources
from classifier import rulefiles as rf
from classifier.facts import FACT_VALUES

DEFAULT_RULES_DIR = resources.data_dir("rules")  # the shipped rule set (checkout or wheel)
S = TypeVar("S", bound=rf.Schema)


class RuleSetError(ValueError):
    """The rule files are malformed; the message names the file and the rule."""


@dataclass(frozen=True)
class RuleWarning:
    code: str
    when: c.Cond | None  # None: always, when the rule fires


@dataclass(frozen=True)
class Rule:
    id: str
    stage: str
    title_sv: str
    title_en: str
    source: str
    when: c.Cond
    unless: tuple[str, ...]
    outcome: str
    warnings: tuple[RuleWarning, ...]
    file: str
    # Filled in by the loader: `when`, minus the rules it must not overlap (earlier
    # stages, and `unless`), with exclusions that its own condition already implies pruned.
    effective: c.Cond = c.TRUE
    used_facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stage:
    name: str
    title_sv: str
    title_en: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: str
    sha256: str
    directory: Path
    domains: dict[str, tuple[c.Value, ...]]
    # Per fact: label_sv, label_en and description, for people reading an answer.
    fact_texts: dict[str, dict[str, str]]
    constraints: tuple[tuple[str, c.Cond], ...]
    stages: tuple[Stage, ...]
    tables: dict[str, Any]
    limit_days: int
    commitment_months: int
    commitment_types: frozenset[str]
    status: str = "provisional"
    # rules/release.yaml: the version and content hash recorded when the rule set was
    # released (`bup-classifier rules --release VERSION`); not part of the hashed content.
    released: dict[str, str] = field(default_factory=dict)
    rules_by_id: dict[str, Rule] = field(default_factory=dict)
    # The first contact date this rule set answers for (ruleset.yaml `valid_from`); None: no start.
    valid_from: date | None = None

    @functools.cached_property
    def checklist_by_id(self) -> dict[str, dict[str, Any]]:
        """The En väg in checklist items by id (D1–D7, X1), built once: warnings name them per answer."""
        return {i["id"]: i for i in self.tables["checklist"]["items"]}

    @functools.cached_property
    def checklist_fields(self) -> dict[str, str]:
        """Checklist id (D1…X1) -> the model field that answers it (an extract's columns are the ids)."""
        return {i: item["field"] for i, item in self.checklist_by_id.items()}

    @functools.cached_property
    def medication_prefixes(self) -> tuple[str, ...]:
        """The care-guarantee ATC codes and prefixes, for one str.startswith per code."""
        return tuple(e["code"] for e in self.tables["medications"]["atc"])

    @functools.cached_property
    def confirmed_medication_prefixes(self) -> tuple[str, ...]:
        """The entries a public source confirms (medications.yaml `confirmed: true`, with its `source`)."""
        return tuple(e["code"] for e in self.tables["medications"]["atc"] if e["confirmed"])

    def provisional_matches(self, codes: tuple[str, ...]) -> list[tuple[str, str]]:
        """(code, entry) for each started code matched by provisional entries only, when no code matches a
        confirmed entry: the covered medications whose cover rests on the provisional part of the list."""
        if any(code.startswith(self.confirmed_medication_prefixes) for code in codes):
            return []
        return [(code, e["code"]) for code in codes for e in self.tables["medications"]["atc"]
                if not e["confirmed"] and code.startswith(e["code"])]

    @property
    def rules(self) -> list[Rule]:
        return [r for s in self.stages for r in s.rules]

    def identity(self) -> dict[str, str]:
        """What every answer carries so it can be audited later, and how settled the rules are."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "status": self.status}

    def release_problem(self) -> str | None:
        """Why the content is not the released content of its version, or None when it is.

        A rule set whose files changed must carry a new version: an answer's version and
        hash then always name one content. The message says how to release.
        """
        how = f"release it with `bup-classifier rules --release NEW_VERSION` (rules dir {self.directory})"
        if not self.released:
            return f"rule set {self.version} has no release record (release.yaml); {how}"
        if self.released.get("version") != self.version:
            return (f"ruleset.yaml says version {self.version} but release.yaml records "
                    f"{self.released.get('version')}; {how}")
        if self.released.get("sha256") != self.sha256:
            return (f"the rule files changed since version {self.version} was released "
                    f"(released sha256 {self.released.get('sha256')}, now {self.sha256}): "
                    f"a change of content needs a new version; {how}")
        return None

    def describe(self) -> dict[str, Any]:
        """The rule set as GET /v1/ruleset and `bup-classifier rules` show it."""
        return {
            **self.identity(),
            "released": self.release_problem() is None,
            "stages": [s.name for s in self.stages],
            "rules": [
                {
                    "id": r.id,
                    "stage": r.stage,
                    "title_sv": r.title_sv,
                    "title_en": r.title_en,
                    "source": r.source,
                    "outcome": r.outcome,
                    "facts": list(r.used_facts),
                    "warnings": [w.code for w in r.warnings],
                }
                for r in self.rules
            ],
        }


def _read_yaml(path: Path, hasher: Any, root: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleSetError(f"{path}: cannot read rule file ({exc.strerror})") from exc
    hasher.update(str(path.relative_to(root)).encode() + b"\0" + raw + b"\0")
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise RuleSetError(f"{path}: not valid YAML: {exc}") from exc


def _validate(model: type[S], raw: Any, file: str) -> S:
    """The file's content as its schema model; every problem named by file, rule and key."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RuleSetError("\n".join(rf.format_errors(exc, model, file, raw))) from None


def _cond(raw: Any, domains: c.Domains, where: str) -> c.Cond:
    try:
        return c.parse(raw, domains, where)
    except c.ConditionError as exc:
        raise RuleSetError(str(exc)) from None


def _parse_rule(spec: rf.RuleSpec, stage: str, file: str, domains: c.Domains, tables: dict[str, Any]) -> Rule:
    where = f"{file}: rule {spec.id}"
    warnings = []
    for i, w in enumerate(spec.warnings):
        if w.code not in tables["warnings"]["warnings"]:
            known = sorted(tables["warnings"]["warnings"])
            raise RuleSetError(f"{where}.warnings[{i}]: unknown warning code {w.code!r}; expected one of {known}")
        if any(w.code == other.code for other in warnings):
            raise RuleSetError(f"{where}.warnings[{i}]: warning {w.code!r} is listed twice")
        wcond = _cond(w.when, domains, f"{where}.warnings[{i}].when") if w.when is not None else None
        warnings.append(RuleWarning(w.code, wcond))
    return Rule(
        id=spec.id,
        stage=stage,
        title_sv=spec.title_sv,
        title_en=spec.title_en,
        source=spec.source,
        when=_cond(spec.when, domains, f"{where}.when"),
        unless=tuple(spec.unless),
        outcome=spec.outcome,
        warnings=tuple(warnings),
        file=file,
    )


def parse_stage(raw: Any, file: str, domains: c.Domains, tables: dict[str, Any]) -> tuple[rf.StageFile, list[Rule]]:
    """A stage file's content, validated, and its rules parsed (without `effective`, which needs
    the rules before them: `load` adds it)."""
    doc = _validate(rf.StageFile, raw, file)
    return doc, [_parse_rule(spec, doc.stage, file, domains, tables) for spec in doc.rules]


def _same(file: str, what: str, found: Any, expected: Any, source: str) -> None:
    """Fail unless a table lists exactly the values the request model (the HTTP contract) allows."""
    missing = [v for v in expected if v not in found]
    extra = [v for v in found if v not in expected]
    twice = sorted({v for v in found if list(found).count(v) > 1}, key=str)
    if missing or extra or twice:
        problems = [f"{head} {values}" for head, values in
                    (("missing", missing), ("not allowed", extra), ("listed twice", twice)) if values]
        raise RuleSetError(f"{file}: {what}: {'; '.join(problems)}; expected exactly {list(expected)} ({source})")


def _check_tables(tables: dict[str, Any], paths: rf.TablePaths) -> None:
    """The tables against the request model, whose Literals are the one source of allowed values."""
    types_file = paths.contact_types
    _same(types_file, "contact_types", tables["contact_types"]["contact_types"], get_args(models.ContactType),
          "classifier/models.py ContactType")
    for name, spec in tables["contact_types"]["contact_types"].items():
        if spec["measurement_point"] != ("wait_start" in spec):
            raise RuleSetError(
                f"{types_file}: contact_types.{name}: a measurement point needs 'wait_start' "
                f"(one of {list(get_args(models.WaitBasis))}) and only a measurement point has one"
            )
    _same(paths.contact_forms, "forms", tables["contact_forms"]["forms"], get_args(models.ContactForm),
          "classifier/models.py ContactForm, the contact_form values of the HTTP contract")
    _same(paths.exclusions, "codes", tables["exclusions"]["codes"], get_args(models.Exclusion),
          "classifier/models.py Exclusion, the wait_exclusion values of the HTTP contract")
    items = tables["checklist"]["items"]
    fields = list(models.EviAssessment.model_fields)
    for i, item in enumerate(items):
        if item["field"] not in fields:
            raise RuleSetError(
                f"{paths.checklist}: items[{i}] ({item['id']}): field {item['field']!r} is not a field of "
                f"care_request.evi_assessment; expected one of {fields} (classifier/models.py EviAssessment)"
            )
    _same(paths.checklist, "items[].field", [i["field"] for i in items], fields,
          "every field of classifier/models.py EviAssessment once")
    ids = [i["id"] for i in items]
    if len(set(ids)) != len(ids):
        raise RuleSetError(f"{paths.checklist}: items: duplicate id in {ids}")


def _check_facts(domains: dict[str, tuple[c.Value, ...]], constraints: list[tuple[str, c.Cond]],
                 checklist: dict[str, Any], paths: rf.TablePaths) -> None:
    """facts.yaml against the facts `derive` produces, and its constraints against the checklist."""
    for fact, values in domains.items():
        if fact not in FACT_VALUES:
            raise RuleSetError(
                f"facts.yaml: facts.{fact}: classifier/facts.py derive never produces this fact; "
                f"expected one of {list(FACT_VALUES)}"
            )
        _same("facts.yaml", f"facts.{fact}.values", values, FACT_VALUES[fact],
              "the values classifier/facts.py derive can produce")
    missing = [f for f in FACT_VALUES if f not in domains]
    if missing:
        raise RuleSetError(f"facts.yaml: facts: missing {missing}, which classifier/facts.py derive produces")
    allowed = checklist["pathways_allowing_direct_start"]
    for pathway in domains["pathway"]:
        possible = c.satisfiable(c.All((c.Leaf("direct_start_allowed", frozenset({True})),
                                        c.Leaf("pathway", frozenset({pathway})),
                                        *(con for _, con in constraints))), domains)
        if possible != (pathway in allowed):
            raise RuleSetError(
                f"facts.yaml: constraints: a direct start (direct_start_allowed: true) by pathway {pathway!r} is "
                f"{'possible' if possible else 'excluded'}, but {paths.checklist} "
                f"pathways_allowing_direct_start is {allowed}"
            )


def _effective(rule: Rule, excluded: list[Rule], domains: c.Domains) -> c.Cond:
    """`rule.when` and not any excluded rule, skipping exclusions `when` already implies."""
    parts: list[c.Cond] = [rule.when]
    for other in excluded:
        if c.satisfiable(c.All((rule.when, other.effective)), domains):
            parts.append(c.Not(other.effective))
    return c.to_nnf(c.All(tuple(parts)) if len(parts) > 1 else rule.when, domains)


RELEASE_FILE = "release.yaml"


def read_release(root: Path) -> dict[str, str]:
    """The release record beside the rule files ({} when there is none)."""
    path = root / RELEASE_FILE
    if not path.exists():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RuleSetError(f"{path}: not valid YAML: {exc}") from exc
    record = _validate(rf.ReleaseFile, raw, RELEASE_FILE)
    return {"version": record.version, "sha256": record.sha256}


def release(directory: str | os.PathLike[str], version: str) -> RuleSet:
    """Set `version` in ruleset.yaml and record the content hash it is released with."""
    root = Path(directory).resolve()
    top = root / "ruleset.yaml"
    text = top.read_text(encoding="utf-8")
    new, n = re.subn(r'(?m)^version:.*$', f'version: "{version}"', text, count=1)
    if n != 1:
        raise RuleSetError(f"{top}: no top-level 'version:' line to set")
    top.write_text(new, encoding="utf-8")
    ruleset = load(root)
    (root / RELEASE_FILE).write_text(
        "# Written by `bup-classifier rules --release VERSION`, never by hand: the version and the\n"
        "# sha256 of the rule files it was released with. A test fails when the files change\n"
        "# without a new release, so an answer's version and hash always name one content.\n"
        f'version: "{ruleset.version}"\nsha256: "{ruleset.sha256}"\n',
        encoding="utf-8",
    )
    return load(root)


_LOADED: dict[tuple[Path, str], RuleSet] = {}


def ordered(sets: list[RuleSet]) -> list[RuleSet]:
    """Rule sets held together, by `valid_from` (none: from the start); two with one version or one start
    date would make "the set valid on a day" ambiguous, so they are refused by name."""
    out = sorted(sets, key=lambda r: r.valid_from or date.min)
    versions = [r.version for r in out]
    if len(set(versions)) != len(versions):
        raise RuleSetError(f"two held rule sets share a version: {versions} ({[str(r.directory) for r in out]})")
    starts = [r.valid_from or date.min for r in out]
    if len(set(starts)) != len(starts):
        raise RuleSetError(f"two held rule sets share a valid_from date: {[str(s) for s in starts]} "
                           f"({[str(r.directory) for r in out]})")
    return out


def valid_on(starts: list[date], day: date) -> int:
    """Which of the sets starting on `starts` (ascending) answers for `day`: the latest that started on or
    before it; a day before every start takes the earliest (there is no older set to ask)."""
    return max(bisect.bisect_right(starts, day) - 1, 0)


def held() -> list[RuleSet]:
    """Every rule set this process holds ($BUP_RULES_DIR, docs/rulesets.md), ordered by valid_from."""
    try:
        dirs = resources.rules_dirs()
    except resources.RulesEnvError as exc:
        raise RuleSetError(str(exc)) from None
    return ordered([load(d) for d in dirs])


def held_on(day: date) -> RuleSet:
    """The held rule set valid on `day` (engine-free: the reporting layer counts waits with it)."""
    sets = held()
    return sets[valid_on([r.valid_from or date.min for r in sets], day)]


def load(directory: str | os.PathLike[str] | None = None) -> RuleSet:
    """Load, check and hash the rule set in `directory` (default: the held set valid today).

    Checking a rule set (every rule's effective condition, exactly one rule per combination
    of facts) takes about a second, so a process checks each content once: the same files,
    byte for byte, give the same (immutable) RuleSet; any change is loaded and checked anew.
    """
    if directory is None:
        return held_on(date.today())
    root = Path(directory).resolve()
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.yaml")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    key = (root, digest.hexdigest())
    if key not in _LOADED:
        if len(_LOADED) >= 16:
            _LOADED.clear()
        _LOADED[key] = _load(root)
    return _LOADED[key]


def _load(root: Path) -> RuleSet:
    hasher = hashlib.sha256()
    top = _validate(rf.RuleSetFile, _read_yaml(root / "ruleset.yaml", hasher, root), "ruleset.yaml")

    tables: dict[str, Any] = {}
    for key in sorted(rf.TABLES):  # sorted: the order the content hash has always read them in
        rel = getattr(top.tables, key)
        tables[key] = _read_yaml(root / rel, hasher, root)
        _validate(rf.TABLES[key], tables[key], rel)
    _check_tables(tables, top.tables)

    facts_doc = _validate(rf.FactsFile, _read_yaml(root / top.facts, hasher, root), top.facts)
    domains = {fact: tuple(spec.values) for fact, spec in facts_doc.facts.items()}
    constraints = [
        (con.why, c.Not(_cond(con.not_, domains, f"{top.facts}: constraints[{i}].not")))
        for i, con in enumerate(facts_doc.constraints)
    ]
    _check_facts(domains, constraints, tables["checklist"], top.tables)

    stages: list[Stage] = []
    seen: dict[str, Rule] = {}
    earlier: list[Rule] = []
    for rel in top.stages:
        doc, parsed = parse_stage(_read_yaml(root / rel, hasher, root), rel, domains, tables)
        if any(s.name == doc.stage for s in stages):
            raise RuleSetError(f"{rel}: stage {doc.stage!r} is listed twice")
        rules: list[Rule] = []
        for rule in parsed:
            if rule.id in seen or any(r.id == rule.id for r in rules):
                also = seen[rule.id].file if rule.id in seen else rel
                raise RuleSetError(f"{rel}: duplicate rule id {rule.id!r} (also in {also})")
            in_stage = {r.id: r for r in rules}
            for u in rule.unless:
                if u not in in_stage:
                    raise RuleSetError(
                        f"{rel}: rule {rule.id}: 'unless' names {u!r}, which is not an earlier rule of this stage"
                    )
            excluded = earlier + [in_stage[u] for u in rule.unless]
            used = tuple(f for f in domains if f in c.facts_of(rule.when))
            rule = Rule(**{**rule.__dict__, "effective": _effective(rule, excluded, domains), "used_facts": used})
            seen[rule.id] = rule
            rules.append(rule)
        stages.append(Stage(doc.stage, doc.title_sv, doc.title_en, tuple(rules)))
        earlier.extend(rules)

    return RuleSet(
        name=top.name,
        version=top.version,
        sha256=hasher.hexdigest(),
        directory=root,
        domains=domains,
        fact_texts={f: {"label_sv": s.label_sv, "label_en": s.label_en, "description": s.description}
                    for f, s in facts_doc.facts.items()},
        constraints=tuple(constraints),
        stages=tuple(stages),
        tables=tables,
        limit_days=top.wait.limit_days,
        commitment_months=top.wait.commitment_months,
        status=top.status,
        released=read_release(root),
        commitment_types=frozenset(tables["contact_types"]["commitment_types"]),
        rules_by_id=dict(seen),
        valid_from=top.valid_from,
    )


