"""`bup-classifier`: classify, show the rules, run the examples, serve the API.

The CLI calls the same functions the service does; it has no logic of its own.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from classifier import examples as ex
from classifier import rulesets
from classifier.decisions import commands as decision_commands
from classifier.errors import InputError, first_repeated
from classifier.privacy import redact
from classifier.ruleset import RuleSetError


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, as the service reads one: a repeated key is refused, not silently the last one kept."""
    obj = dict(pairs)
    if len(obj) < len(pairs) and (key := first_repeated(pairs)) is not None:
        raise ValueError(f"duplicate key {redact(key)!r}; expected each key once in an object")
    return obj


def _strict(text: str) -> Any:
    """json.loads, refusing repeated keys and lone surrogates (which no answer could be written with)."""
    value = json.loads(text, object_pairs_hook=_pairs)
    if "\\ud" in text.lower() or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate; expected valid Unicode text") from None
    return value


def _read_items(text: str) -> tuple[str, list[Any]]:
    """Detect the input's kind: one JSON value, a JSON array, or JSON lines."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty input: expected a JSON object, a JSON array or JSON lines")
    try:
        value = _strict(stripped)
    except json.JSONDecodeError:
        items = []
        for n, line in enumerate(stripped.splitlines(), 1):
            if line.strip():
                try:
                    items.append(_strict(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {n}: not JSON ({exc.msg})") from None
                except ValueError as exc:
                    raise ValueError(f"line {n}: {exc}") from None
        return "lines", items
    return ("array", value) if isinstance(value, list) else ("object", [value])


def _answer(classifier: Any, item: Any) -> dict[str, Any]:
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
    classifier = rulesets.default_rulesets()  # honours ruleset_version and each contact's date
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
    held = rulesets.default_rulesets()
    if args.release:
        from classifier.ruleset import release

        if len(held.classifiers) != 1:
            print("bup-classifier rules --release: expected one rule-set directory (--rules DIR) to release, "
                  f"got {len(held.classifiers)}", file=sys.stderr)
            return 2
        released = release(held.ruleset.directory, args.release)
        rulesets.default_rulesets.cache_clear()  # type: ignore[attr-defined]
        out.write(f"released {released.name} {released.version} ({released.status})  sha256 {released.sha256}\n")
        return 0
    failed = False
    for i, classifier in enumerate(held.classifiers):
        ruleset = classifier.ruleset
        valid = f"  valid from {ruleset.valid_from}" if ruleset.valid_from else ""
        header = (("\n" if i else "") + f"{ruleset.name} {ruleset.version} ({ruleset.status})  "
                  f"sha256 {ruleset.sha256}{valid}\n")
        problem = ruleset.release_problem()
        if problem:
            header += f"NOT RELEASED: {problem}\n"
        if args.verify:
            from classifier.verify import verify

            report = verify(ruleset, classifier.engine)
            out.write(f"{header}{report.text()}\n")
            failed = failed or not report.ok
            continue
        out.write(header + "\n")
        rows = [[r.id, r.stage, r.title_sv, r.outcome, r.source] for r in ruleset.rules]
        out.write(_table(rows, ["id", "stage", "title_sv", "outcome", "source"]) + "\n")
    return 1 if failed else 0


def cmd_examples(args: argparse.Namespace, out: TextIO) -> int:
    held = rulesets.default_rulesets()
    classifier: Any = held if len(held.classifiers) > 1 else held.default  # each example's contacts by their date
    found = ex.load(args.dir)
    if args.coverage:
        table = ex.coverage(held.default, found)
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
    from classifier.reporting import records, report

    # rich (tables) and matplotlib (charts) are the `report` extra: say so before anything is read or written
    needed = [m for m, used in (("rich", not args.json), ("matplotlib", bool(args.out))) if used]
    if missing := [m for m in needed if importlib.util.find_spec(m) is None]:
        print(f"bup-classifier report: {' and '.join(missing)} not installed; install the report extra "
              "(pip install 'bup-classifier[report]'), or use --json without --out", file=sys.stderr)
        return 2
    try:
        result = report.monthly_report(
            args.year, shares=records.read_source(args.shares), final=args.final, publish=args.publish,
            population=records.read_source(args.population) if args.population else None,
            **{kind: [records.read_source(p) for p in getattr(args, kind)] for kind in ("completed", "waiting",
                                                                                       "counts")})
    except records.ReportInputError as exc:
        for item in exc.items():
            print(f"bup-classifier report: {item['path']}: {item['message']}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"bup-classifier report: {exc}", file=sys.stderr)
        return 2
    if args.out:
        for path in report.write(result, args.out):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        out.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    else:
        report.print_tables(result)
        out.write("rule set(s) counting the waits: " + ", ".join(
            f"{r['version']} (sha256 {r['sha256'][:12]}…)" for r in result["rulesets"]) + "\n")
    return 0


def _in_both_languages(exc: BaseException) -> str:
    """A month refusal as the month's other messages are: Swedish, then English (docs/month.md §1)."""
    from classifier.errors import swedish_message
    from classifier.month.extract import ExtractError
    from classifier.reporting.records import ReportInputError

    if isinstance(exc, ExtractError):
        return str(exc)
    if isinstance(exc, ReportInputError):
        return "\n".join(f"{i['path']}: {i['message_sv']}\n{i['path']}: {i['message']}" for i in exc.items())
    en = str(exc)
    sv = swedish_message(en)
    return en if sv.startswith("ogiltigt värde (") else f"{sv}\n{en}"


