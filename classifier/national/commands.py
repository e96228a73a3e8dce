"""`bup-classifier national ingest|deliveries|status|notices|assess|basis|statistics|simulate`: the same
functions the service calls."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, TextIO

from classifier.errors import ascii_whole
from classifier.national.days import (
    DELIVERY_ID_DIGITS,
    DELIVERY_ID_EN,
    YEAR_EN,
    DayError,
    parse_day,
    read_year,
)
from classifier.national.deliveries import KINDS, read_delivery
from classifier.national.status import today as swedish_today
from classifier.national.store import DEFAULT_STORE, Store

STORE_ENV = "BUP_NATIONAL_STORE"
FILE_SV = {"completed": "genomförda", "waiting": "väntande"}
BATCH = 64  # files stored in one transaction by `national ingest` (all or none of them)


def store_url(value: str | None) -> str:
    """--store, else $BUP_NATIONAL_STORE, else national.duckdb in the working directory."""
    return value or os.environ.get(STORE_ENV) or DEFAULT_STORE


class StoreUnavailable(RuntimeError):
    """The store cannot be opened (a DuckDB file another process holds, a database that does not answer)."""


def _open(args: argparse.Namespace) -> Store:
    url = store_url(args.store)
    try:
        return Store(url)
    except Exception as exc:  # the driver's own error types differ (duckdb, psycopg, sqlalchemy)
        from classifier.privacy import redact

        raise StoreUnavailable(f"cannot open the national store {redact(url.split('@')[-1])}: "
                               f"{redact(str(exc).splitlines()[0])[:300]}") from None


def _day(value: str) -> dt.date:
    """--as-of, --cutoff: read as the service reads them (classifier/national/days.py); the value is not repeated."""
    try:
        return parse_day(value)
    except DayError as exc:
        raise argparse.ArgumentTypeError(exc.en) from None


def _delivery_id(value: str) -> int:
    """--id: a delivery's number in ASCII digits (int() would also read ' 7', '+7' or '7_0': a guess)."""
    number = ascii_whole(value, DELIVERY_ID_DIGITS)
    if number is None:
        raise argparse.ArgumentTypeError(DELIVERY_ID_EN)
    return number


def _year(value: str) -> int:
    """--year: an agreement year, as the service bounds it (a year like 99999 broke the month arithmetic)."""
    year = read_year(value)
    if year is None:
        raise argparse.ArgumentTypeError(YEAR_EN)
    return year


