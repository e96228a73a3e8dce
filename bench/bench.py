"""Benchmarks, side by side in one run: `make bench` (full) or `bench/bench.py --smoke` (seconds).

1. in-process classification (request dict in, answer dict out, validation included) with
   three deciders: durable-rules (the classifier), zen-engine, plain Python;
2. HTTP /v1/classify against a bare endpoint of the same app on the same server (wrk),
   with 1 and 2 uvicorn workers, and p50/p99 at 70 % of peak;
3. a 10,000-item batch, and timelines of 100, 1,000 and 5,000 events (growth exponent);
4. single contacts with 0, 10, 100 and 1,000 history items;
5. RSS of one process over 1,000,000 classifications;
6. p50/p99 of normal clients on /v1/classify alone and during a slow-client flood
   (bench/flood.py: more slow connections than the server's connection limit, loopback,
   stops by itself).
7. the decision log: /v1/classify at one worker with the log off, on SQLite and on PostgreSQL,
   and the time to replay 100,000 logged decisions under a candidate (1,000,000 with --full).
8. the month: a simulated region's extract to delivery and audit on every core, against a
   one-core loop and one HTTP request per contact (bench/month.py).
9. the national store: a simulated country's year ingested into DuckDB and PostgreSQL and one
   payout assessed from it, beside reading the same files with no store (bench/national_store.py).
Every figure is the median (with min and max) of several runs; ratios are computed run
by run. The smoke run only checks that all of it still works: it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import decision_log  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
from peers import PlainDecider, ZenDecider  # noqa: E402

from classifier import Classifier, examples  # noqa: E402
from tests.server import running_server  # noqa: E402


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def requests_() -> list[dict[str, Any]]:
    return [e.request for e in examples.load() if e.request and "error_paths" not in e.expect]


# -- 1. in-process ------------------------------------------------------------------------

def in_process(runs: int, rounds: int) -> dict[str, Any]:
    reqs = requests_()
    deciders = {"classifier (durable-rules)": Classifier(), "zen-engine": Classifier(), "plain Python": Classifier()}
    deciders["zen-engine"].engine = ZenDecider(deciders["zen-engine"].ruleset)  # type: ignore[assignment]
    deciders["plain Python"].engine = PlainDecider()  # type: ignore[assignment]
    base = [deciders["classifier (durable-rules)"].classify(r) for r in reqs]
    for name, clf in deciders.items():  # agreement on every benchmark input before timing
        assert [clf.classify(r) for r in reqs] == base, f"{name} disagrees with the classifier"
    per: dict[str, list[float]] = {n: [] for n in deciders}
    ratios: dict[str, list[float]] = {"classifier/zen": [], "classifier/plain": []}
    for _ in range(runs):
        run = {}
        for name, clf in deciders.items():  # interleaved, so drift hits all alike
            start = time.perf_counter()
            for _ in range(rounds):
                for r in reqs:
                    clf.classify(r)
            run[name] = rounds * len(reqs) / (time.perf_counter() - start)
            per[name].append(run[name])
        ratios["classifier/zen"].append(run["classifier (durable-rules)"] / run["zen-engine"])
        ratios["classifier/plain"].append(run["classifier (durable-rules)"] / run["plain Python"])
    return {"inputs": len(reqs), "contacts_per_s_one_core": {n: stats(v) for n, v in per.items()},
            "ratios": {n: stats(v) for n, v in ratios.items()}}


# -- 2. HTTP ------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("{body}"):read("*a")
{delay}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nRESULT {{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk(url: str, body: Path, seconds: float, connections: int, delay_ms: float | None = None) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT.format(body=body, delay=f"function delay() return {delay_ms:.3f} end" if delay_ms else ""))
    done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", f.name, url],
                          capture_output=True, text=True, check=True)
    os.unlink(f.name)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    r = json.loads(line[7:])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def http(runs: int, seconds: float, workdir: Path) -> dict[str, Any]:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (make bench does it)")
    body = workdir / "body.json"
    example = next(e for e in examples.load() if e.name.endswith("09_direct_start_scenario_b"))
    body.write_text(json.dumps(example.request))
    os.environ["BUP_BENCH_BARE"] = "1"
    out: dict[str, Any] = {}
    for workers in (1, 2):
        with running_server(workdir / f"server-{workers}.log", workers=workers) as base:
            for _ in range(2):  # warm up every worker
                wrk(f"{base}/v1/classify", body, 1, 8)
            classify, bare, ratio = [], [], []
            for _ in range(runs):
                c = wrk(f"{base}/v1/classify", body, seconds, 16)
                b = wrk(f"{base}/v1/_bench/bare", body, seconds, 16)
                assert c["errors"] == 0 and b["errors"] == 0, (c, b)
                classify.append(c)
                bare.append(b)
                ratio.append(c["rps"] / b["rps"])
            peak = statistics.median(c["rps"] for c in classify)
            conns = 8
            at70 = [wrk(f"{base}/v1/classify", body, seconds, conns, delay_ms=1000 * conns / (0.7 * peak))
                    for _ in range(runs)]
            out[f"{workers}_worker{'s' if workers > 1 else ''}"] = {
                "classify_rps": stats([c["rps"] for c in classify]),
                "bare_rps": stats([b["rps"] for b in bare]),
                "classify_over_bare": stats(ratio),
                "classify_p50_ms": stats([c["p50_us"] / 1000 for c in classify]),
                "classify_p99_ms": stats([c["p99_us"] / 1000 for c in classify]),
                "at_70pct_of_peak": {"target_rps": round(0.7 * peak), "rps": stats([a["rps"] for a in at70]),
                                     "p50_ms": stats([a["p50_us"] / 1000 for a in at70]),
                                     "p99_ms": stats([a["p99_us"] / 1000 for a in at70])},
            }
    return out


# -- 3. batch and timeline ----------------------------------------------------------------

def timeline_events(n: int) -> dict[str, Any]:
    day, events = date(2010, 1, 1), []
    cycle = ["assessment", "investigation", "investigation", "treatment", "follow_up", "treatment"]
    for i in range(n):
        day += timedelta(days=2)
        if i % 7 == 6:
            events.append({"type": "investigation_concluded", "date": day.isoformat(), "health_problem": "F90"})
            continue
        act = cycle[i % len(cycle)]
        contact = {"id": f"t{i}", "date": day.isoformat(), "setting": "bup", "activity": act, "health_problem": "F90",
                   "decision_date": (day - timedelta(days=10)).isoformat()}
        if act == "treatment":
            contact["treatment_modality"] = "psychological"
        events.append({"type": "contact", "contact": contact,
                       "care_request": {"received_date": (day - timedelta(days=20)).isoformat(), "pathway": "A"}})
    return {"events": events}


def batch_and_timeline(runs: int, workdir: Path, sizes: tuple[int, ...], batch_n: int) -> dict[str, Any]:
    reqs = requests_()
    # Bodies are encoded before the clock starts, as wrk's are: the client's JSON encoding
    # is not the service's cost.
    batch = orjson.dumps({"items": [reqs[i % len(reqs)] for i in range(batch_n)]})
    headers = {"content-type": "application/json"}
    out: dict[str, Any] = {}
    with running_server(workdir / "server-batch.log") as base, httpx.Client(base_url=base, timeout=300) as c:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            r = c.post("/v1/classify/batch", content=batch, headers=headers)
            times.append(time.perf_counter() - start)
            assert r.status_code == 200 and len(r.json()["results"]) == batch_n
        out["batch"] = {"items": batch_n, "seconds": stats(times)}
        per_size = {}
        for n in sizes:
            payload = orjson.dumps(timeline_events(n))
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                r = c.post("/v1/classify/timeline", content=payload, headers=headers)
                times.append(time.perf_counter() - start)
                assert r.status_code == 200, r.text[:300]
            per_size[n] = stats(times)
        xs = [math.log(n) for n in sizes]
        ys = [math.log(per_size[n]["median"]) for n in sizes]
        mx, my = statistics.mean(xs), statistics.mean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        out["timeline"] = {"seconds_by_events": {str(n): v for n, v in per_size.items()},
                           "growth_exponent": round(slope, 3)}
    return out


# -- 4. history size ----------------------------------------------------------------------

def history_sizes(runs: int, rounds: int, sizes: tuple[int, ...]) -> dict[str, Any]:
    clf = Classifier()
    out = {}
    for n in sizes:
        d = date(2026, 3, 1)
        history = [{"type": "contact", "date": (d - timedelta(days=1 + i)).isoformat(), "setting": "bup",
                    "contact_type": ["first_visit", "return_visit", "investigation", "treatment"][i % 4],
                    "health_problem": ["F41", "F90"][i % 2]} for i in range(n)]
        req = {"contact": {"id": "h", "date": d.isoformat(), "setting": "bup", "activity": "treatment",
                           "health_problem": "F90", "decision_date": "2026-02-20"}, "history": history}
        per = []
        for _ in range(runs):
            start = time.perf_counter()
            for _ in range(rounds):
                clf.classify(req)
            per.append((time.perf_counter() - start) / rounds * 1e6)
        out[str(n)] = stats(per)
    return {"us_per_classification_by_history_items": out}


# -- 6. a slow-client flood ------------------------------------------------------------------

def slow_flood(runs: int, seconds: float, slow: int, max_connections: int, workdir: Path) -> dict[str, Any]:
    """Normal clients' latency without and with `slow` slowloris connections (limit `max_connections`)."""
    body = workdir / "flood-body.json"
    body.write_text(json.dumps(requests_()[0]))
    args = ["--max-connections", str(max_connections)]
    with running_server(workdir / "server-flood.log", args=args) as base:
        host, port = base.removeprefix("http://").split(":")
        wrk(f"{base}/v1/classify", body, 1, 8)  # warm up
        calm, flooded, floods = [], [], []
        for _ in range(runs):
            calm.append(wrk(f"{base}/v1/classify", body, seconds, 8))
            flood = subprocess.Popen([sys.executable, str(ROOT / "bench" / "flood.py"), host, port, str(slow),
                                      str(seconds + 4)], stdout=subprocess.PIPE, text=True)
            time.sleep(2)  # the flood is at full strength
            flooded.append(wrk(f"{base}/v1/classify", body, seconds, 8))
            out, _ = flood.communicate(timeout=seconds + 60)
            floods.append(json.loads(out.strip().splitlines()[-1]))
        log_lines = sum('"bup_classifier.access"' not in line
                        for line in (workdir / "server-flood.log").read_text().splitlines())
    return {
        "slow_connections": slow, "max_connections": max_connections,
        "calm": {"rps": stats([c["rps"] for c in calm]), "p50_ms": stats([c["p50_us"] / 1000 for c in calm]),
                 "p99_ms": stats([c["p99_us"] / 1000 for c in calm]), "errors": sum(c["errors"] for c in calm)},
        "flood": {"rps": stats([c["rps"] for c in flooded]), "p50_ms": stats([c["p50_us"] / 1000 for c in flooded]),
                  "p99_ms": stats([c["p99_us"] / 1000 for c in flooded]),
                  "errors": sum(c["errors"] for c in flooded)},
        "slow_opened": sum(f["opened"] for f in floods), "slow_closed_by_server": sum(f["closed_by_server"]
                                                                                      for f in floods),
        "server_log_lines": log_lines,  # besides one access line per answered request
    }