def cmd_month(args: argparse.Namespace, out: TextIO) -> int:
    """docs/month.md: the extract -> delivery, audit and the rest in --out (a progress bar on a terminal)."""
    from classifier.month import run
    from classifier.month.extract import ExtractError, Source
    from classifier.month.fold import month_range
    from classifier.month.outputs import rows_en, rows_sv
    from classifier.reporting import records, report

    try:
        extracts = [Source(p, args.encoding) for p in args.extract]
        months = month_range(args.month, args.to or args.month)
        shares = report.read_shares(args.shares) if args.shares else None
        population = records.population_from(records.read_source(args.population)) if args.population else None
        counts = [r for path in args.counts for r in records.read_source(path).records]
    except (ValueError, OSError, KeyError, records.ReportInputError) as exc:
        print(f"bup-classifier month: {_in_both_languages(exc)}", file=sys.stderr)
        return 2
    bar = None
    try:  # a progress bar in a terminal when the `report` extra (rich) is installed; a plain install runs without
        from rich.progress import Progress
    except ImportError:
        Progress = None
    if sys.stderr.isatty() and Progress is not None:
        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("patienter (grupper)", total=None)
    try:
        audit = run(extracts, months, Path(args.out), workers=args.workers, shares=shares,
                    extra_counts=counts, publish=args.publish, population=population,
                    progress=(lambda done, total: bar.update(task, completed=done, total=total)) if bar else None)
    except (ExtractError, records.ReportInputError, OSError) as exc:
        print(f"bup-classifier month: {_in_both_languages(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("bup-classifier month: out of memory reading the extract; its limits are in docs/month.md §1 "
              "(minnet tog slut; gränserna står i docs/month.md §1)", file=sys.stderr)
        return 2
    finally:
        if bar:
            bar.stop()
    t = audit["totals"]
    used = ", ".join(f"{r['version']} (sha256 {r['sha256'][:12]}…)" for r in audit["rulesets"]) or "none (no contact)"
    out.write(f"{', '.join(months)}: rule set {used}; {t['patients']} patients, {t['contacts_in_months']} contacts, "
              f"{t['measurement_points']} measurement points, {t['waiting_at_month_end']} waiting at month ends, "
              f"{t['disagreements']} of {t['registered_compared']} registrations disagree with the rules, "
              f"{rows_en(t['rejected_rows'])} rejected; files in {args.out}\n")
    if t["rejected_rows"]:  # said last, where it is seen: the figures leave these rows out
        n = t["rejected_rows"]
        out.write(f"{rows_sv(n)} kunde inte läsas och är inte med i siffrorna: se {Path(args.out) / 'rejected.csv'}"
                  f" / {rows_en(n)} could not be read and are not in the figures: see rejected.csv\n")
        return 3 if args.strict else 0
    return 0


