"""The command line of the decision log: `serve` options, `decisions export|purge`, `impact`.

classifier/cli.py registers these; they call store, writer and replay and hold no logic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import orjson
import sqlalchemy as sa

from classifier import decisions
from classifier.decisions import replay, store
from classifier.privacy import redact
from classifier.rulesets import add_option


def add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decision-log", metavar="URL",
                   help="record every answer: sqlite:///PATH or postgresql://USER@HOST/DB (off by default)")
    p.add_argument("--decision-log-store", choices=["request", "digest"], default="request",
                   help="keep the request as it came (default) or only its sha256 (the answer keeps its facts)")
    p.add_argument("--decision-log-spool", metavar="DIR",
                   help="when the database fails, keep answering and spool decisions here (replayed later); "
                        "without it such requests get 503")
    p.add_argument("--decision-log-retention-days", type=_retention_days, default=decisions.DEFAULT_RETENTION_DAYS,
                   help=f"purge decisions older than this (default {decisions.DEFAULT_RETENTION_DAYS}; 0 = keep)")
    p.add_argument("--decision-log-timeout", type=float, default=decisions.DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help="longest a request waits for its decision to be recorded; past it 503, or the spool "
                        f"(default {decisions.DEFAULT_TIMEOUT_S:g})")


def apply_serve_options(args: argparse.Namespace) -> None:
    """Hand the options to every uvicorn worker through the environment; check the log's URL first."""
    if args.decision_log:
        if not 0 < args.decision_log_timeout <= 600:
            raise SystemExit(f"bup-classifier serve: --decision-log-timeout: expected seconds in (0, 600], got "
                             f"{args.decision_log_timeout:g}")
        try:
            engine = store.engine_for(args.decision_log)
            try:
                store.migrate(engine)  # once, before the workers start
            finally:
                engine.dispose()
        except Exception as exc:  # a bad URL, an unreachable database: say which, no traceback
            detail = str(exc).splitlines()[0] if isinstance(exc, store.LogUrlError) else type(exc).__name__
            raise SystemExit(f"bup-classifier serve: --decision-log: cannot open the decision log ({detail})") from None
        os.environ["BUP_DECISION_LOG"] = args.decision_log
        os.environ["BUP_DECISION_LOG_STORE"] = args.decision_log_store
        os.environ["BUP_DECISION_LOG_RETENTION_DAYS"] = str(args.decision_log_retention_days)
        os.environ["BUP_DECISION_LOG_TIMEOUT"] = str(args.decision_log_timeout)
        if args.decision_log_spool:
            os.environ["BUP_DECISION_LOG_SPOOL"] = str(Path(args.decision_log_spool).resolve())


def _filters(args: argparse.Namespace) -> store.Filters:
    return store.Filters(store.moment(args.since, False), store.moment(args.until, True), args.rule,
                         args.contact_type, args.ruleset_version, args.caller)


MAX_DAYS = 36500  # a hundred years: more overflows the date arithmetic of the purge (a traceback, a dead purger)


def _retention_days(value: str) -> int:
    """--decision-log-retention-days: 0 (keep everything) to MAX_DAYS."""
    if not (value.isascii() and value.isdigit() and len(value) <= 6 and int(value) <= MAX_DAYS):
        raise argparse.ArgumentTypeError(f"expected a whole number of days from 0 to {MAX_DAYS} (0 = keep)")
    return int(value)


def _reason(exc: Exception) -> str:
    """The driver's first line (`no such table: decisions`), redacted and short: no SQL, no traceback."""
    return redact(str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0])[:200]


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    """Every matching decision as one JSON line, in recording order."""
    try:
        filters = _filters(args)
    except ValueError:
        print("bup-classifier decisions export: --from/--to: expected a date YYYY-MM-DD or an ISO date-time",
              file=sys.stderr)
        return 2
    engine = store.engine_for(args.log)
    n = 0
    try:
        target = open(args.out, "w", encoding="utf-8") if args.out else out  # noqa: SIM115
        try:
            for rec in store.iterate(engine, filters):
                target.write(orjson.dumps(rec).decode() + "\n")
                n += 1
        finally:
            if args.out:
                target.close()
    except sa.exc.SQLAlchemyError as exc:  # a database without the log's tables, one that does not answer
        print(f"bup-classifier decisions export: cannot read the decision log ({_reason(exc)})", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"bup-classifier decisions export: {n} decision(s)", file=sys.stderr)
    return 0


