"""The only module that knows durable_rules exists: facts in, fired rule ids out.

How the engine is used, and why (see ../shared/notes and durable/engine.py):
- durable_rules' C engine has no locks, and every `Host` starts background threads
  that call into it. Our `Host` subclass starts no threads (we use no timers and no
  async actions), and one process-wide lock serialises every call into the engine.
- Every classification asserts its facts as one fact in one long-lived session and
  retracts it before the lock is released: nothing is left behind (no per-call
  session, so no 1,024-session limit and no `delete_state` cost), and no other
  classification can ever see those facts. Rules match single facts, no joins.
- `assert_fact` fires *every* matching rule (`post` would fire only the first and hide
  an overlap), so the unique-hit policy is checked on every call: none or several
  classification rules is a `RuleSetDefect` naming them, never a silent pick.
- durable_rules' Python layer runs each fired action through a Closure, a state
  update and several JSON round trips (measured: most of a decision's cost). We
  drive the C engine's action loop ourselves (`start_action_for_state`,
  `complete_and_start_action`) and read only the fired rule's name from each action
  message: no Python action runs, so none can fail silently into session state.
- Each rule is compiled to disjoint DNF terms (durable_rules allows 32 expressions a
  rule), so one rule fires one engine action, not one per overlapping term.
- A ruleset cannot be re-registered under one name, so each `Engine` registers its own
  uniquely named ruleset (tests and the mutation check load many rule sets).
- A batch fold (the month: a million contacts, a few dozen distinct fact assignments)
  asks through `RememberedDecisions`: durable_rules decides each complete assignment of
  the facts once, and the same assignment gets that decision again (measured: the engine
  round trip was a quarter of the month's instructions). The service's per-request
  answers always ask the engine.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import durable_rules_engine as _c
import orjson
from durable import engine as _dr

from classifier import conditions as c
from classifier.ruleset import RuleSet

_LOCK = threading.Lock()
_NAMES = itertools.count()
_WARNING_SEP = "!"


class EngineError(RuntimeError):
    """The engine failed for a reason that is not the rule set's logic."""


class RuleSetDefect(RuntimeError):
    """None or several classification rules fired: a defect of the rule set, not of the input."""

    def __init__(self, fired: list[str], facts: Mapping[str, Any]):
        self.fired = fired
        self.facts = dict(facts)
        what = "no classification rule fired" if not fired else f"several rules fired: {', '.join(fired)}"
        super().__init__(f"rule-set defect: {what} for facts {self.facts}")


@dataclass(frozen=True)
class Decision:
    rule_id: str
    warning_codes: tuple[str, ...]


class _QuietHost(_dr.Host):
    """A Host without the dispatch and timer threads that call into the engine unlocked."""

    def _run(self) -> None:
        return None


def _leaf(fact: str, values: frozenset[c.Value], domain: tuple[c.Value, ...]) -> dict[str, Any]:
    allowed = [v for v in domain if v in values]
    if len(allowed) == 1:
        return {fact: allowed[0]}
    others = [v for v in domain if v not in values]
    if len(others) == 1:
        return {"$neq": {fact: others[0]}}
    return {"$or": [{fact: v} for v in allowed]}


def compile_condition(cond: c.Cond, domains: c.Domains) -> list[dict[str, Any]]:
    """Translate a condition into durable_rules expressions, one flat `$and` per DNF term.

    durable_rules allows at most 32 expressions in one rule (error 113), so a rule
    becomes several engine rules, one per term of its disjunctive normal form.
    """
    exprs = []
    for term in c.disjoint_dnf(cond, domains):
        leaves = [_leaf(f, term[f], domains[f]) for f in domains if f in term and len(term[f]) < len(domains[f])]
        exprs.append(leaves[0] if len(leaves) == 1 else {"$and": leaves})
    return exprs


def _never_run(_closure: Any) -> None:  # pragma: no cover - the action loop is driven in `fired`
    raise EngineError("durable_rules ran a Python action; the classifier drives the action loop itself")


