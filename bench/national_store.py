"""The national store on a realistic year: 21 regions × 12 months of completed and waiting deliveries.

The data is the simulated country (classifier/national/simulate.py) for January–December at scale 1:
about 8,000 measurement points a month nationally (~10^5 a year; docs/national.md) and 10,000 patients
waiting at each month end, with its defects and supplements, ingested in the manifest's order. Then,
for each backend (DuckDB file, PostgreSQL when installed):
- ingest: every file read, checked and stored (up to 64 files a transaction, as `national ingest`), wall time;
- assess: one payout's assessment from the store as of 31 July 2026, wall time (best of 3);
- and beside them, the same files read and checked with no store at all (the floor of ingest).
Peak RSS of this process (its own, `peak_rss_mib`) is printed at the end. `make bench` runs it in a process of its
own (bench/bench.py reads `--json`, so the peak memory is the national side's alone); by hand:
`python bench/national_store.py`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.national.assess import assess  # noqa: E402
from classifier.national.commands import BATCH  # noqa: E402
from classifier.national.deliveries import read_delivery, regions  # noqa: E402
from classifier.national.simulate import read_manifest, simulate  # noqa: E402
from classifier.national.store import Store  # noqa: E402


def measure(url: str, files: list[tuple[Path, str, str]]) -> dict[str, float]:
    store = Store(url)
    t = time.perf_counter()
    for i in range(0, len(files), BATCH):  # as `national ingest` does: up to BATCH files a transaction
        store.ingest_many([(read_delivery(f.name, f.read_bytes()), sender, received)
                           for f, received, sender in files[i:i + BATCH]])
    ingest = time.perf_counter() - t
    shares = {r: Decimal(1) / 21 for r in regions()}
    times = []
    for _ in range(3):
        t = time.perf_counter()
        assess(store, 2026, dt.date(2026, 7, 31), shares)
        times.append(time.perf_counter() - t)
    store.close()
    return {"ingest_s": ingest, "assess_s": min(times)}


def run(runs: int, months: int, scale: float, postgres: bool = True) -> dict[str, Any]:
    """Each measure `runs` times, side by side in one process; medians are taken by the caller."""
    out: dict[str, Any] = {"no_store_s": [], "duckdb": {"ingest_s": [], "assess_s": []}}
    with tempfile.TemporaryDirectory(prefix="bup-national-bench-") as tmp:
        simulate(Path(tmp) / "country", seed=1, months=months, scale=scale)
        files = [(Path(tmp) / "country" / m["file"], m["received"], m["sender"])
                 for m in read_manifest(Path(tmp) / "country" / "manifest.csv")]
        out["files"] = len(files)
        out["rows"] = sum(len(f.read_text().splitlines()) - 1 for f, _r, _s in files)
        pg = None
        if postgres:
            from tests.postgres import bin_dir, postgres_server

            pg = postgres_server() if bin_dir() is not None else None
        server = pg.__enter__() if pg is not None else None
        if server is not None:
            out["postgresql"] = {"ingest_s": [], "assess_s": []}
        try:
            for i in range(runs):
                t = time.perf_counter()
                for f, _r, _s in files:
                    read_delivery(f.name, f.read_bytes())
                out["no_store_s"].append(time.perf_counter() - t)
                places = [("duckdb", str(Path(tmp) / f"national-{i}.duckdb"))]
                if server is not None:  # a new database each run, as the DuckDB file is new
                    server._run("createdb", "-h", "127.0.0.1", "-p", str(server.port), "-U", server.user, f"n{i}")
                    places.append(("postgresql", server.url.rsplit("/", 1)[0] + f"/n{i}"))
                for name, where in places:
                    m = measure(where, files)
                    out[name]["ingest_s"].append(m["ingest_s"])
                    out[name]["assess_s"].append(m["assess_s"])
        finally:
            if pg is not None:
                pg.__exit__(None, None, None)
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def peak_rss_mib() -> float:
    """This process's own peak resident memory (MiB). Not `ru_maxrss`: Linux carries the parent's peak into a child
    across fork and exec, and `make bench` starts this file from bench/bench.py after its memory sections (the
    national side showed 4.8 GiB, bench.py's peak); /proc/self/status `VmHWM` is this address space's own."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # elsewhere (kB on Linux, as VmHWM)


def national_bench(smoke: bool, stats: Any) -> dict[str, Any]:
    """`make bench`'s section 9: this file in a process of its own (its peak memory is the national side's),
    3 runs of the whole year at scale 1 (smoke: 1 run of two months at scale 0.1); medians with min–max."""
    args = ["--runs", "1", "--months", "2", "--scale", "0.1"] if smoke else ["--runs", "3"]
    done = subprocess.run([sys.executable, __file__, "--json", *args], capture_output=True, text=True,
                          timeout=1800, check=True)
    raw = json.loads(done.stdout)
    out: dict[str, Any] = {"files": raw["files"], "rows": raw["rows"], "peak_rss_mib": raw["peak_rss_mib"],
                           "no_store_s": stats(raw["no_store_s"])}
    for name in ("duckdb", "postgresql"):
        if name in raw:
            r = raw[name]
            out[name] = {"ingest_s": stats(r["ingest_s"]), "assess_s": stats(r["assess_s"]),
                         "ingest_and_assess_s": stats([a + b for a, b in zip(r["ingest_s"], r["assess_s"],
                                                                                strict=True)]),
                         "ingest_over_no_store": stats([a / b for a, b in zip(r["ingest_s"], raw["no_store_s"],
                                                                              strict=True)])}
    return out


def markdown(r: dict[str, Any], fmt: Any) -> list[str]:
    """The national side's table: goals ≤ 10 s ingest and assess, ≤ 2 s one payout, ≤ 1 GiB (issue 24 §8)."""
    lines = [f"| the national store, a country's year ({r['files']:,} files, {r['rows']:,} rows) | ingest s "
             "| assess one payout s | both s | ingest / read with no store |", "|---|---|---|---|---|"]
    lines.append(f"| read and check, no store | {fmt(r['no_store_s'], 2)} | | | 1 |")
    for name in ("duckdb", "postgresql"):
        if name in r:
            m = r[name]
            lines.append(f"| {name} | {fmt(m['ingest_s'], 2)} | {fmt(m['assess_s'], 2)} | "
                         f"{fmt(m['ingest_and_assess_s'], 2)} | {fmt(m['ingest_over_no_store'], 2)} |")
    lines += ["", f"Peak RSS of the national bench process: {r['peak_rss_mib']:,.0f} MiB.", ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--no-postgresql", action="store_true")
    p.add_argument("--json", action="store_true", help="print the raw figures as JSON (bench/bench.py reads them)")
    args = p.parse_args(argv)
    r = run(args.runs, args.months, args.scale, not args.no_postgresql)
    if args.json:
        print(json.dumps(r))
        return
    print(f"{r['files']} files, {r['rows']} rows")
    for name in ("duckdb", "postgresql"):
        if name in r:
            print(f"{name}: ingest {statistics.median(r[name]['ingest_s']):.2f} s, assess (one payout, cut-off "
                  f"2026-07-31) {statistics.median(r[name]['assess_s']):.2f} s")
    print(f"read and check with no store: {statistics.median(r['no_store_s']):.2f} s")
    print(f"peak RSS {r['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
