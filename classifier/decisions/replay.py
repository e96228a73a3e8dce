"""Replay and impact: the same requests under a baseline and a candidate rule set, and what changes.

What a rule author runs before releasing a new version (`bup-classifier impact`):
- the requests come from the decision log (each with its decision id), or from the
  example library (each with its file name);
- the baseline is what the log recorded (the answer actually given) or, with
  `--baseline VERSION`, a fresh classification under that loaded rule set;
- the report has a transition matrix of contact types and one of rules, every changed
  contact with its decision id, and (through classifier/reporting, the way the monthly
  report counts classified contacts) each region's shares and money before and after.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from classifier.decisions import store
from classifier.decisions.writer import contact_dates
from classifier.errors import InputError
from classifier.reporting import figures, report
from classifier.reporting.records import Collector

REJECTED = "(rejected)"


class Answers(Protocol):
    def classify(self, payload: object) -> dict[str, Any]: ...
    def classify_batch(self, payload: object) -> dict[str, Any]: ...
    def classify_timeline(self, payload: object) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Case:
    """One request to replay: where it came from, its kind, the request, and the answer logged for it."""

    ref: str  # a decision id or an example's name
    kind: str  # classify | batch | timeline
    payload: Any
    logged: dict[str, Any] | None = None


def from_log(url: str, filters: store.Filters | None = None, skipped: Counter[str] | None = None) -> Iterator[Case]:
    """Every logged decision that kept its request (digest-only ones are counted in `skipped`)."""
    engine = store.engine_for(url)
    try:
        for rec in store.iterate(engine, filters or store.Filters()):
            if rec["request"] is None:
                if skipped is not None:
                    skipped["digest_only"] += 1
                continue
            yield Case(rec["decision_id"], rec["kind"], rec["request"], rec["answer"])
    finally:
        engine.dispose()


def from_examples(directory: str | None = None) -> Iterator[Case]:
    """Every example of the library (a single request or a timeline)."""
    from classifier import examples

    for ex in examples.load(directory):
        if ex.request is not None:
            yield Case(ex.name, "classify", ex.request)
        elif ex.timeline is not None:
            yield Case(ex.name, "timeline", ex.timeline)


def answer_of(clf: Answers, kind: str, payload: Any) -> dict[str, Any] | None:
    """The answer of `clf` to this request, None when it rejects it as a whole."""
    try:
        if kind == "batch":
            return clf.classify_batch(payload)
        if kind == "timeline":
            return clf.classify_timeline(payload)
        return clf.classify(payload)
    except InputError:
        return None


def per_contact(kind: str, answer: dict[str, Any] | None, n: int) -> list[dict[str, Any] | None]:
    """The answer's classifications by position (None where the item or request was rejected)."""
    if answer is None:
        return [None] * n
    results = [answer] if kind == "classify" else answer["results"]
    return [r if "contact_type" in r else None for r in results]


def _view(a: dict[str, Any] | None) -> dict[str, Any]:
    if a is None:
        return {"contact_type": REJECTED, "rule": REJECTED, "in_numerator": None, "in_denominator": None}
    wait = a.get("wait") or {}
    return {"contact_type": a["contact_type"], "rule": a["rule"]["id"],
            "in_numerator": wait.get("in_numerator"), "in_denominator": wait.get("in_denominator")}


