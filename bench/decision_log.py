"""Decision-log benchmarks for bench.py: throughput with the log off, on SQLite and on
PostgreSQL (one worker each, run by run side by side, ratio to off), and the time to
replay logged decisions under a candidate rule set (`bup-classifier impact --from-log`)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from classifier import Classifier
from classifier.decisions import replay, store
from classifier.decisions.writer import Pending, entry, new_id
from classifier.ruleset import DEFAULT_RULES_DIR
from tests.postgres import postgres_server
from tests.server import cpu_seconds, server_process


@contextmanager
def _env(**values: str | None) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _cpu_s(pid: int, postmaster: int | None) -> tuple[float, float, float]:
    """CPU seconds of the worker `pid`, of its children (the writer), and of the PostgreSQL server
    (`postmaster` and its processes: the writer's backend, WAL writer, checkpointer; 0 without one)."""
    pg = 0.0 if postmaster is None else cpu_seconds(postmaster) + sum(map(cpu_seconds, _children(postmaster)))
    return cpu_seconds(pid), sum(map(cpu_seconds, _children(pid))), pg


MANY = 64


def throughput(runs: int, seconds: float, workdir: Path, body: Path, wrk: Any, stats: Any) -> dict[str, Any]:
    """req/s of /v1/classify at one worker: log off, SQLite, PostgreSQL; each run measures all three.
    Also the CPU time per request of the worker and of its writer process (less noisy than req/s on a
    shared machine; the PostgreSQL server's own CPU is not in it)."""
    out: dict[str, Any] = {}
    with ExitStack() as stack:
        pg = stack.enter_context(postgres_server())
        urls = {"off": None, "sqlite": f"sqlite:///{workdir / 'bench-decisions.db'}", "postgresql": pg.url}
        servers = {}
        for name, url in urls.items():
            with _env(BUP_DECISION_LOG=url, BUP_BENCH_BARE=None):
                servers[name] = stack.enter_context(server_process(workdir / f"server-log-{name}.log", workers=1))
        for base, _ in servers.values():
            wrk(f"{base}/v1/classify", body, 1, 8)  # warm up
        rps: dict[str, list[float]] = {n: [] for n in urls}
        p99: dict[str, list[float]] = {n: [] for n in urls}
        worker_ms: dict[str, list[float]] = {n: [] for n in urls}
        writer_ms: dict[str, list[float]] = {n: [] for n in urls}
        pg_ms: list[float] = []
        postmaster = int(Path(pg.datadir, "postmaster.pid").read_text().split()[0])
        ratios: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
        many: dict[str, list[float]] = {n: [] for n in urls}  # req/s with MANY connections in flight
        many_ratios: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
        many_cpu: dict[str, list[list[float]]] = {n: [] for n in urls}  # worker, writer, PostgreSQL ms/request
        busy: dict[str, list[float]] = {n: [] for n in urls}  # the worker's CPU seconds per second (1 = never idle)
        for _ in range(runs):
            run = {}
            for name, (base, proc) in servers.items():  # interleaved, so drift hits all alike
                server = postmaster if name == "postgresql" else None
                before = _cpu_s(proc.pid, server)
                r = wrk(f"{base}/v1/classify", body, seconds, 16)
                after = _cpu_s(proc.pid, server)
                assert r["errors"] == 0, (name, r)
                run[name] = r["rps"]
                rps[name].append(r["rps"])
                p99[name].append(r["p99_us"] / 1000)
                worker_ms[name].append((after[0] - before[0]) * 1000 / r["requests"])
                writer_ms[name].append((after[1] - before[1]) * 1000 / r["requests"])
                if server is not None:
                    pg_ms.append((after[2] - before[2]) * 1000 / r["requests"])
            for name in ratios:
                ratios[name].append(run[name] / run["off"])
            # Each of wrk's closed-loop connections waits for its own commit: with 16 the commit's
            # latency caps req/s. With more in flight the same server shows its capacity.
            run = {}
            for name, (base, proc) in servers.items():
                server = postmaster if name == "postgresql" else None
                before, start = _cpu_s(proc.pid, server), time.monotonic()
                r = wrk(f"{base}/v1/classify", body, seconds, MANY)
                after, wall = _cpu_s(proc.pid, server), time.monotonic() - start
                assert r["errors"] == 0, (name, r)
                run[name] = r["rps"]
                many[name].append(r["rps"])
                many_cpu[name].append([(a - b) * 1000 / r["requests"] for a, b in zip(after, before, strict=True)])
                busy[name].append((after[0] - before[0]) / wall)
            for name in many_ratios:
                many_ratios[name].append(run[name] / run["off"])
        out = {"many_connections": MANY, "rps_many": {n: stats(v) for n, v in many.items()},
               "ratio_to_off_many": {n: stats(v) for n, v in many_ratios.items()},
               "worker_busy_many": {n: stats(v) for n, v in busy.items()},
               "rps": {n: stats(v) for n, v in rps.items()}, "p99_ms": {n: stats(v) for n, v in p99.items()},
               "ratio_to_off": {n: stats(v) for n, v in ratios.items()},
               "cpu_ms_per_request": {n: {"worker": stats(worker_ms[n]), "writer": stats(writer_ms[n])} for n in urls},
               "postgresql_server_cpu_ms_per_request": stats(pg_ms),
               "cpu_ms_per_request_many": {n: {part: stats([c[i] for c in many_cpu[n]]) for i, part in
                                               enumerate(("worker", "writer", "postgresql"))} for n in urls}}
    return out


def replay_time(n: int, workdir: Path, requests: list[dict[str, Any]]) -> dict[str, Any]:
    """Fill a SQLite log with n decisions (the example requests, repeated) and time their replay
    under a candidate rule set (a copy of rules/ with a 20-day limit), as `impact --from-log` does."""
    clf = Classifier()
    url = f"sqlite:///{workdir / 'bench-replay.db'}"
    engine = store.engine_for(url)
    store.migrate(engine)
    answers = [clf.classify(r) for r in requests]
    now = dt.datetime.now(dt.UTC)
    for start in range(0, n, 5000):
        entries = []
        for i in range(start, min(n, start + 5000)):
            j = i % len(requests)
            p = Pending(new_id(), now, "bench", "classify", requests[j], answers[j])
            entries.append(entry(p, True, lambda _v: "provisional"))
        with engine.begin() as conn:
            store.write(conn, entries)
    engine.dispose()
    cand = workdir / "candidate"
    shutil.rmtree(cand, ignore_errors=True)
    shutil.copytree(DEFAULT_RULES_DIR, cand)
    y = cand / "ruleset.yaml"
    y.write_text(y.read_text().replace("limit_days: 30", "limit_days: 20"))
    candidate = Classifier(cand)
    start = time.perf_counter()
    result = replay.impact(replay.from_log(url), candidate, None, "as logged", "candidate").result()
    seconds = time.perf_counter() - start
    assert result["cases"] == n, result["cases"]
    return {"decisions": n, "seconds": seconds, "per_s": n / seconds,
            "changed_contacts": result["changed_contacts"],
            "extrapolated_1m_seconds": seconds * 1_000_000 / n, "db_mb": round(
                (workdir / "bench-replay.db").stat().st_size / 2**20, 1)}


def markdown(r: dict[str, Any], fmt: Any) -> list[str]:
    """Two tables: at saturation (MANY connections, the headline: capacity) and at 16 connections (each
    closed-loop connection waits for its own commit, so req/s there is bound by latency)."""
    t, rp = r["throughput"], r["replay"]
    lines = []
    for label, rps, ratios, cpu, pg, busy in (
            (f"{t['many_connections']} connections (saturation)", t["rps_many"], t["ratio_to_off_many"],
             t["cpu_ms_per_request_many"], None, t["worker_busy_many"]),
            ("16 connections (latency-bound)", t["rps"], t["ratio_to_off"], t["cpu_ms_per_request"],
             t["postgresql_server_cpu_ms_per_request"], None)):
        lines += [f"| decision log, 1 worker, wrk {label} | /v1/classify req/s | ratio to off "
                  "| CPU ms per request: worker | writer process | PostgreSQL server |"
                  + (" worker busy |" if busy else ""), "|---|---|---|---|---|---|" + ("---|" if busy else "")]
        for name in ("off", "sqlite", "postgresql"):
            ratio = fmt(ratios[name], 2) if name in ratios else "1"
            server = cpu[name].get("postgresql", pg) if name == "postgresql" else None
            lines.append(f"| {name} | {fmt(rps[name])} | {ratio} | {fmt(cpu[name]['worker'], 3)} | "
                         f"{fmt(cpu[name]['writer'], 3)} | {fmt(server, 3) if server else '–'} |"
                         + (f" {fmt(busy[name], 2)} |" if busy else ""))
        lines.append("")
    lines.append("p99 ms at 16 connections: " + ", ".join(f"{n} {fmt(t['p99_ms'][n], 2)}" for n in t["p99_ms"]) + ".")
    lines += ["", f"Replay of {rp['decisions']:,} logged decisions (SQLite, {rp['db_mb']} MB) under a candidate "
              f"rule set: {rp['seconds']:.1f} s ({rp['per_s']:,.0f}/s, {rp['changed_contacts']:,} changed)"
              + ("" if rp["decisions"] >= 1_000_000 else
                 f"; 1,000,000 extrapolated linearly: {rp['extrapolated_1m_seconds']:.0f} s (`--full` measures it)")
              + ".", ""]
    return lines