class Engine:
    """A compiled rule set: `decide(facts)` returns the one rule that fired and its warnings."""

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self._ids = itertools.count()
        self._name = f"bup_{ruleset.sha256[:12]}_{next(_NAMES)}"
        self._logical: dict[str, str] = {}  # engine rule name (one per DNF term) -> rule id or rule!warning
        definition: dict[str, Any] = {}
        for rule in ruleset.rules:
            self._add(definition, rule.id, rule.effective)
            for w in rule.warnings:
                if w.when is not None:
                    self._add(definition, f"{rule.id}{_WARNING_SEP}{w.code}", c.All((rule.effective, w.when)))
        with _LOCK:
            self._host = _QuietHost()
            try:
                self._host.register_rulesets({self._name: definition})
            except BaseException as exc:  # the C engine rejects the compiled JSON
                raise EngineError(f"durable_rules rejected the compiled rule set: {exc}") from exc
            self._handle = self._host.get_ruleset(self._name)._handle

    def _add(self, definition: dict[str, Any], name: str, cond: c.Cond) -> None:
        for i, expr in enumerate(compile_condition(cond, self.ruleset.domains)):
            definition[f"{name}#{i}"] = {"all": [{"m": expr}], "run": _never_run}
            self._logical[f"{name}#{i}"] = name

    def _action_name(self, message: str) -> str:
        # An action message is '{"<engine rule name>":{...}}'; only the name is needed.
        if not message.startswith('{"'):
            raise EngineError(f"unexpected action message from durable_rules: {message[:80]!r}")
        return self._logical[message[2 : message.index('"', 2)]]

    def fired(self, facts: Mapping[str, c.Value]) -> list[str]:
        """Every rule (classification and warning) whose condition holds for the facts, sorted.

        The facts are asserted as one fact, every action the engine schedules is read,
        and the fact is retracted before the lock is released: nothing stays behind.
        """
        payload = orjson.dumps({**facts, "cid": next(self._ids)}).decode()
        names: set[str] = set()
        with _LOCK:
            try:
                code, state = _c.assert_fact(self._handle, payload)
            except BaseException as exc:
                raise EngineError(f"durable_rules failed on assert_fact: {exc}") from exc
            if code == 1:  # no rule matched: nothing was stored
                return []
            try:
                if code != 0:
                    raise EngineError(f"durable_rules answered assert_fact with code {code}")
                started = _c.start_action_for_state(self._handle, state)
                message = started[1] if started else None
                while message:
                    names.add(self._action_name(message))
                    message = _c.complete_and_start_action(self._handle, state)
            except EngineError:
                raise
            except BaseException as exc:
                _c.abandon_action(self._handle, state)
                raise EngineError(f"durable_rules failed in its action loop: {exc}") from exc
            finally:
                try:
                    _c.retract_fact(self._handle, payload)
                except BaseException as exc:
                    raise EngineError(f"durable_rules failed to retract a fact: {exc}") from exc
        return sorted(names)

    def decide(self, facts: Mapping[str, c.Value]) -> Decision:
        """The single classification rule for these facts; a RuleSetDefect when not exactly one."""
        names = self.fired(facts)
        rules = [n for n in names if _WARNING_SEP not in n]
        if len(rules) != 1:
            raise RuleSetDefect(rules, facts)
        rule = self.ruleset.rules_by_id[rules[0]]
        fired = set(names)
        codes = tuple(
            w.code for w in rule.warnings if w.when is None or f"{rule.id}{_WARNING_SEP}{w.code}" in fired
        )
        return Decision(rule.id, codes)


class RememberedDecisions:
    """`Engine.decide` for a batch: each complete fact assignment is decided by durable_rules once.

    The engine's decision is a function of the facts alone (one fact asserted and retracted,
    nothing left behind), so the same assignment gets the same rule and warnings; the key
    is every fact the engine sees, in the rule set's fact order. Only decisions are kept:
    a rule-set defect is raised again each time. Bounded by the fact domains (at most their
    product), and by `limit` besides.
    """

    def __init__(self, engine: Engine, limit: int = 1 << 17):
        self.engine = engine
        self._names = tuple(engine.ruleset.domains)
        self._known: dict[tuple[c.Value, ...], Decision] = {}
        self._limit = limit
        self.asked = 0  # decisions asked for
        self.by_engine = 0  # of which durable_rules was asked (the rest were known)

    def decide(self, facts: Mapping[str, c.Value]) -> Decision:
        """The engine's decision for these facts (asked of durable_rules the first time they are seen)."""
        self.asked += 1
        if len(facts) != len(self._names):
            raise EngineError(f"expected the facts {', '.join(self._names)}, got {', '.join(facts)}")
        key = tuple(map(facts.__getitem__, self._names))
        found = self._known.get(key)
        if found is None:
            self.by_engine += 1
            found = self.engine.decide(facts)
            if len(self._known) < self._limit:
                self._known[key] = found
        return found
