"""Replay and impact: the same requests under a baseline and a candidate rule set, and what changes.

What a rule author runs before releasing a new version (`bup-classifier impact`):
- the requests come from the decision log (each with its decision id), from the
  example library (each with its file name), or from a month's extract (each contact by
  its event_id; every patient folded under both sets by classifier/month's own fold);
- the baseline is what the log recorded (the answer actually given) or, with
  `--baseline VERSION`, a fresh classification under that loaded rule set;
- the report has a transition matrix of contact types and one of rules, every changed
  contact with its decision id, and (through classifier/reporting, the way the monthly
  report counts classified contacts) each region's shares and money before and after.
"""

from __future__ import annotations

import functools
import html
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from classifier.classify import Classifier
from classifier.decisions import store
from classifier.decisions.writer import contact_dates
from classifier.errors import InputError
from classifier.models import iso
from classifier.month.audit import DEFAULT_REGION_SHARE, tables
from classifier.month.extract import ExtractError, partition, read_bucket
from classifier.month.fold import BucketResult, PatientFolder, fold_rows, month_range
from classifier.month.run import buckets_for, fold_pool
from classifier.reporting import figures, report
from classifier.reporting.records import Collector
from classifier.rulesets import RuleSets, as_rulesets

REJECTED = "(rejected)"
_DAY = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-\d{2}$")


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
        for decision_id, kind, request, answer in store.requests(engine, filters or store.Filters()):
            if request is None:
                if skipped is not None:
                    skipped["digest_only"] += 1
                continue
            yield Case(decision_id, kind, request, answer)
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
            return _batch(clf, payload)
        if kind == "timeline":
            return clf.classify_timeline(payload)
        return clf.classify(payload)
    except InputError:
        return None


