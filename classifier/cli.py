"""`bup-classifier`: classify, show the rules, run the examples, serve the API.

The CLI calls the same functions the service does; it has no logic of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from classifier import examples as ex
from classifier.classify import Classifier, default_classifier
from classifier.errors import InputError


def _read_items(text: str) -> tuple[str, list[Any]]:
    """Detect the input's kind: one JSON value, a JSON array, or JSON lines."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty input: expected a JSON object, a JSON array or JSON lines")
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        items = []
        for n, line in enumerate(stripped.splitlines(), 1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {n}: not JSON ({exc.msg})") from None
        return "lines", items
    return ("array", value) if isinstance(value, list) else ("object", [value])


def _answer(classifier: Classifier, item: Any) -> dict[str, Any]:
    """A request, a batch ({"items": ...}) or a timeline ({"events": ...}), answered."""
    if isinstance(item, dict) and "events" in item:
        return classifier.classify_timeline(item)
    if isinstance(item, dict) and "items" in item:
        return classifier.classify_batch(item)
    return classifier.classify(item)


def cmd_classify(args: argparse.Namespace, out: TextIO) -> int:
    source = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    try:
        kind, items = _read_items(source)
    except ValueError as exc:
        print(f"bup-classifier: {exc}", file=sys.stderr)
        return 2
    classifier = default_classifier()
    answers, rejected = [], 0
    for i, item in enumerate(items):
        try:
            answers.append(_answer(classifier, item))
        except InputError as exc:
            rejected += 1
            answers.append({"index": i, "errors": exc.errors} if kind != "object" else {"errors": exc.errors})
    if kind == "lines":
        for a in answers:
            out.write(json.dumps(a, ensure_ascii=False) + "\n")
    else:
        out.write(json.dumps(answers if kind == "array" else answers[0], ensure_ascii=False, indent=2) + "\n")
    if rejected:
        print(f"bup-classifier: {rejected} of {len(items)} item(s) rejected", file=sys.stderr)
    return 1 if rejected else 0


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def cmd_rules(args: argparse.Namespace, out: TextIO) -> int:
    classifier = default_classifier()
    ruleset = classifier.ruleset
    if args.verify:
        from classifier.verify import verify

        report = verify(ruleset, classifier.engine)
        out.write(f"{ruleset.name} {ruleset.version}  sha256 {ruleset.sha256}\n{report.text()}\n")
        return 0 if report.ok else 1
    out.write(f"{ruleset.name} {ruleset.version}  sha256 {ruleset.sha256}\n\n")
    rows = [[r.id, r.stage, r.title_sv, r.outcome, r.source] for r in ruleset.rules]
    out.write(_table(rows, ["id", "stage", "title_sv", "outcome", "source"]) + "\n")
    return 0


def cmd_examples(args: argparse.Namespace, out: TextIO) -> int:
    classifier = default_classifier()
    found = ex.load(args.dir)
    if args.coverage:
        table = ex.coverage(classifier, found)
        rows = [[rid, str(len(v["fires"])), str(len(v["misses"])), ", ".join(v["fires"][:3]),
                 ", ".join(v["misses"][:3])] for rid, v in table.items()]
        out.write(_table(rows, ["rule", "fires", "misses", "fired by (first 3)", "just missed by (first 3)"]) + "\n")
        uncovered = [rid for rid, v in table.items() if not v["fires"] or not v["misses"]]
        if uncovered:
            out.write(f"rules without an example that fires them and one that just misses them: {uncovered}\n")
        return 1 if uncovered else 0
    failed = 0
    for example in found:
        diffs = ex.check(classifier, example)
        if diffs:
            failed += 1
            out.write(f"FAIL {example.name}: {example.title}\n")
            for d in diffs:
                out.write(f"     {d}\n")
    out.write(f"{len(found) - failed} passed, {failed} failed\n")
    return 1 if failed or not found else 0


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from classifier.reporting import figures, report

    table = figures.Table()
    try:
        for kind, add in figures.ADDERS.items():
            for path in getattr(args, kind):
                add(table, figures.read_records(path))
        shares = report.read_shares(args.shares)
    except (figures.ReportInputError, OSError, KeyError, ValueError) as exc:
        print(f"bup-classifier report: {exc}", file=sys.stderr)
        return 2
    result = report.build(table, args.year, shares)
    if args.out:
        for path in report.write(result, args.out):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        out.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    else:
        report.print_tables(result)
    return 0


def cmd_month(args: argparse.Namespace, out: TextIO) -> int:
    """MONTH.md: the extract -> delivery, audit and the rest in --out (a progress bar on a terminal)."""
    from classifier.month import run
    from classifier.month.extract import ExtractError
    from classifier.month.fold import month_range
    from classifier.reporting import figures, report

    try:
        months = month_range(args.month, args.to or args.month)
        shares = report.read_shares(args.shares) if args.shares else None
        counts = [r for path in args.counts for r in figures.read_records(path)]
    except (ValueError, OSError, KeyError) as exc:
        print(f"bup-classifier month: {exc}", file=sys.stderr)
        return 2
    bar = None
    if sys.stderr.isatty():
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("patienter (grupper)", total=None)
    try:
        audit = run(args.extract, months, Path(args.out), workers=args.workers, shares=shares,
                    extra_counts=counts, publish=args.publish,
                    progress=(lambda done, total: bar.update(task, completed=done, total=total)) if bar else None)
    except (ExtractError, figures.ReportInputError, OSError) as exc:
        print(f"bup-classifier month: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar:
            bar.stop()
    t = audit["totals"]
    out.write(f"{', '.join(months)}: {t['patients']} patients, {t['contacts_in_months']} contacts, "
              f"{t['measurement_points']} measurement points, {t['waiting_at_month_end']} waiting at month ends, "
              f"{t['disagreements']} of {t['registered_compared']} registrations disagree with the rules, "
              f"{t['rejected_rows']} rows rejected; files in {args.out}\n")
    return 0


def cmd_simulate(args: argparse.Namespace, out: TextIO) -> int:
    """MONTH.md 5: a seeded synthetic region's extract and its answer key."""
    from classifier.month import simulate

    rows, key = simulate.simulate(args.patients, args.seed)
    path = simulate.write(rows, key, Path(args.out), args.format)
    out.write(f"wrote {path} ({len(rows)} rows) and {Path(args.out) / 'answer_key.json'}\n")
    return 0


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("api.app:app", host=args.host, port=args.port, workers=args.workers,
                            access_log=False, log_config=None)
    if config.workers <= 1:
        uvicorn.Server(config).run()
        return 0
    # With several workers uvicorn binds the socket itself with protocol 0, and asyncio
    # only sets TCP_NODELAY on sockets whose protocol is IPPROTO_TCP: every keep-alive
    # response then waits ~40 ms for a delayed ACK (measured: 23 req/s on one connection).
    # Set it on the listening socket; Linux hands it on to every accepted connection.
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bup-classifier", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("classify", help="classify requests from a file or stdin (-)")
    p.add_argument("file", help="a JSON request, a JSON array of requests, JSON lines, or - for stdin")
    p.set_defaults(func=cmd_classify)
    p = sub.add_parser("rules", help="show the rule set as a table")
    p.add_argument("--verify", action="store_true",
                   help="check every valid fact combination through the engine: gaps, overlaps, dead rules")
    p.set_defaults(func=cmd_rules)
    p = sub.add_parser("examples", help="run the clinical examples and report each that fails")
    p.add_argument("dir", nargs="?", default=None, help="examples directory (default: examples/)")
    p.add_argument("--coverage", action="store_true",
                   help="per rule, the examples that fire it and those that just miss it")
    p.set_defaults(func=cmd_examples)
    p = sub.add_parser("report", help="monthly wait-time figures and the agreement's money")
    p.add_argument("--year", type=int, required=True, help="the agreement year (last year is the baseline)")
    p.add_argument("--completed", action="append", default=[], help="classified contacts, CSV or JSON lines")
    p.add_argument("--waiting", action="append", default=[], help="month-end waiting lists, CSV or JSON lines")
    p.add_argument("--counts", action="append", default=[], help="already aggregated monthly counts")
    p.add_argument("--shares", required=True, help="each region's share of the national pots")
    p.add_argument("--out", help="write report.json, figures.csv, money.csv and charts (PNG, SVG) here")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("month", help="a region's extract -> the month's delivery, registration audit and figures")
    p.add_argument("--extract", action="append", required=True,
                   help="the extract (CSV, JSON lines or Parquet); repeat for several files, e.g. consecutive months")
    p.add_argument("--month", required=True, help="the first month, YYYY-MM")
    p.add_argument("--to", help="the last month, YYYY-MM (default: --month)")
    p.add_argument("--out", required=True, help="directory for delivery/, audit.html, audit.json and the CSVs")
    p.add_argument("--shares", help="each region's share of the national pots (CSV or JSON lines)")
    p.add_argument("--counts", action="append", default=[], help="aggregated counts, e.g. last year's baseline")
    p.add_argument("--publish", action="store_true", help="suppress every cell under 5 contacts")
    p.add_argument("--workers", type=int, default=None, help="processes (default: every core)")
    p.set_defaults(func=cmd_month)
    p = sub.add_parser("simulate", help="a seeded synthetic region: extract and answer key")
    p.add_argument("--patients", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("serve", help="serve the HTTP API with uvicorn")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args, sys.stdout))


if __name__ == "__main__":
    sys.exit(main())
