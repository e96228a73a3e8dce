"""The only module that knows durable_rules exists: facts in, fired rule ids out.

How the engine is used, and why (measured facts about durable_rules; its source, durable/engine.py):
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
  uniquely named ruleset (tests and the mutation check load many rule sets), and registers
  it again under a new name when a failure left its session mid-action.
- durable_rules decides each complete assignment of the facts **once per rule set**, and
  every later contact with the same assignment gets that decision again (`Engine.decide`).
  The decision is a function of the facts alone (one fact asserted and retracted, nothing
  left behind), the key is every fact, and the fact space is finite (`verify` enumerates
  it), so the memory is bounded by it. Every entry point (one contact, batch, timeline,
  the month, impact, replay) goes through this one path; the process-wide lock is taken
  only when durable_rules is asked, i.e. the first time an assignment is seen. A defect
  (none or several rules) is never remembered. `Engine.ask` is durable_rules' own answer
  every time: what `verify` and the equivalence tests compare the memory with.
"""

from __future__ import annotations

import copy
import itertools
import operator
import threading
from collections.abc import Callable, Mapping
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


def _key_of(names: tuple[str, ...]) -> Callable[[Mapping[str, c.Value]], tuple[c.Value, ...]]:
    """The facts' values in the rule set's fact order, in one C call (operator.itemgetter): the memory's key."""
    if len(names) < 2:  # itemgetter of one name returns the value, not a tuple
        return lambda facts: tuple(facts[n] for n in names)
    return operator.itemgetter(*names)  # type: ignore[return-value]


def _never_run(_closure: Any) -> None:  # pragma: no cover - the action loop is driven in `fired`
    raise EngineError("durable_rules ran a Python action; the classifier drives the action loop itself")


class Engine:
    """A compiled rule set: `decide(facts)` returns the one rule that fired and its warnings."""

    # Bounded by the fact space (the product of the fact domains: 34,560 assignments today); this is a guard.
    MEMORY_LIMIT = 1 << 17

    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self._fact_names = tuple(ruleset.domains)
        self._key = _key_of(self._fact_names)
        self._known: dict[tuple[c.Value, ...], Decision] = {}
        self.asked_engine = 0  # how many decisions durable_rules was asked for (the rest were known)
        self._ids = itertools.count()
        self._prefix = f"bup_{ruleset.sha256[:12]}"
        self._name = ""  # the ruleset's name in durable_rules, new with every registration (`_register`)
        self._logical: dict[str, str] = {}  # engine rule name (one per DNF term) -> rule id or rule!warning
        definition: dict[str, Any] = {}
        for rule in ruleset.rules:
            self._add(definition, rule.id, rule.effective)
            for w in rule.warnings:
                if w.when is not None:
                    self._add(definition, f"{rule.id}{_WARNING_SEP}{w.code}", c.All((rule.effective, w.when)))
        self._definition = definition
        with _LOCK:
            self._host = _QuietHost()
            self._handle = self._register()

    def _register(self) -> int:
        """Register the compiled rule set under a new name (called with the lock held): its C handle."""
        self._name = f"{self._prefix}_{next(_NAMES)}"
        try:
            self._host.register_rulesets({self._name: copy.deepcopy(self._definition)})  # it pops 'run'
        except BaseException as exc:  # the C engine rejects the compiled JSON
            raise EngineError(f"durable_rules rejected the compiled rule set: {exc}") from exc
        return self._host.get_ruleset(self._name)._handle

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
                _c.retract_fact(self._handle, payload)
            except BaseException as exc:
                # A session left mid-action is not usable again (measured: after abandon_action and
                # retract_fact the handle's next action message was garbage bytes), so a failure
                # replaces the handle: the next classification starts on a clean registration.
                self._handle = self._register()
                if isinstance(exc, EngineError):
                    raise
                raise EngineError(f"durable_rules failed in its action loop: {exc}") from exc
        return sorted(names)

    def ask(self, facts: Mapping[str, c.Value]) -> Decision:
        """durable_rules' decision, asked now: the single classification rule; a RuleSetDefect when not exactly one."""
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


    def decide(self, facts: Mapping[str, c.Value]) -> Decision:
        """The decision for these facts: durable_rules' own (`ask`), asked the first time the assignment is seen.

        Every fact is the key, in the rule set's fact order; a fact too many or too few is an error.
        Dict reads need no lock in CPython; two threads that miss the same key at once both ask the
        engine (under its lock) and store the same decision.
        """
        if len(facts) != len(self._fact_names):
            raise EngineError(f"expected the facts {', '.join(self._fact_names)}, got {', '.join(facts)}")
        key = self._key(facts)
        found = self._known.get(key)
        if found is None:
            self.asked_engine += 1
            found = self.ask(facts)
            if len(self._known) < self.MEMORY_LIMIT:
                self._known[key] = found
        return found