def _batch(clf: Answers, payload: Any) -> dict[str, Any]:
    """A logged batch's answer: its refused items are logged as `null` (api/decisions.py), and stay refused."""
    items = payload.get("items") if isinstance(payload, dict) else None
    if not isinstance(items, list) or all(item is not None for item in items):
        return clf.classify_batch(payload)
    kept = [i for i, item in enumerate(items) if item is not None]
    results: list[dict[str, Any]] = [{"index": i, "errors": []} for i in range(len(items))]
    if kept:
        for i, r in zip(kept, clf.classify_batch({**payload, "items": [items[i] for i in kept]})["results"],
                        strict=True):
            results[i] = {**r, "index": i} if "errors" in r else r
    return {"results": results}


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
    months: list[str] | None = None  # the months reported (an extract's); None: every month a contact falls in
    # side ("baseline", "candidate") -> version -> the identity of each rule set that answered (docs/rulesets.md)
    used: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {"baseline": {}, "candidate": {}})

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
            self.compare(case.ref, pos, a, b)
            day = dates[pos] if pos < len(dates) else None
            if day:
                self._count(day, a, b, case.ref, pos)

    def _count(self, day: str, a: dict[str, Any] | None, b: dict[str, Any] | None, ref: str, pos: int) -> None:
        """Both answers into the monthly counts, as the month counts its own answers (figures.count_completed).

        The answers are the classifier's own (the candidate's, or the service's as logged), so they are counted
        directly rather than re-validated as an input file's records are: that validation was most of a replay.
        """
        month = day[:7]
        for table, ans in ((self.before, a), (self.after, b)):
            if ans is None:
                continue
            if ans["contact_type"] not in figures.AREAS:
                table.skipped += 1
                continue
            wait = ans.get("wait") or {}
            table.count_completed(self.region, self.region, ans["contact_type"], month, wait.get("in_numerator"),
                                  wait.get("in_denominator"), {"source": "completed", "ref": ref, "position": pos})

    def compare(self, ref: str, position: int | None, a: dict[str, Any] | None, b: dict[str, Any] | None,
                **where: Any) -> None:
        """One contact's answer before and after: into both matrices, and the changes when they differ."""
        self.contacts += 1
        for side, ans in (("baseline", a), ("candidate", b)):
            if ans is not None and "ruleset" in ans:
                self.used[side].setdefault(ans["ruleset"]["version"], ans["ruleset"])
        va, vb = _view(a), _view(b)
        self.types.setdefault(va["contact_type"], Counter())[vb["contact_type"]] += 1
        self.rules.setdefault(va["rule"], Counter())[vb["rule"]] += 1
        if va != vb:
            self.changes.append({"ref": ref, "position": position, "contact_id": (a or b or {}).get("contact_id"),
                                 **where, "before": va, "after": vb})

    def money(self, year: int | None, shares: dict[str, Decimal] | None) -> dict[str, Any]:
        """Each region's shares (per area and month) and its money, before and after (classifier/reporting).

        Without `shares`, each region gets 1/21 of the national pots, as the month's audit does.
        """
        months = self.months or sorted(set(self.before.months()) | set(self.after.months()))
        if not months:
            return {"year": year, "figures": [], "money": None, "money_note": None}
        year = year or int(Counter(m[:4] for m in months).most_common(1)[0][0])
        rb, ra = self.before.rollup(), self.after.rollup()
        wanted = set(months)
        rows = []
        for level, cb, ca in (("region", rb.region, ra.region),
                              ("nation", {(figures.NATION, *k): v for k, v in rb.nation.items()},
                               {(figures.NATION, *k): v for k, v in ra.nation.items()})):
            for key in sorted((cb.keys() | ca.keys()), key=lambda k: (k[0], k[2], figures.AREAS.index(k[1]))):
                if key[2] not in wanted:
                    continue
                b, a = (c.get(key, figures.Counts()).as_dict() for c in (cb, ca))
                rows.append({"level": level, "region": key[0], "area": key[1], "month": key[2],
                             "share_before": b["share_within_30"], "share_after": a["share_within_30"],
                             "numerator_before": b["numerator"], "numerator_after": a["numerator"],
                             "denominator_before": b["denominator"], "denominator_after": a["denominator"]})
        regions = sorted(set(self.before.regions()) | set(self.after.regions()))
        note = "from the shares given"
        if not shares:
            shares, note = dict.fromkeys(regions, DEFAULT_REGION_SHARE), "no shares given: each region 1/21"
        mb, ma = (report.build(t, year, shares)["money"] for t in (self.before, self.after))
        by_region = {r["region"]: r for r in mb["regions"]}
        money = []
        for r in ma["regions"]:
            old = by_region.get(r["region"], {})
            old_months = {(m["month"], m["area"]): m for m in old.get("months", [])}
            moved = []
            for m in r["months"]:
                was = old_months.get((m["month"], m["area"]), {})
                if (was.get("paid_msek"), was.get("rule")) != (m["paid_msek"], m["rule"]):
                    moved.append({"month": m["month"], "area": m["area"], "paid_msek_before": was.get("paid_msek"),
                                  "paid_msek_after": m["paid_msek"], "rule_before": was.get("rule"),
                                  "rule_after": m["rule"]})
            money.append({"region": r["region"], "paid_msek_before": old.get("paid_msek"),
                          "paid_msek_after": r["paid_msek"], "months_that_change": moved})
        return {"year": year, "figures": rows, "money": money, "money_note": mb.get("note", note)}

    def result(self, year: int | None = None, shares: dict[str, Decimal] | None = None,
               max_changes: int = 1000) -> dict[str, Any]:
        out = {
            "baseline": self.baseline, "candidate": self.candidate,
            "rulesets": {side: list(by_version.values()) for side, by_version in self.used.items()},
            "cases": self.cases, "contacts": self.contacts, "skipped": dict(self.skipped),
            "changed_contacts": len(self.changes),
            "contact_types": {k: dict(v) for k, v in sorted(self.types.items())},
            "rules": {k: dict(v) for k, v in sorted(self.rules.items())},
            "changes": self.changes[:max_changes],
            "report": self.money(year, shares),
        }
        if self.months is not None:
            out["months"] = self.months
        return out