def _print_json(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def cmd_ingest(args: argparse.Namespace, out: TextIO) -> int:
    from classifier.national.simulate import read_manifest

    jobs: list[tuple[Path, str | None, str]] = [(Path(f), args.received, args.sender) for f in args.files]
    if args.manifest:
        base = Path(args.manifest).parent
        try:
            jobs += [(base / m["file"], m["received"], m["sender"]) for m in read_manifest(Path(args.manifest))]
        except (OSError, UnicodeDecodeError, KeyError, csv.Error) as exc:  # was a traceback
            why = exc.strerror if isinstance(exc, OSError) else f"no column {exc}" if isinstance(exc, KeyError) else (
                "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc))
            print(f"bup-classifier: {Path(args.manifest).name}: cannot be read as a manifest ({why}); expected a UTF-8 "
                  "CSV with the columns file, received, sender", file=sys.stderr)
            return 2
    if not jobs:
        print("bup-classifier: no file: give FILE… or --manifest", file=sys.stderr)
        return 2
    store = _open(args)
    refused = 0
    try:
        batch: list[tuple[Any, str, str | None]] = []
        for i, (path, received, sender) in enumerate(jobs):
            if _refused_at_door(path, sender, i):
                refused += 1
                continue
            try:
                data = path.read_bytes()
            except OSError as exc:
                print(f"bup-classifier: {path.name}: cannot be read ({exc.strerror})", file=sys.stderr)
                refused += 1
            else:
                batch.append((read_delivery(path.name, data, kind=args.kind, region=args.region, month=args.month),
                              sender, received))
            if batch and (len(batch) == BATCH or i == len(jobs) - 1):  # one commit for up to BATCH files
                for res in store.ingest_many(batch):
                    refused += _print_ingested(res, out)
                batch = []
    finally:
        store.close()
    return 2 if refused else 0


def _refused_at_door(path: Path, sender: str | None, index: int) -> bool:
    """True (and why, on stderr) when the file's name or its sender holds an identity number: such a file is
    not read and nothing of it is stored, as over HTTP (docs/national.md §1); neither value is repeated."""
    from classifier.privacy import looks_like_identity_number

    where = [w for w, v in (("file name", path.name), ("sender", sender)) if v and looks_like_identity_number(v)]
    if where:
        print(f"bup-classifier: file {index + 1}: the {' and the '.join(where)} look(s) like a personal identity "
              "number; not read, nothing stored / filnamnet eller avsändaren ser ut som ett personnummer; "
              "filen lästes inte och inget sparades", file=sys.stderr)
    return bool(where)


def _print_ingested(res: dict[str, Any], out: TextIO) -> int:
    """One stored file as the CLI shows it; 1 when it was refused."""
    if res["status"] == "refused":
        print(f"refused  file {res['file_id']} {res['filename']} ({res['kind']}, sha256 {res['sha256'][:12]}…)"
              f": {len(res['problems'])} problem(s)", file=out)
        for p in res["problems"]:
            print(f"  {p['at']}: {p['column'] or '-'}: {p['message']}", file=sys.stderr)
        return 1
    parts = res["deliveries"]
    sup = [p for p in parts if p["supplement"]]
    print(f"accepted file {res['file_id']} {res['filename']} ({res['kind']}, sha256 {res['sha256'][:12]}…): "
          f"{len(parts)} region-month(s), {sum(p['rows'] for p in parts)} rows, {len(sup)} supplement(s)", file=out)
    for p in parts:
        extra = f", supersedes {p['supersedes']}" if p["supplement"] else ""
        print(f"  delivery {p['delivery_id']}: {p['region']} {p['month']} {p['kind']}, {p['rows']} rows{extra}",
              file=out)
    return 0


def cmd_deliveries(args: argparse.Namespace, out: TextIO) -> int:
    from classifier.national.listing import delivery_detail, delivery_list

    store = _open(args)
    try:
        if args.id is not None:
            found = delivery_detail(store, args.id)
            if found is None:
                print(f"bup-classifier: no delivery {args.id}", file=sys.stderr)
                return 2
            _print_json(found, out)
            return 0
        listing = delivery_list(store, args.region, args.month)
    finally:
        store.close()
    if args.json:
        _print_json(listing, out)
        return 0
    for d in listing["deliveries"]:
        state = "in force" if d["in_force"] else f"superseded by {d['superseded_by']}"
        print(f"{d['delivery_id']:>6} {d['region']:<28} {d['month']} {d['kind']:<9} {d['n_rows']:>6} rows  "
              f"{d['received_at']}  {d['sender']}  {d['sha256'][:12]}…  {state}", file=out)
    for f in listing["refused_files"]:
        print(f"{'file ' + str(f['file_id']):>6} refused {f['filename']} ({f['region'] or '?'} {f['month'] or '?'}) "
              f"{f['received_at']}: {len(f['problems'])} problem(s)", file=out)
    return 0


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    from classifier.national.status import completeness, status_text

    with _open(args) as store:
        status = completeness(store, args.year, args.as_of or swedish_today())
    if args.json:
        _print_json(status, out)
    else:
        out.write(status_text(status) + "\n")
    return 0


def cmd_notices(args: argparse.Namespace, out: TextIO) -> int:
    from classifier.national.notices import answered, due_notices
    from classifier.national.status import STATE_SV

    store = _open(args)
    try:
        if args.as_of is not None:
            new = due_notices(store, args.year if args.year is not None else swedish_today().year, args.as_of)
            for n in new:
                if args.record:
                    n["notice_id"] = store.record_notice(n)
                if args.out:
                    d = Path(args.out)
                    d.mkdir(parents=True, exist_ok=True)
                    stem = f"meddelande-{n['issued_on']}-{n['region'].replace(' ', '_')}"
                    (d / f"{stem}.txt").write_text(n["text"], encoding="utf-8")
                    (d / f"{stem}.html").write_text(n["html"], encoding="utf-8")
            if not args.record:
                if args.json:
                    _print_json(new, out)
                else:
                    for n in new:
                        out.write(n["text"] + "\n")
                return 0
        recorded = answered(store, store.notices())
    finally:
        store.close()
    if args.json:
        _print_json(recorded, out)
        return 0
    for n in recorded:
        print(f"meddelande {n['notice_id']} {n['region']}, {n['issued_on']}, komplettering senast {n['deadline']}: "
              f"{n['state_sv']}", file=out)
        for it in n["items"]:
            ans = (f"besvarat {it['answered_on']} av leverans {it['answered_by']}"
                   + ("" if it["in_time"] else " (efter sista dag)")) if it["answered_by"] else "obesvarat"
            print(f"  {it['month']} {FILE_SV[it['file']]}: {STATE_SV[it['state']]}; {ans}", file=out)
    return 0


def cmd_assess(args: argparse.Namespace, out: TextIO) -> int:
    from classifier.national.assess import dumps

    result = _assessed(args, args.cutoff)
    if result is None:
        return 2
    data = dumps(result)
    if args.out:
        Path(args.out).write_bytes(data)
    else:
        out.write(data.decode() + "\n")
    return 0


def _assessed(args: argparse.Namespace, cutoff: dt.date | None) -> dict[str, Any] | None:
    """The assessment the command's options ask for (shared by `assess` and `basis`); None after printing why not."""
    from classifier.national.assess import assess
    from classifier.reporting.records import ReportInputError, read_source
    from classifier.reporting.report import read_shares

    store = _open(args)
    try:
        return assess(store, args.year, cutoff, read_shares(args.shares),
                      baseline=[read_source(b) for b in args.baseline],
                      population=read_source(args.population) if args.population else None, final=args.final)
    except ReportInputError as exc:
        for item in exc.items():
            print(f"bup-classifier: {item['path']}: {item['message']}", file=sys.stderr)
        return None
    finally:
        store.close()


def cmd_basis(args: argparse.Namespace, out: TextIO) -> int:
    from classifier.national.basis import basis_html
    from classifier.national.deliveries import settings

    bases = {b["payout"]: b["due"] for b in (settings()["bases"].get(args.year) or [])}
    cutoff = args.cutoff or (dt.date.fromisoformat(bases[args.payout]) if args.payout in bases else None)
    if cutoff is None:
        print(f"bup-classifier: no basis date for {args.payout} {args.year} in rules/national.yaml: give --cutoff",
              file=sys.stderr)
        return 2
    result = _assessed(args, cutoff)
    if result is None:
        return 2
    if args.payout not in {p["payout"] for p in result["money"]["payouts"]}:
        print(f"bup-classifier: the agreement has no payout {args.payout!r} in {args.year}", file=sys.stderr)
        return 2
    Path(args.out).write_text(basis_html(result, args.payout), encoding="utf-8")
    print(f"wrote {args.out} (cut-off {cutoff}, store sha256 {result['store']['sha256'][:12]}…)", file=out)
    if args.pdf:
        from classifier.national.basis import to_pdf

        try:
            to_pdf(Path(args.out), Path(args.pdf))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            print(f"bup-classifier: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.pdf}", file=out)
    return 0


def cmd_statistics(args: argparse.Namespace, out: TextIO) -> int:
    from classifier.national.statistics import rendered, statistics

    with _open(args) as store:
        stats = statistics(store, args.year, args.as_of or swedish_today())
    fmt = args.format or (Path(args.out).suffix.lstrip(".").lower() if args.out else "csv")
    if fmt not in ("csv", "xlsx", "json"):
        print(f"bup-classifier: --format: expected csv, xlsx or json, got {fmt!r}", file=sys.stderr)
        return 2
    if fmt == "xlsx" and not args.out:
        print("bup-classifier: an Excel workbook needs --out FILE.xlsx", file=sys.stderr)
        return 2
    try:
        data = rendered(stats, fmt)
    except RuntimeError as exc:
        print(f"bup-classifier: {exc}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_bytes(data)
        print(f"wrote {args.out} ({len(stats['rows'])} rows: 21 regions and Riket, {args.year} as of "
              f"{stats['as_of']}; cells under {stats['suppress_below']} suppressed)", file=out)
    else:
        out.write(data.decode("utf-8-sig").replace("\r\n", "\n"))
    return 0


def cmd_simulate(args: argparse.Namespace, out: TextIO) -> int:
    from classifier.national.simulate import simulate

    key = simulate(Path(args.out), args.seed, months=args.months, scale=args.scale)
    print(f"wrote {args.out}/manifest.csv, files/, population.csv and shares.csv (simulated) and answer_key.json "
          f"({len(key['never_delivered'])} months never delivered, {len(key['notices_as_of'])} notice items "
          f"as of {key['as_of']})", file=out)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`national ingest|deliveries|status|notices|assess`."""
    p = sub.add_parser("national", help="the national follow-up: every region's deliveries, completeness, money")
    nsub = p.add_subparsers(dest="national_command", required=True)

    def cmd(name: str, text: str, func: Any) -> argparse.ArgumentParser:
        c = nsub.add_parser(name, help=text)
        c.add_argument("--store", help=f"DuckDB file or postgresql://… URL (default ${STORE_ENV} or {DEFAULT_STORE})")

        def guarded(args: argparse.Namespace, out: TextIO) -> int:
            try:
                return int(func(args, out))
            except StoreUnavailable as exc:
                print(f"bup-classifier: {exc}", file=sys.stderr)
                return 2

        c.set_defaults(func=guarded)
        return c

    c = cmd("ingest", "check and store region month deliveries (completed, waiting or counts; CSV or JSON)",
            cmd_ingest)
    c.add_argument("files", nargs="*", metavar="FILE")
    c.add_argument("--manifest", help="a manifest.csv (file, received, sender) as `national simulate` writes")
    c.add_argument("--sender", default=os.environ.get("USER", "cli"), help="who sent it (default: $USER)")
    c.add_argument("--region", help="the region the delivery is for (checked against every row)")
    c.add_argument("--month", help="the month YYYY-MM the delivery is for (checked against every row)")
    c.add_argument("--kind", choices=KINDS, help="default: from the file name, else from the columns")
    c.add_argument("--received", help="received time (ISO date-time; no offset: UTC) for an archive; default now")
    c = cmd("deliveries", "list every stored version (or show one delivery with --id)", cmd_deliveries)
    c.add_argument("--region")
    c.add_argument("--month")
    c.add_argument("--id", type=_delivery_id, help="one delivery with its rows")
    c.add_argument("--json", action="store_true")
    c = cmd("status", "completeness: region × month × (completed, waiting)", cmd_status)
    c.add_argument("--year", type=_year, required=True)
    c.add_argument("--as-of", type=_day, help="only what was stored by this day counts (default today)")
    c.add_argument("--json", action="store_true")
    c = cmd("notices", "the notices due as of a date (--as-of; --record to record them) or those recorded",
            cmd_notices)
    c.add_argument("--year", type=_year, help="default: this year in Swedish time, when the command runs")
    c.add_argument("--as-of", type=_day)
    c.add_argument("--record", action="store_true", help="record the notices (then list every recorded notice)")
    c.add_argument("--out", help="write each notice as .txt and .html here")
    c.add_argument("--json", action="store_true")
    c = cmd("assess", "the assessment and the money as of a cut-off date, from the deliveries", cmd_assess)
    c.add_argument("--year", type=_year, required=True)
    c.add_argument("--cutoff", type=_day, required=True, help="only what was stored by this day counts")
    c.add_argument("--shares", required=True, help="each region's share of the national pots (CSV or JSON lines)")
    c.add_argument("--baseline", action="append", default=[], help="last year's counts (the counts format)")
    c.add_argument("--population", help="population aged 0–18 per region: region,population,source (block one)")
    c.add_argument("--final", action="store_true", help="the year's reporting is declared final")
    c.add_argument("--out", help="write the assessment JSON here")
    c = cmd("statistics", "the public statistics table (per region and month; cells under 5 suppressed)",
            cmd_statistics)
    c.add_argument("--year", type=_year, required=True)
    c.add_argument("--as-of", type=_day, help="only what was stored by this day counts (default today)")
    c.add_argument("--format", choices=("csv", "xlsx", "json"),
                   help="default: from --out's suffix, else csv (UTF-8 with BOM, semicolons)")
    c.add_argument("--out", help="write the table here (needed for xlsx)")
    c = cmd("simulate", "a simulated country: 21 regions' deliveries with known defects, and the answer key",
            cmd_simulate)
    c.add_argument("--out", required=True)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--months", type=int, default=11, help="months of 2026 delivered (default 11: January-November)")
    c.add_argument("--scale", type=float, default=1.0, help="volume (1: about 8,000 completed a month nationally)")
    c = cmd("basis", "the written basis for one payout (Swedish HTML, cells under 5 suppressed)", cmd_basis)
    c.add_argument("--year", type=_year, required=True)
    c.add_argument("--payout", required=True, help="augusti or december (rules/agreement.yaml payouts)")
    c.add_argument("--cutoff", type=_day, help="default: the basis's due day in rules/national.yaml")
    c.add_argument("--shares", required=True)
    c.add_argument("--baseline", action="append", default=[])
    c.add_argument("--population")
    c.add_argument("--final", action="store_true")
    c.add_argument("--out", required=True, help="the HTML file to write")
    c.add_argument("--pdf", help="also print it to this PDF with headless Chromium")