def cmd_purge(args: argparse.Namespace, out: TextIO) -> int:
    """Delete decisions recorded more than N days ago."""
    if not 1 <= args.older_than_days <= MAX_DAYS:  # a larger one overflowed the date arithmetic (a traceback)
        print(f"bup-classifier decisions purge: --older-than-days must be from 1 to {MAX_DAYS}", file=sys.stderr)
        return 2
    engine = store.engine_for(args.log)
    try:
        n = store.purge(engine, dt.datetime.now(dt.UTC) - dt.timedelta(days=args.older_than_days))
    except sa.exc.SQLAlchemyError as exc:
        print(f"bup-classifier decisions purge: cannot read the decision log ({_reason(exc)})", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    out.write(f"purged {n} decision(s) recorded more than {args.older_than_days} days ago\n")
    return 0


def cmd_impact(args: argparse.Namespace, out: TextIO) -> int:
    """Classify the same requests under the baseline and the candidate and report what changes."""
    from classifier.classify import Classifier
    from classifier.reporting import records, report
    from classifier.ruleset import RuleSetError
    from classifier.rulesets import default_rulesets

    try:
        candidate = Classifier(args.candidate)
        sets = default_rulesets()  # the one holding (--rules DIR, else $BUP_RULES_DIR, else rules/)
    except (RuleSetError, ValueError) as exc:
        print(f"bup-classifier impact: {exc}", file=sys.stderr)
        return 2
    if args.baseline and args.baseline not in sets.by_version:
        print(f"bup-classifier impact: --baseline {args.baseline!r}: expected one of the loaded versions "
              f"{list(sets.by_version)} (add its directory with --rules)", file=sys.stderr)
        return 2
    if ((args.month or args.to or args.workers) and not args.extract) or (args.to and not args.month):
        print("bup-classifier impact: --month (and --to after it) and --workers go with --extract", file=sys.stderr)
        return 2
    if args.workers is not None and args.workers < 1:
        print("bup-classifier impact: --workers: expected 1 or more processes", file=sys.stderr)
        return 2
    if args.extract and args.region:
        print("bup-classifier impact: --region goes with --from-log or --examples: an extract's rows name their "
              "regions", file=sys.stderr)
        return 2
    try:
        shares = report.read_shares(args.shares) if args.shares else None
    except (OSError, ValueError, records.ReportInputError) as exc:
        print(f"bup-classifier impact: --shares {args.shares}: {exc}", file=sys.stderr)
        return 2
    if args.extract:
        return _impact_of_extract(args, out, candidate, sets, shares)
    skipped: Counter[str] = Counter()
    if args.from_log:
        cases = replay.from_log(args.from_log, skipped=skipped)
        source = "the decision log"
    else:
        cases = replay.from_examples(args.examples_dir or None)
        source = "the example library"
    if args.baseline:
        baseline, name = sets.by_version[args.baseline], args.baseline
    elif args.from_log:
        baseline, name = None, "as logged"
    else:
        baseline, name = sets, "+".join(sets.by_version)
    result_obj = replay.impact(cases, candidate, baseline, name, candidate.ruleset.version,
                                 args.region or "Region")
    result_obj.skipped.update(skipped)
    result = result_obj.result(args.year, shares)
    result["source"] = source
    return _write_impact(args, out, result)


def _impact_of_extract(args: argparse.Namespace, out: TextIO, candidate: Any, sets: Any,
                       shares: dict[str, Any] | None) -> int:
    """`impact --extract`: the extract's patients folded under both sets (classifier/month)."""
    from classifier.month.extract import ExtractError
    from classifier.month.fold import month_range
    from classifier.reporting.records import ReportInputError

    for option in ("month", "to"):
        value = getattr(args, option)
        if value is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
            print(f"bup-classifier impact: --{option} {value!r}: expected a month as YYYY-MM", file=sys.stderr)
            return 2
    try:
        months = month_range(args.month, args.to or args.month) if args.month else None
        baseline = sets.by_version[args.baseline] if args.baseline else sets
        found = replay.from_extract(args.extract, months, candidate, baseline, args.workers or os.cpu_count() or 1)
        result = found.result(args.year, shares)
    except (ValueError, ExtractError, ReportInputError) as exc:  # a bad month, an unreadable extract
        print(f"bup-classifier impact: {exc}", file=sys.stderr)
        return 2
    result["source"] = "the extract " + ", ".join(Path(p).name for p in args.extract)
    return _write_impact(args, out, result)


def _write_impact(args: argparse.Namespace, out: TextIO, result: dict[str, Any]) -> int:
    if args.html:
        Path(args.html).write_text(replay.to_html(result), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    out.write((json.dumps(result, ensure_ascii=False, indent=2) if args.json else replay.text(result)) + "\n")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`decisions export|purge` and `impact`."""
    p = sub.add_parser("decisions", help="the decision log: export or purge")
    dsub = p.add_subparsers(dest="decisions_command", required=True)
    e = dsub.add_parser("export", help="decisions as JSON lines, in recording order")
    e.add_argument("--log", required=True, metavar="URL", help="sqlite:///PATH or postgresql://…")
    e.add_argument("--from", dest="since", help="recorded on or after (date or ISO date-time, UTC)")
    e.add_argument("--to", dest="until", help="recorded before (a date includes that whole day)")
    for name in ("rule", "contact_type", "ruleset_version", "caller"):
        e.add_argument(f"--{name.replace('_', '-')}", dest=name)
    e.add_argument("--out", help="write here instead of stdout")
    e.set_defaults(func=cmd_export)
    pu = dsub.add_parser("purge", help="delete decisions older than the retention period")
    pu.add_argument("--log", required=True, metavar="URL")
    pu.add_argument("--older-than-days", type=int, default=decisions.DEFAULT_RETENTION_DAYS)
    pu.set_defaults(func=cmd_purge)

    p = sub.add_parser("impact", help="what a candidate rule set changes: replay logged or example requests")
    p.add_argument("--candidate", required=True, metavar="RULES_DIR", help="the rule set to release")
    add_option(p, "; the baseline is chosen among them, each contact by its date unless --baseline names one")
    p.add_argument("--baseline", metavar="VERSION",
                   help="classify again under this version (default: the logged answer, or for examples the "
                        "set valid on each contact's date)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-log", metavar="URL", help="replay every logged decision that kept its request")
    src.add_argument("--examples", dest="examples_dir", nargs="?", const="", metavar="DIR",
                     help="replay the example library (default examples/)")
    src.add_argument("--extract", action="append", metavar="FILE",
                     help="a month's extract (CSV, JSON lines or Parquet; repeat for several files): each patient "
                          "folded under both sets")
    p.add_argument("--month", help="with --extract: the first month to compare, YYYY-MM (default: the extract's)")
    p.add_argument("--to", help="with --extract: the last month, YYYY-MM (default: --month)")
    p.add_argument("--workers", type=int, help="with --extract: processes folding patients (default: every core)")
    p.add_argument("--region", help="the region logged or example contacts belong to, for shares and money "
                                    "(default 'Region'; an extract's rows name their own)")
    p.add_argument("--shares", help="each region's share of the national pots (CSV or JSON lines), for money")
    p.add_argument("--year", type=int, help="the agreement year of the report (default: the contacts' year)")
    p.add_argument("--json", action="store_true", help="print the impact as JSON")
    p.add_argument("--html", metavar="OUT", help="also write the impact as a standalone HTML page")
    p.set_defaults(func=cmd_impact)