def _counting(answers: Answers | None) -> Answers | None:
    return answers.for_counting() if isinstance(answers, Classifier) else answers


def impact(cases: Iterable[Case], candidate: Answers, baseline: Answers | None, baseline_name: str,
           candidate_name: str, region: str = "Region") -> Impact:
    """Classify every case under the candidate (and the baseline, or take the logged answer) and compare.

    A comparison reads each answer's type, rule, wait and contact id, never its explanation texts, so a
    Classifier is asked for its counting answers (Classifier.for_counting: the same decisions, less work).
    """
    candidate, baseline = _counting(candidate), _counting(baseline)
    out = Impact(baseline_name, candidate_name, region)
    for case in cases:
        old = answer_of(baseline, case.kind, case.payload) if baseline is not None else case.logged
        new = answer_of(candidate, case.kind, case.payload)
        out.add(case, old, new)
    return out


def extract_months(files: list[Path]) -> list[str]:
    """Every month from the extract's first event to its last (the rows' dates, as partitioned)."""
    found = {d[:7] for f in files for rec in read_bucket(f) if isinstance(d := rec.get("date"), str) and _DAY.match(d)}
    return month_range(min(found), max(found)) if found else []


class _Keeping(PatientFolder):
    """The month's PatientFolder that also keeps each contact's answer by event id, for the comparison."""

    def __init__(self, classifier: Classifier, months: list[str], out: BucketResult,
                 seen: dict[str, tuple[dict[str, Any], Any]]):
        super().__init__(classifier, months, out)
        self.seen = seen

    def _contact(self, step: Any, row: Any, month: str) -> None:
        super()._contact(step, row, month)
        self.seen[row.event_id] = (step.result, row)


# The two rule sets of an extract's comparison, set before the pool forks (its workers inherit them,
# as `bup-classifier month`'s workers inherit the process's Classifier).
_SIDES: list[Classifier | RuleSets] = []
Pair = tuple[str, dict[str, Any] | None, dict[str, Any] | None, dict[str, str]]


def _fold_both(job: tuple[Path, list[str], list[str], set[tuple[int, int]]]
               ) -> tuple[BucketResult, BucketResult, list[Pair]]:
    """One bucket of whole patients folded under the baseline and the candidate; each contact's two answers."""
    path, months, names, duplicates = job
    records = read_bucket(path)
    results, seen = [], []
    for clf in _SIDES:
        keep: dict[str, tuple[dict[str, Any], Any]] = {}
        res = fold_rows(records, months, names, clf, leave_out=duplicates,
                        folder=functools.partial(_Keeping, seen=keep))
        res.completed.clear()  # delivery rows: the comparison needs only the counted tables
        res.waiting.clear()
        results.append(res)
        seen.append(keep)
    pairs: list[Pair] = []
    for eid in seen[0].keys() | seen[1].keys():
        a, b = seen[0].get(eid), seen[1].get(eid)
        row = (a or b)[1]  # type: ignore[index]
        where = {"date": iso(row.date), "region": row.region, "unit": row.unit}
        pairs.append((eid, a and a[0], b and b[0], where))
    return results[0], results[1], pairs