@dataclass
class Impact:
    """What changes between the two rule sets, gathered one case at a time."""

    baseline: str
    candidate: str
    region: str = "Region"
    cases: int = 0
    contacts: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    types: dict[str, Counter[str]] = field(default_factory=dict)
    rules: dict[str, Counter[str]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    before: figures.Table = field(default_factory=figures.Table)
    after: figures.Table = field(default_factory=figures.Table)
    found: Collector = field(default_factory=Collector)  # records the reporting layer could not count

    def add(self, case: Case, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        self.cases += 1
        dates = contact_dates(case.kind, case.payload) if old is not None or new is not None else []
        n = max(len(dates), 1)
        olds, news = per_contact(case.kind, old, n), per_contact(case.kind, new, n)
        for pos in range(max(len(olds), len(news))):
            a = olds[pos] if pos < len(olds) else None
            b = news[pos] if pos < len(news) else None
            if a is None and b is None:
                continue
            self.contacts += 1
            va, vb = _view(a), _view(b)
            self.types.setdefault(va["contact_type"], Counter())[vb["contact_type"]] += 1
            self.rules.setdefault(va["rule"], Counter())[vb["rule"]] += 1
            day = dates[pos] if pos < len(dates) else None
            for table, ans in ((self.before, a), (self.after, b)):
                if ans is not None and day:
                    figures.add_completed(table, [{"classification": ans, "region": self.region,
                                                   "unit": self.region, "date": day}], self.found)
            if va != vb:
                self.changes.append({"ref": case.ref, "position": pos,
                                     "contact_id": (a or b or {}).get("contact_id"), "before": va, "after": vb})

    def money(self, year: int | None, shares: dict[str, Decimal] | None) -> dict[str, Any]:
        """Each region's shares (per area and month) and, with shares of the pots, its money, before and after."""
        months = sorted(set(self.before.months()) | set(self.after.months()))
        if not months:
            return {"year": year, "figures": [], "money": None}
        year = year or int(Counter(m[:4] for m in months).most_common(1)[0][0])
        pots = shares or {}
        b, a = report.build(self.before, year, pots), report.build(self.after, year, pots)
        key = lambda f: (f["level"], f["region"], f["area"], f["month"])  # noqa: E731
        fb = {key(f): f for f in b["figures"] if f["level"] != "unit"}
        fa = {key(f): f for f in a["figures"] if f["level"] != "unit"}
        rows = [{"level": k[0], "region": k[1], "area": k[2], "month": k[3],
                 "share_before": fb.get(k, {}).get("share_within_30"),
                 "share_after": fa.get(k, {}).get("share_within_30"),
                 "denominator_before": fb.get(k, {}).get("denominator", 0),
                 "denominator_after": fa.get(k, {}).get("denominator", 0)} for k in sorted(fb.keys() | fa.keys())]
        money = None
        if shares:
            mb = {r["region"]: r for r in b["money"]["regions"]}
            money = [{"region": r["region"], "paid_msek_before": mb.get(r["region"], {}).get("paid_msek"),
                      "paid_msek_after": r["paid_msek"]} for r in a["money"]["regions"]]
        return {"year": year, "figures": rows, "money": money}

    def result(self, year: int | None = None, shares: dict[str, Decimal] | None = None,
               max_changes: int = 1000) -> dict[str, Any]:
        return {
            "baseline": self.baseline, "candidate": self.candidate,
            "cases": self.cases, "contacts": self.contacts, "skipped": dict(self.skipped),
            "changed_contacts": len(self.changes),
            "contact_types": {k: dict(v) for k, v in sorted(self.types.items())},
            "rules": {k: dict(v) for k, v in sorted(self.rules.items())},
            "changes": self.changes[:max_changes],
            "report": self.money(year, shares),
        }


def impact(cases: Iterable[Case], candidate: Answers, baseline: Answers | None, baseline_name: str,
           candidate_name: str, region: str = "Region") -> Impact:
    """Classify every case under the candidate (and the baseline, or take the logged answer) and compare."""
    out = Impact(baseline_name, candidate_name, region)
    for case in cases:
        old = answer_of(baseline, case.kind, case.payload) if baseline is not None else case.logged
        new = answer_of(candidate, case.kind, case.payload)
        out.add(case, old, new)
    return out


def matrix_text(matrix: dict[str, dict[str, int]], title: str) -> str:
    """A transition matrix as a text table: rows before, columns after."""
    cols = sorted({c for row in matrix.values() for c in row})
    head = [title, *cols]
    rows = [[r, *(str(matrix[r].get(c, "")) for c in cols)] for r in sorted(matrix)]
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def text(result: dict[str, Any]) -> str:
    """The impact report for a terminal."""
    lines = [f"baseline {result['baseline']}  ->  candidate {result['candidate']}",
             f"{result['cases']} request(s), {result['contacts']} contact(s), "
             f"{result['changed_contacts']} changed; skipped {result['skipped'] or 'none'}", "",
             matrix_text(result["contact_types"], "type before \\ after"), "",
             matrix_text(result["rules"], "rule before \\ after"), ""]
    for ch in result["changes"]:
        b, a = ch["before"], ch["after"]
        lines.append(f"changed {ch['ref']} #{ch['position']}: {b['contact_type']} ({b['rule']}) -> "
                     f"{a['contact_type']} ({a['rule']}); numerator {b['in_numerator']} -> {a['in_numerator']}, "
                     f"denominator {b['in_denominator']} -> {a['in_denominator']}")
    rep = result["report"]
    moved = [f for f in rep["figures"] if f["share_before"] != f["share_after"] and f["level"] == "region"]
    lines.append("")
    lines.append(f"region shares that change ({rep['year']}): {len(moved)}")
    lines += [f"  {f['region']} {f['area']} {f['month']}: {f['share_before']} -> {f['share_after']} %"
              for f in moved]
    for m in rep["money"] or []:
        lines.append(f"  money {m['region']}: {m['paid_msek_before']} -> {m['paid_msek_after']} MSEK paid")
    return "\n".join(lines)


def to_html(result: dict[str, Any]) -> str:
    """A standalone page of the impact report (for the example library before a release)."""
    e = html.escape

    def table(matrix: dict[str, dict[str, int]], title: str) -> str:
        cols = sorted({c for row in matrix.values() for c in row})
        head = "".join(f"<th>{e(c)}</th>" for c in cols)
        body = "".join(
            f"<tr><th>{e(r)}</th>" + "".join(
                f"<td class='{'same' if r == c else 'moved'}'>{matrix[r].get(c, '')}</td>" for c in cols) + "</tr>"
            for r in sorted(matrix))
        return f"<h2>{e(title)}</h2><table><tr><th>före \\ efter</th>{head}</tr>{body}</table>"

    changes = "".join(
        f"<tr><td>{e(ch['ref'])}</td><td>{ch['position']}</td><td>{e(str(ch['contact_id']))}</td>"
        f"<td>{e(ch['before']['contact_type'])} ({e(ch['before']['rule'])})</td>"
        f"<td>{e(ch['after']['contact_type'])} ({e(ch['after']['rule'])})</td></tr>" for ch in result["changes"])
    shares = "".join(
        f"<tr><td>{e(f['region'])}</td><td>{e(f['area'])}</td><td>{e(f['month'])}</td>"
        f"<td>{f['share_before']}</td><td>{f['share_after']}</td></tr>"
        for f in result["report"]["figures"] if f["level"] == "region" and f["share_before"] != f["share_after"])
    return (
        "<!doctype html><html lang='sv'><meta charset='utf-8'><title>Konsekvensanalys</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:.3em .6em}.moved{background:#fde2c8}.same{background:#e6f4e6}</style>"
        f"<h1>Konsekvensanalys: {e(result['baseline'])} → {e(result['candidate'])}</h1>"
        f"<p>{result['cases']} fall, {result['contacts']} kontakter, {result['changed_contacts']} ändrade.</p>"
        + table(result["contact_types"], "Kontakttyp") + table(result["rules"], "Regel")
        + "<h2>Ändrade beslut</h2><table><tr><th>fall</th><th>nr</th><th>kontakt</th><th>före</th><th>efter</th>"
        + f"</tr>{changes}</table><h2>Andelar som ändras</h2><table><tr><th>region</th><th>område</th>"
        + f"<th>månad</th><th>före %</th><th>efter %</th></tr>{shares}</table></html>"
    )
