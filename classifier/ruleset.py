"""Load and check the rule files under rules/, and compute their content hash.

Loading is where a malformed rule set must fail, loudly and by name: an unknown fact
or value, an unknown outcome or warning, a duplicate id, a missing title or source.
The result is an immutable `RuleSet` that the engine compiles and the answer builder
reads; nothing here decides a contact.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from classifier import conditions as c
from classifier import resources

DEFAULT_RULES_DIR = resources.data_dir("rules")  # the shipped rule set (checkout or wheel)
REQUIRED_RULE_KEYS = ("id", "title_sv", "title_en", "source", "when", "outcome")
ALLOWED_RULE_KEYS = {*REQUIRED_RULE_KEYS, "unless", "warnings"}


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
    def medication_prefixes(self) -> tuple[str, ...]:
        """The care-guarantee ATC codes and prefixes, for one str.startswith per code."""
        return tuple(e["code"] for e in self.tables["medications"]["atc"])

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


def _need(mapping: Any, key: str, where: str, kind: type | tuple[type, ...] = str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise RuleSetError(f"{where}: missing {key!r}")
    val = mapping[key]
    if not isinstance(val, kind) or (isinstance(val, str) and not val.strip()):
        raise RuleSetError(f"{where}: {key!r} must be a non-empty {getattr(kind, '__name__', kind)}")
    return val


def _parse_rule(raw: Any, stage: str, file: str, domains: c.Domains, tables: dict[str, Any]) -> Rule:
    rid = raw.get("id") if isinstance(raw, Mapping) else None
    where = f"{file}: rule {rid or '?'}"
    if not isinstance(raw, Mapping):
        raise RuleSetError(f"{where}: a rule is a mapping")
    for key in REQUIRED_RULE_KEYS:
        if key != "when":
            _need(raw, key, where)
    extra = set(raw) - ALLOWED_RULE_KEYS
    if extra:
        raise RuleSetError(f"{where}: unknown key(s) {sorted(extra)}")
    if "when" not in raw:
        raise RuleSetError(f"{where}: missing 'when'")
    try:
        when = c.parse(raw["when"], domains, f"{where}.when")
    except c.ConditionError as exc:
        raise RuleSetError(str(exc)) from exc
    outcome = raw["outcome"]
    if outcome not in tables["contact_types"]["contact_types"]:
        known = list(tables["contact_types"]["contact_types"])
        raise RuleSetError(f"{where}: unknown outcome {outcome!r}; expected one of {known}")
    warnings = []
    for i, w in enumerate(raw.get("warnings") or []):
        code = _need(w, "code", f"{where}.warnings[{i}]")
        if code not in tables["warnings"]["warnings"]:
            raise RuleSetError(f"{where}.warnings[{i}]: unknown warning code {code!r}")
        try:
            wcond = c.parse(w["when"], domains, f"{where}.warnings[{i}].when") if "when" in w else None
        except c.ConditionError as exc:
            raise RuleSetError(str(exc)) from exc
        warnings.append(RuleWarning(code, wcond))
    unless = raw.get("unless") or []
    if not isinstance(unless, list) or not all(isinstance(u, str) for u in unless):
        raise RuleSetError(f"{where}: 'unless' must be a list of rule ids")
    return Rule(
        id=rid,
        stage=stage,
        title_sv=raw["title_sv"],
        title_en=raw["title_en"],
        source=raw["source"],
        when=when,
        unless=tuple(unless),
        outcome=outcome,
        warnings=tuple(warnings),
        file=file,
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
    if not isinstance(raw, Mapping) or not all(isinstance(raw.get(k), str) for k in ("version", "sha256")):
        raise RuleSetError(f"{path}: expected 'version' and 'sha256' as strings")
    return {"version": raw["version"], "sha256": raw["sha256"]}


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


def load(directory: str | os.PathLike[str] | None = None) -> RuleSet:
    """Load, check and hash the rule set in `directory` (default: $BUP_RULES_DIR or rules/)."""
    root = Path(directory or resources.rules_dir()).resolve()
    hasher = hashlib.sha256()
    top = _read_yaml(root / "ruleset.yaml", hasher, root)
    where = "ruleset.yaml"
    name = _need(top, "name", where)
    version = _need(top, "version", where, str)  # a string: YAML reads 2026.10 as the float 2026.1
    status = _need(top, "status", where)
    if status not in ("provisional", "confirmed"):
        raise RuleSetError(f"{where}: 'status' must be 'provisional' or 'confirmed', not {status!r}")
    wait = _need(top, "wait", where, Mapping)

    tables_spec = _need(top, "tables", where, Mapping)
    tables = {key: _read_yaml(root / rel, hasher, root) for key, rel in sorted(tables_spec.items())}
    for key in ("contact_types", "warnings", "checklist", "contact_forms", "exclusions", "medications", "kva"):
        if key not in tables:
            raise RuleSetError(f"{where}: tables: missing {key!r}")
        _need(tables[key], "source", f"{tables_spec[key]}")

    facts_doc = _read_yaml(root / _need(top, "facts", where), hasher, root)
    facts_raw = _need(facts_doc, "facts", "facts.yaml", Mapping)
    domains: dict[str, tuple[c.Value, ...]] = {}
    for fact, spec in facts_raw.items():
        values = _need(spec, "values", f"facts.yaml: {fact}", list)
        domains[fact] = tuple(values)
    constraints = []
    for i, con in enumerate(facts_doc.get("constraints") or []):
        try:
            constraints.append(
                (_need(con, "why", f"facts.yaml: constraints[{i}]"),
                 c.Not(c.parse(con.get("not"), domains, f"facts.yaml: constraints[{i}].not")))
            )
        except c.ConditionError as exc:
            raise RuleSetError(str(exc)) from exc

    stages: list[Stage] = []
    seen: dict[str, Rule] = {}
    earlier: list[Rule] = []
    for rel in _need(top, "stages", where, list):
        doc = _read_yaml(root / rel, hasher, root)
        stage_name = _need(doc, "stage", rel)
        rules: list[Rule] = []
        for raw in _need(doc, "rules", rel, list):
            rule = _parse_rule(raw, stage_name, rel, domains, tables)
            if rule.id in seen:
                raise RuleSetError(f"{rel}: duplicate rule id {rule.id!r} (also in {seen[rule.id].file})")
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
        if not rules:
            raise RuleSetError(f"{rel}: a stage needs at least one rule")
        stages.append(Stage(stage_name, _need(doc, "title_sv", rel), _need(doc, "title_en", rel), tuple(rules)))
        earlier.extend(rules)

    return RuleSet(
        name=name,
        version=version,
        sha256=hasher.hexdigest(),
        directory=root,
        domains=domains,
        fact_texts={f: {k: str(s.get(k, "")) for k in ("label_sv", "label_en", "description")}
                    for f, s in facts_raw.items()},
        constraints=tuple(constraints),
        stages=tuple(stages),
        tables=tables,
        limit_days=int(_need(wait, "limit_days", f"{where}: wait", int)),
        commitment_months=int(_need(wait, "commitment_months", f"{where}: wait", int)),
        status=status,
        released=read_release(root),
        commitment_types=frozenset(_need(tables["contact_types"], "commitment_types", "contact_types", list)),
        rules_by_id=dict(seen),
        valid_from=_valid_from(top.get("valid_from"), where),
    )


def _valid_from(value: Any, where: str) -> date | None:
    """`valid_from` as a date ('YYYY-MM-DD'); absent means valid for every date."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise RuleSetError(f"{where}: 'valid_from' must be a date 'YYYY-MM-DD', got {value!r}") from None