def from_extract(paths: list[str | Path], months: list[str] | None, candidate: Classifier,
                 baseline: Classifier | RuleSets, workers: int = 1) -> Impact:
    """A month's extract folded patient by patient under both rule sets (the month layer's own fold).

    Each contact in the months (default: every month of the extract) is compared by its
    `event_id`; each side's completed contacts and month-end waiting lists go to the
    monthly report as `bup-classifier month` sends them, so the shares and money are the
    month's. With several loaded sets and no version named, the baseline is the set valid
    on each contact's date (and at each month end), as `bup-classifier month` does. `workers` processes
    fold the buckets of patients.
    """
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise ExtractError(f"{', '.join(missing)}: no such file; expected an extract (CSV, JSON lines or Parquet)")
    with tempfile.TemporaryDirectory(prefix="bup-impact-") as tmp:
        part = partition(list(paths), Path(tmp), buckets_for(list(paths), workers))
        months = months or extract_months(part.files)
        if not months:
            raise ExtractError("the extract has no row with a date: no month to compare")
        out = Impact("", candidate.ruleset.version, months=months)
        sides = (BucketResult(), BucketResult())
        jobs = [(f, months, part.names, part.duplicates) for f in part.files]
        _SIDES[:] = [baseline, candidate]
        try:
            if workers == 1 or len(jobs) == 1:
                done: Iterable[tuple[BucketResult, BucketResult, list[Pair]]] = map(_fold_both, jobs)
                _merge(out, sides, done)
            else:
                with fold_pool(workers) as pool:
                    _merge(out, sides, pool.imap_unordered(_fold_both, jobs))
        finally:
            _SIDES.clear()
    out.changes.sort(key=lambda c: (c["date"], c["ref"]))
    out.cases = sides[0].patients
    out.skipped["rejected_rows"] = len(part.rejected) + len(sides[0].rejected)
    if len(sides[1].rejected) != len(sides[0].rejected):
        out.skipped["rejected_rows_under_candidate"] = len(part.rejected) + len(sides[1].rejected)
    out.before, out.after = (tables(side)[0] for side in sides)
    for name, clf, side in (("baseline", baseline, sides[0]), ("candidate", candidate, sides[1])):
        out.used[name] = {r["version"]: {**r, "contacts": side.rulesets[r["version"]]}
                          for r in as_rulesets(clf).identities(side.rulesets)}
    out.baseline = "+".join(out.used["baseline"]) or as_rulesets(baseline).ruleset.version
    return out


def _merge(out: Impact, sides: tuple[BucketResult, BucketResult],
           done: Iterable[tuple[BucketResult, BucketResult, list[Pair]]]) -> None:
    for before, after, pairs in done:
        sides[0].extend(before)
        sides[1].extend(after)
        for eid, a, b, where in pairs:
            out.compare(eid, None, a, b, **where)


def matrix_text(matrix: dict[str, dict[str, int]], title: str) -> str:
    """A transition matrix as a text table: rows before, columns after."""
    cols = sorted({c for row in matrix.values() for c in row})
    head = [title, *cols]
    rows = [[r, *(str(matrix[r].get(c, "")) for c in cols)] for r in sorted(matrix)]
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def _where(change: dict[str, Any]) -> str:
    """A request's contact by its position; an extract's by its date and unit."""
    return f"#{change['position']}" if change["position"] is not None else f"{change['date']} {change['unit']}"


def text(result: dict[str, Any]) -> str:
    """The impact report for a terminal."""
    named = result.get("rulesets", {})
    sets = {side: ", ".join(f"{r['version']} (sha256 {r['sha256'][:12]}…)" for r in named.get(side, []))
            for side in ("baseline", "candidate")}
    lines = [f"baseline {sets['baseline'] or result['baseline']}  ->  "
             f"candidate {sets['candidate'] or result['candidate']}",
             f"{result['cases']} {'patient(s)' if 'months' in result else 'request(s)'}, "
             f"{result['contacts']} contact(s), "
             f"{result['changed_contacts']} changed; skipped {result['skipped'] or 'none'}", "",
             matrix_text(result["contact_types"], "type before \\ after"), "",
             matrix_text(result["rules"], "rule before \\ after"), ""]
    for ch in result["changes"]:
        b, a = ch["before"], ch["after"]
        lines.append(f"changed {ch['ref']} {_where(ch)}: {b['contact_type']} ({b['rule']}) -> "
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
        f"<tr><td>{e(ch['ref'])}</td><td>{e(_where(ch))}</td><td>{e(str(ch['contact_id']))}</td>"
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
        + "<h2>Ändrade beslut</h2><table><tr><th>fall</th><th>var</th><th>kontakt</th><th>före</th><th>efter</th>"
        + f"</tr>{changes}</table><h2>Andelar som ändras</h2><table><tr><th>region</th><th>område</th>"
        + f"<th>månad</th><th>före %</th><th>efter %</th></tr>{shares}</table></html>"
    )