def cmd_simulate(args: argparse.Namespace, out: TextIO) -> int:
    """docs/month.md §5: a seeded synthetic region's extract and its answer key."""
    if args.regions is not None:  # the whole country: the national follow-up's simulator (docs/national.md §6)
        if args.patients is not None:
            print("simulate: --regions (a country) and --patients (one region) are two simulators; give one "
                  "of them", file=sys.stderr)
            return 2
        from classifier.national.commands import cmd_simulate as country

        return country(args, out)
    if args.patients is None:
        print("simulate: expected --patients N (one region's extract) or --regions 21 (a country's deliveries)",
              file=sys.stderr)
        return 2
    from classifier.month import simulate

    rows, key = simulate.simulate(args.patients, args.seed)
    path = simulate.write(rows, key, Path(args.out), args.format)
    out.write(f"wrote {path} ({len(rows)} rows) and {Path(args.out) / 'answer_key.json'}\n")
    return 0


def _serve_security(args: argparse.Namespace) -> dict[str, Any] | None:
    """Check --auth-file and the TLS files before serving; uvicorn's TLS options, or None on a bad one."""
    import ssl

    from api import auth

    if args.auth_file:
        path = Path(args.auth_file).resolve()
        try:
            auth.AuthConfig.load(path)
        except auth.AuthFileError as exc:
            print(f"bup-classifier serve: --auth-file {exc}", file=sys.stderr)
            return None
        os.environ[auth.ENV_VAR] = str(path)  # read by api.app in this process and in every worker
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_client_ca and not args.tls_cert):
        print("bup-classifier serve: expected --tls-cert and --tls-key together (and both with --tls-client-ca)",
              file=sys.stderr)
        return None
    for option in ("tls_cert", "tls_key", "tls_client_ca"):
        value = getattr(args, option)
        if value and not Path(value).is_file():
            print(f"bup-classifier serve: --{option.replace('_', '-')} {value}: no such file", file=sys.stderr)
            return None
    tls: dict[str, Any] = {}
    if args.tls_cert:
        tls = {"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key}
    if args.tls_client_ca:  # mutual TLS: a client without a certificate signed by this CA fails the handshake
        tls |= {"ssl_ca_certs": args.tls_client_ca, "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return tls


def cmd_keys(args: argparse.Namespace, out: TextIO) -> int:
    from api import auth

    path = Path(args.auth_file)
    try:
        if args.action == "add":
            key = auth.add_key(path, args.name, args.role)
            out.write(key + "\n")
            print(f"bup-classifier keys: key {args.name!r} added to {path}; it is shown only this once",
                  file=sys.stderr)
        elif args.action == "remove":
            auth.remove_key(path, args.name)
            print(f"bup-classifier keys: key {args.name!r} removed from {path}", file=sys.stderr)
        else:
            doc = auth.read_file(path)
            rows = [[name, ",".join(e.roles), e.created or ""] for name, e in doc.keys.items()]
            out.write(_table(rows, ["name", "roles", "created"]) + "\n")
    except (auth.AuthFileError, ValueError, OSError) as exc:
        print(f"bup-classifier keys: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    from dataclasses import fields, replace

    from api.server import serve
    from api.work import Limits

    tls = _serve_security(args)
    if tls is None:
        return 2
    decision_commands.apply_serve_options(args)
    limits = Limits.from_env()
    given = {f.name: getattr(args, f.name) for f in fields(Limits) if getattr(args, f.name, None) is not None}
    serve(args.host, args.port, args.workers, replace(limits, **given), tls, args.forwarded_allow_ips)
    return 0


_SERVE_LIMITS = [
    ("threads", int, "worker threads for every POST's work"),
    ("max_heavy", int, "batch, timeline and report requests at once; more get 503"),
    ("max_queued", int, "requests in the worker pool at once; more get 503"),
    ("time_limit", float, "seconds a request may work before it is stopped with 503"),
    ("header_timeout", float, "seconds for a request's headers to arrive"),
    ("body_timeout", float, "seconds for a request's body to arrive (408)"),
    ("keep_alive", float, "seconds an idle keep-alive connection is kept"),
    ("max_connections", int, "open connections per worker process"),
    ("shutdown_timeout", float, "seconds a stopping server waits for accepted requests"),
    ("memory_budget", int, "MiB a request's parsed JSON body may need; more gets 413 before parsing"),
    ("yaml_max_chars", int, "characters in a YAML file sent to the workbench; more gets 422"),
    ("yaml_max_depth", int, "levels of nesting in such a file"),
    ("yaml_max_nodes", int, "keys, values and items in such a file"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bup-classifier", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("classify", help="classify requests from a file or stdin (-)")
    p.add_argument("file", help="a JSON request, a JSON array of requests, JSON lines, or - for stdin")
    rulesets.add_option(p)
    p.set_defaults(func=cmd_classify)
    p = sub.add_parser("rules", help="show the rule set as a table")
    p.add_argument("--verify", action="store_true",
                   help="check every valid fact combination through the engine: gaps, overlaps, dead rules")
    p.add_argument("--release", metavar="VERSION",
                   help="set VERSION in ruleset.yaml and record the content hash it is released with")
    rulesets.add_option(p, "; with --release, the one rule set to release")
    p.set_defaults(func=cmd_rules)
    p = sub.add_parser("examples", help="run the clinical examples and report each that fails")
    p.add_argument("dir", nargs="?", default=None, help="examples directory (default: examples/)")
    p.add_argument("--coverage", action="store_true",
                   help="per rule, the examples that fire it and those that just miss it")
    rulesets.add_option(p)
    p.set_defaults(func=cmd_examples)
    p = sub.add_parser("report", help="monthly wait-time figures and the agreement's money")
    p.add_argument("--year", type=int, required=True, help="the agreement year (last year is the baseline)")
    p.add_argument("--completed", action="append", default=[], help="classified contacts, CSV or JSON lines")
    p.add_argument("--waiting", action="append", default=[], help="month-end waiting lists, CSV or JSON lines")
    p.add_argument("--counts", action="append", default=[], help="already aggregated monthly counts")
    p.add_argument("--shares", required=True, help="each region's share of the national pots")
    p.add_argument("--population", help="each region's population aged 0–18, CSV or JSON lines with region and "
                   "population_0_18 (block one; without it no block-one figure)")
    p.add_argument("--out", help="write report.json, figures.csv, money.csv, payouts.csv and charts here")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    p.add_argument("--final", action="store_true",
                   help="the year's reporting is declared final: months still not reported are 'target not met'")
    p.add_argument("--publish", action="store_true", help="figures for publication: cells under 5 suppressed")
    rulesets.add_option(p, "; the waits of each month are counted with the set valid at its end")
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("month", help="a region's extract -> the month's delivery, registration audit and figures")
    p.add_argument("--extract", action="append", required=True,
                   help="the extract (CSV, JSON lines, Parquet or .xlsx); repeat for several files, e.g. "
                        "consecutive months")
    p.add_argument("--month", required=True, help="the first month, YYYY-MM")
    p.add_argument("--to", help="the last month, YYYY-MM (default: --month)")
    p.add_argument("--out", required=True, help="directory for delivery/, audit.html, audit.json and the CSVs")
    p.add_argument("--shares", help="each region's share of the national pots (CSV or JSON lines)")
    p.add_argument("--population", help="each region's population aged 0–18, CSV or JSON lines with region and "
                   "population_0_18 (block one)")
    p.add_argument("--counts", action="append", default=[], help="aggregated counts, e.g. last year's baseline")
    p.add_argument("--publish", action="store_true", help="suppress every cell under 5 contacts")
    p.add_argument("--workers", type=int, default=None, help="processes (default: every core)")
    rulesets.add_option(p)
    p.add_argument("--encoding", help="a CSV extract's encoding, utf-8 or windows-1252 (default: UTF-8 when the "
                   "bytes are UTF-8, else Windows-1252)")
    p.add_argument("--strict", action="store_true",
                   help="exit 3 when any row could not be read (the files are still written)")
    p.set_defaults(func=cmd_month)
    p = sub.add_parser("simulate", help="a seeded synthetic region (--patients: extract and answer key) or "
                       "country (--regions 21: a year of deliveries with known defects, and the answer key)")
    p.add_argument("--patients", type=int, help="one region's extract with this many patients")
    p.add_argument("--regions", type=int, choices=[21],
                   help="the country: all 21 regions' deliveries (as `national simulate`)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--format", choices=["csv", "parquet"], default="csv", help="the region's extract")
    p.add_argument("--months", type=int, default=11, help="with --regions: months of 2026 delivered (default 11)")
    p.add_argument("--scale", type=float, default=1.0, help="with --regions: volume (1: about 8,000 completed a "
                   "month nationally)")
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("serve", help="serve the HTTP API with uvicorn")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    from api.work import Limits  # the limits' defaults and meaning live in one place

    for name, kind, what in _SERVE_LIMITS:
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                       help=f"{what} (default {getattr(Limits, name)}; or $BUP_{name.upper()})")
    p.add_argument("--auth-file", help="require API keys or bearer tokens as this file says (bup-classifier keys)")
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate chain (PEM)")
    p.add_argument("--tls-key", help="the certificate's private key (PEM)")
    p.add_argument("--tls-client-ca", help="mutual TLS: require a client certificate signed by this CA (PEM)")
    p.add_argument("--forwarded-allow-ips", metavar="IPS",
                   help="reverse proxies (comma-separated addresses or networks, '*' for any) whose X-Forwarded-For "
                        "names the client: the failed-login limit counts per client (default $FORWARDED_ALLOW_IPS "
                        "or 127.0.0.1)")
    rulesets.add_option(p)
    decision_commands.add_serve_options(p)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("keys", help="add, list or remove the API keys in an auth file")
    keys = p.add_subparsers(dest="action", required=True)
    for action, text in (("add", "make a key, print it once and store its hash"), ("list", "list the keys"),
                         ("remove", "remove a key")):
        k = keys.add_parser(action, help=text)
        if action != "list":
            k.add_argument("name", help="the client's name (shown in the access log)")
        if action == "add":
            k.add_argument("--role", action="append", required=True, choices=["classify", "audit", "national", "admin"],
                           help="a role for this key (repeat for more)")
        k.add_argument("--auth-file", required=True, help="the auth file (created if missing)")
        k.set_defaults(func=cmd_keys)
    decision_commands.add_parsers(sub)
    from classifier.national import commands as national_commands

    national_commands.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "rules"):  # a command that classifies: its held sets are loaded and checked first
            rulesets.use(args.rules)  # the one holding of this process and its workers
            rulesets.default_rulesets()
    except RuleSetError as exc:
        print(f"bup-classifier {args.command}: {exc}", file=sys.stderr)
        return 2
    return quiet_when_reader_leaves(lambda: int(args.func(args, sys.stdout)))


def quiet_when_reader_leaves(run: Callable[[], int]) -> int:
    """Run a command that writes to stdout; when its reader has gone (`… | head`), stop quietly as Unix tools do.

    Every command's output goes through here, so none ends in a BrokenPipeError traceback. The exit status is
    128 + SIGPIPE, what a shell reports for a tool the signal ended; stdout is pointed at /dev/null so that the
    interpreter's own flush at exit has nothing left to fail on.
    """
    try:
        code = run()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