# -- 5. memory ----------------------------------------------------------------------------

def memory(n: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "memory.py"), str(n)], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- report -------------------------------------------------------------------------------

def fmt(s: dict[str, float], digits: int = 0) -> str:
    return f"{s['median']:,.{digits}f} ({s['min']:,.{digits}f}–{s['max']:,.{digits}f})"


def markdown(r: dict[str, Any]) -> str:
    ip, lines = r["in_process"], []
    runs = ip["ratios"]["classifier/zen"]["runs"]
    lines += [f"Run {r['when']} on {r['machine']}, `{r['command']}`. Median (min–max) of {runs} "
              "runs; ratios computed run by run.", "",
              "| in-process, one core | contacts/s |", "|---|---|"]
    lines += [f"| {n} | {fmt(s)} |" for n, s in ip["contacts_per_s_one_core"].items()]
    lines += [f"| ratio classifier / zen-engine | {fmt(ip['ratios']['classifier/zen'], 2)} |",
              f"| ratio classifier / plain Python | {fmt(ip['ratios']['classifier/plain'], 2)} |", ""]
    if "http" in r:
        lines += ["| HTTP (wrk, loopback) | /v1/classify req/s | bare req/s | classify/bare | p50 ms | p99 ms | "
                  "p99 ms at 70 % of peak |", "|---|---|---|---|---|---|---|"]
        for name, h in r["http"].items():
            lines.append(f"| {name.replace('_', ' ')} | {fmt(h['classify_rps'])} | {fmt(h['bare_rps'])} | "
                         f"{fmt(h['classify_over_bare'], 2)} | {fmt(h['classify_p50_ms'], 2)} | "
                         f"{fmt(h['classify_p99_ms'], 2)} | {fmt(h['at_70pct_of_peak']['p99_ms'], 2)} |")
        lines.append("")
    bt = r["batch_timeline"]
    lines += [f"Batch of {bt['batch']['items']:,} items: {fmt(bt['batch']['seconds'], 3)} s. "
              "Timeline: " + ", ".join(f"{int(n):,} events {fmt(s, 3)} s" for n, s in
                                       bt["timeline"]["seconds_by_events"].items())
              + f"; growth exponent {bt['timeline']['growth_exponent']} (1 = linear).", ""]
    hs = r["history"]["us_per_classification_by_history_items"]
    lines += ["History items: " + ", ".join(f"{n}: {fmt(s)} µs" for n, s in hs.items()) + ".", ""]
    if "flood" in r:
        f = r["flood"]
        lines += [f"Slow-client flood: {f['slow_connections']:,} slowloris connections against a limit of "
                  f"{f['max_connections']:,}, normal clients (wrk, 8 connections) on /v1/classify: "
                  f"p99 {fmt(f['calm']['p99_ms'], 2)} ms calm, {fmt(f['flood']['p99_ms'], 2)} ms during the flood "
                  f"(p50 {fmt(f['calm']['p50_ms'], 2)} → {fmt(f['flood']['p50_ms'], 2)} ms; req/s "
                  f"{fmt(f['calm']['rps'])} → {fmt(f['flood']['rps'])}; wrk errors {f['calm']['errors']} → "
                  f"{f['flood']['errors']}); the server closed {f['slow_closed_by_server']:,} of "
                  f"{f['slow_opened']:,} slow connections; {f['server_log_lines']:,} log lines besides the "
                  "access lines.", ""]
    m = r["memory"]
    lines += [f"Memory: {m['classifications']:,} classifications in one process, RSS {m['rss_after_warmup_mb']} MB "
              f"after warm-up, {m['rss_end_mb']} MB at the end ({m['growth_after_warmup_mb']:+} MB)."]
    if "decisions" in r:
        lines += ["", *decision_log.markdown(r["decisions"], fmt)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="a few seconds: check it all works, time nothing")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where latest.json and latest.md go")
    p.add_argument("--only", choices=["http", "flood"], help="run one part alone (results go to --out)")
    p.add_argument("--full", action="store_true", help="replay 1,000,000 logged decisions (default 100,000)")
    args = p.parse_args(argv)
    s = args.smoke
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}",
        "command": "bench/bench.py --smoke" if s else "make bench",
    }
    if args.only:
        if args.only == "http":
            result["http"] = http(runs=1 if s else 3, seconds=1 if s else 5, workdir=work)
        else:
            result["flood"] = slow_flood(1 if s else 3, 2 if s else 10, 300 if s else 3000, 100 if s else 1000, work)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"only-{args.only}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0
    print("in-process ...", file=sys.stderr)
    result["in_process"] = in_process(runs=1 if s else 5, rounds=2 if s else 60)
    print("HTTP ...", file=sys.stderr)
    result["http"] = http(runs=1 if s else 3, seconds=1 if s else 5, workdir=work)
    print("batch and timeline ...", file=sys.stderr)
    result["batch_timeline"] = batch_and_timeline(1 if s else 3, work, (10, 50, 100) if s else (100, 1000, 5000),
                                                  200 if s else 10_000)
    print("history sizes ...", file=sys.stderr)
    result["history"] = history_sizes(1 if s else 5, 5 if s else 200, (0, 10, 100) if s else (0, 10, 100, 1000))
    print("slow-client flood ...", file=sys.stderr)
    result["flood"] = slow_flood(1 if s else 3, 2 if s else 10, 300 if s else 3000, 100 if s else 1000, work)
    print("memory ...", file=sys.stderr)
    result["memory"] = memory(2_000 if s else 1_000_000)
    print("decision log ...", file=sys.stderr)
    replayed = 2_000 if s else 1_000_000 if args.full else 100_000
    result["decisions"] = {
        "throughput": decision_log.throughput(1 if s else 5, 1 if s else 5, work, work / "body.json", wrk, stats),
        "replay": decision_log.replay_time(replayed, work, requests_()),
    }
    print("month ...", file=sys.stderr)
    import month

    result["month"] = month.month_bench(s, work)
    print("national store ...", file=sys.stderr)
    import national_store

    result["national"] = national_store.national_bench(s, stats)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    text = (markdown(result) + "\n" + month.markdown(result["month"]) + "\n"
            + "\n".join(national_store.markdown(result["national"], fmt)))
    (out / "latest.md").write_text(text)
    if out.resolve() == (ROOT / "bench" / "results").resolve():
        publish(text, ROOT / "docs" / "performance.md")
    print(text)
    return 0


BLOCK_START = "<!-- bench/results/latest.md: written by bench/bench.py; do not edit by hand -->\n"
BLOCK_END = "<!-- end bench/results/latest.md -->"


def publish(text: str, page: Path) -> None:
    """Copy the latest run into the performance page, between its markers (docs/performance.md §2)."""
    doc = page.read_text()
    head, rest = doc.split(BLOCK_START, 1)
    page.write_text(head + BLOCK_START + text + rest[rest.index(BLOCK_END):])


if __name__ == "__main__":
    sys.exit(main())
