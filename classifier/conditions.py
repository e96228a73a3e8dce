"""The condition language of the rule files, as a small immutable expression tree.

A condition in YAML is a mapping whose entries all must hold:
``fact: value`` (or ``fact: [v1, v2]``, any of), ``any: [cond, ...]`` (at least one),
``all: [cond, ...]`` (every one) and ``not: cond``. Keeping the tree engine-neutral is
what lets `engine.py` be the only module that knows durable_rules, and lets the
verifier and the rule table reason about conditions without running anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

Value = str | bool


class ConditionError(ValueError):
    """A condition in a rule file is malformed (unknown fact or value, bad shape)."""


@dataclass(frozen=True)
class Leaf:
    """The fact has one of the values."""

    fact: str
    values: frozenset[Value]


@dataclass(frozen=True)
class All:
    parts: tuple[Cond, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Cond, ...]


@dataclass(frozen=True)
class Not:
    part: Cond


Cond = Leaf | All | AnyOf | Not
TRUE = All(())

Domains = Mapping[str, tuple[Value, ...]]


def parse(obj: object, domains: Domains, where: str) -> Cond:
    """Parse a YAML condition, checking every fact and value against the fact schema."""
    if not isinstance(obj, Mapping) or not obj:
        raise ConditionError(f"{where}: a condition is a non-empty mapping, got {obj!r}")
    parts: list[Cond] = []
    for key, val in obj.items():
        if key in ("any", "all"):
            if not isinstance(val, list) or not val:
                raise ConditionError(f"{where}.{key}: expected a non-empty list of conditions")
            subs = tuple(parse(v, domains, f"{where}.{key}[{i}]") for i, v in enumerate(val))
            parts.append(AnyOf(subs) if key == "any" else All(subs))
        elif key == "not":
            parts.append(Not(parse(val, domains, f"{where}.not")))
        elif key in domains:
            values = val if isinstance(val, list) else [val]
            unknown = [v for v in values if v not in domains[key] or not isinstance(v, str | bool)]
            if not values or unknown:
                raise ConditionError(
                    f"{where}.{key}: unknown value(s) {unknown or values!r}; "
                    f"expected one of {list(domains[key])}"
                )
            parts.append(Leaf(key, frozenset(values)))
        else:
            raise ConditionError(f"{where}: unknown fact {key!r}; known facts: {sorted(domains)}")
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def facts_of(cond: Cond) -> list[str]:
    """The facts a condition reads, in first-mention order."""
    seen: dict[str, None] = {}

    def walk(c: Cond) -> None:
        if isinstance(c, Leaf):
            seen.setdefault(c.fact)
        elif isinstance(c, Not):
            walk(c.part)
        else:
            for p in c.parts:
                walk(p)

    walk(cond)
    return list(seen)


def holds(cond: Cond, facts: Mapping[str, Value]) -> bool:
    """Evaluate a condition over a complete fact assignment (for checks, not decisions)."""
    if isinstance(cond, Leaf):
        return facts[cond.fact] in cond.values
    if isinstance(cond, Not):
        return not holds(cond.part, facts)
    if isinstance(cond, AnyOf):
        return any(holds(p, facts) for p in cond.parts)
    return all(holds(p, facts) for p in cond.parts)


def to_nnf(cond: Cond, domains: Domains, negate: bool = False) -> Cond:
    """Push negations down to the leaves (De Morgan); a negated leaf becomes its complement."""
    if isinstance(cond, Not):
        return to_nnf(cond.part, domains, not negate)
    if isinstance(cond, Leaf):
        if not negate:
            return cond
        return Leaf(cond.fact, frozenset(v for v in domains[cond.fact] if v not in cond.values))
    parts = tuple(to_nnf(p, domains, negate) for p in cond.parts)
    flip = isinstance(cond, All) == negate  # All negated -> AnyOf, AnyOf negated -> All
    return AnyOf(parts) if flip else All(parts)


def assignments(domains: Domains, names: list[str]) -> Iterator[dict[str, Value]]:
    """Every assignment of values to the named facts."""
    for combo in itertools.product(*(domains[n] for n in names)):
        yield dict(zip(names, combo, strict=True))


def satisfiable(cond: Cond, domains: Domains) -> bool:
    """Whether some assignment of the facts it reads makes the condition hold."""
    return any(holds(cond, a) for a in assignments(domains, facts_of(cond)))


Term = dict[str, frozenset[Value]]


def dnf(cond: Cond, domains: Domains) -> list[Term]:
    """The condition as a disjunction of conjunctions of leaves, contradictory terms dropped.

    Each term maps a fact to the values it allows. Terms are what an engine with a
    limited expression size (durable_rules: 32 per rule) can match one by one.
    """
    cond = to_nnf(cond, domains)
    if isinstance(cond, Leaf):
        return [{cond.fact: cond.values}] if cond.values else []
    if isinstance(cond, AnyOf):
        terms = [t for p in cond.parts for t in dnf(p, domains)]
    else:
        terms = [{}]
        for p in cond.parts:
            merged = []
            for left in terms:
                for right in dnf(p, domains):
                    term = dict(left)
                    for fact, values in right.items():
                        term[fact] = term.get(fact, values) & values
                    if all(term.values()):
                        merged.append(term)
            terms = merged
    unique: list[Term] = []
    for t in terms:  # drop duplicates and terms subsumed by another term
        if not any(all(f in t and t[f] <= u[f] for f in u) for u in unique if u is not t):
            unique = [u for u in unique if not all(f in u and u[f] <= t[f] for f in t)]
            unique.append(t)
    return unique


def _subtract(p: Term, u: Term, domains: Domains) -> list[Term]:
    """p and not u, as disjoint terms (cube subtraction)."""
    if any(f in p and not (p[f] & u[f]) for f in u):
        return [p]
    out, rest = [], dict(p)
    for f, allowed in u.items():
        current = rest.get(f, frozenset(domains[f]))
        outside = current - allowed
        if outside:
            out.append({**rest, f: outside})
        rest[f] = current & allowed
    return out


def disjoint_dnf(cond: Cond, domains: Domains) -> list[Term]:
    """The DNF with terms that never hold together, so exactly one term matches a hit.

    An engine that fires once per matching term then fires once per rule, which is
    both cheaper and what the unique-hit check counts.
    """
    result: list[Term] = []
    for term in dnf(cond, domains):
        pieces = [term]
        for u in result:
            pieces = [q for p in pieces for q in _subtract(p, u, domains)]
        result += pieces
    return [{f: v for f, v in t.items() if len(v) < len(domains[f])} for t in result]
