"""The month at scale (docs/month.md, issue 14 part 8): a simulated region from extract to delivery and audit.

Side by side on the same contacts:
- `bup-classifier month` (every core: patients are independent, one Classifier per process),
  wall time and the peak RSS of its whole process tree, at two sizes (linear growth?), on the
  CSV extract and on the same rows as Parquet (zstd; read in row-group batches);
- one in-process loop on one core: each patient's timeline through Classifier.classify_timeline
  (a sample of patients, extrapolated to all contacts);
- one HTTP request per contact (/v1/classify with its derived history, one uvicorn worker,
  one connection): a sample of contacts, extrapolated.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from classifier import Classifier
from classifier.classify import TimelineFold, history_contact
from classifier.models import ClassifyRequest, TimelineContact
from classifier.month import simulate
from classifier.month.extract import to_row
from tests.server import running_server

ROOT = Path(__file__).resolve().parent.parent
CONTACTS_PER_PATIENT = 8.7  # what the simulator gives (measured and reported below)


def _tree_pss(pid: int) -> int:
    """Memory of a process and all its descendants, from /proc (Linux): the sum of their PSS.

    PSS counts a page shared by n processes as 1/n in each, so forked workers that share
    the parent's pages are not counted twice (a plain RSS sum would). The tree is walked by
    its children lists: scanning every process's stat took 10 ms of CPU per sample, about 9 %
    of a core at 10 samples a second, taken from the run it measures.
    """
    tree, todo = set(), [pid]
    while todo:  # each thread's children (/proc/PID/task/TID/children): no scan of every process
        q = todo.pop()
        tree.add(q)
        for task in Path(f"/proc/{q}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    total = 0
    for q in tree:
        try:
            for line in Path(f"/proc/{q}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def run_month(extract: Path, out: Path, first: str, last: str, sample: bool = True) -> dict[str, float]:
    """The month command as a user runs it; wall time, and with `sample` the peak PSS of the process tree
    (read from /proc every 0.1 s; each reading costs ~7 ms of CPU, ~6 % of a core, so time is reported
    from a run without it: month_bench runs the command twice)."""
    cmd = [str(Path(sys.executable).parent / "bup-classifier"), "month", "--extract", str(extract), "--month", first,
           "--to", last, "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        if sample:
            peak = max(peak, _tree_pss(proc.pid))
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.read()[-2000:])
    return {"seconds": seconds, "peak_pss_mb": round(peak / 2**20, 1)}


def timelines(extract: Path, clf: Classifier) -> dict[str, list[Any]]:
    """Each patient's readable events (models), date order then extract order."""
    by: dict[str, list[Any]] = defaultdict(list)
    with extract.open(encoding="utf-8") as f:
        for i, rec in enumerate(csv.DictReader(f), 1):
            row = to_row({k: (v or None) for k, v in rec.items()} | {"_row": i, "_file": 0}, clf.ruleset, ["x"])
            if hasattr(row, "event"):
                by[row.patient_ref].append(row)
    out = {}
    for p, rows in by.items():
        seen, events = set(), []
        for r in sorted(rows, key=lambda r: (r.event.date, r.row)):
            if r.event_id not in seen:
                seen.add(r.event_id)
                events.append(r.event)
        out[p] = events
    return out


def in_process_loop(tls: dict[str, list[Any]], clf: Classifier, patients: int) -> dict[str, float]:
    """One core: classify_timeline per patient (payload dicts, validation included) for a sample of patients."""
    sample = random.Random(1).sample(sorted(tls), min(patients, len(tls)))
    payloads = [{"events": [e.model_dump(mode="json", exclude_none=True) for e in tls[p]]} for p in sample]
    contacts, start = 0, time.perf_counter()
    for body in payloads:
        try:
            contacts += len(clf.classify_timeline(body)["results"])
        except Exception:  # a patient the month layer also rejects a row of
            continue
    return {"contacts": contacts, "seconds": time.perf_counter() - start}


def single_requests(tls: dict[str, list[Any]], clf: Classifier, n: int) -> list[dict[str, Any]]:
    """n contacts as /v1/classify requests with their derived history (what a per-contact integration sends)."""
    out: list[dict[str, Any]] = []
    for p in random.Random(2).sample(sorted(tls), len(tls)):
        fold, history = TimelineFold(clf), []
        for ev in tls[p]:
            try:
                step = fold.add(ev)
            except Exception:
                continue
            if isinstance(ev, TimelineContact):
                req = ClassifyRequest(contact=step.contact, care_request=step.care_request, history=list(history))
                out.append(req.model_dump(mode="json", exclude_none=True))
                history.append(history_contact(step.contact, step.result["contact_type"]))
            elif ev.type in ("investigation_concluded", "treatment_concluded", "care_closed"):
                history.append(ev)
            if len(out) >= n:
                return out
    return out


def http_per_contact(bodies: list[dict[str, Any]], workdir: Path) -> dict[str, float]:
    with running_server(workdir / "month-http.log") as base, httpx.Client(base_url=base) as client:
        for b in bodies[:50]:
            client.post("/v1/classify", json=b)
        start = time.perf_counter()
        for b in bodies:
            r = client.post("/v1/classify", json=b)
            if r.status_code != 200:
                raise RuntimeError(r.text[:500])
        return {"contacts": len(bodies), "seconds": time.perf_counter() - start}


def _audit_totals(out: Path) -> dict[str, Any]:
    """What the audit counted (its rejected rows name their file, which differs between the two runs)."""
    return json.loads((out / "audit.json").read_text(encoding="utf-8"))["totals"]


def month_bench(smoke: bool, work: Path) -> dict[str, Any]:
    sizes = (200, 1_000) if smoke else (11_500, 115_000)
    clf = Classifier()
    result: dict[str, Any] = {"sizes": []}
    for patients in sizes:
        d = work / f"region-{patients}"
        rows, key = simulate.simulate(patients, 42)
        extract = simulate.write(rows, key, d)
        contacts = sum(1 for r in rows if r["event_type"] == "contact")
        days = sorted(r["date"] for r in rows if r["date"][8:] <= "31")
        del rows
        threading.Event().wait(1)  # let the machine settle after writing
        timed = run_month(extract, d / "out", days[0][:7], days[-1][:7], sample=False)
        sampled = run_month(extract, d / "out", days[0][:7], days[-1][:7])
        m = {"seconds": timed["seconds"], "peak_pss_mb": sampled["peak_pss_mb"],
             "seconds_while_sampling_memory": sampled["seconds"]}
        result["sizes"].append({"patients": patients, "rows": sum(1 for _ in extract.open()) - 1,
                                "contacts": contacts, **m, "contacts_per_s": contacts / m["seconds"]})
        parquet = simulate.write(list(csv.DictReader(extract.open(encoding="utf-8"))), key, d, "parquet")
        threading.Event().wait(1)
        timed = run_month(parquet, d / "out-parquet", days[0][:7], days[-1][:7], sample=False)
        sampled = run_month(parquet, d / "out-parquet", days[0][:7], days[-1][:7])
        result["sizes"][-1]["parquet"] = {"seconds": timed["seconds"], "peak_pss_mb": sampled["peak_pss_mb"],
                                          "contacts_per_s": contacts / timed["seconds"],
                                          "same_totals": _audit_totals(d / "out") == _audit_totals(d / "out-parquet")}
    big = result["sizes"][-1]
    small = result["sizes"][0]
    result["growth"] = {"contacts_ratio": big["contacts"] / small["contacts"],
                        "time_ratio": big["seconds"] / small["seconds"]}
    tls = timelines(work / f"region-{sizes[-1]}" / "extract.csv", clf)
    loop = in_process_loop(tls, clf, 300 if smoke else 10_000)
    loop["contacts_per_s"] = loop["contacts"] / loop["seconds"]
    loop["extrapolated_seconds"] = big["contacts"] / loop["contacts_per_s"]
    result["in_process_one_core"] = loop
    bodies = single_requests(tls, clf, 200 if smoke else 3_000)
    h = http_per_contact(bodies, work)
    h["contacts_per_s"] = h["contacts"] / h["seconds"]
    h["extrapolated_seconds"] = big["contacts"] / h["contacts_per_s"]
    result["http_per_contact"] = h
    result["ratios"] = {"month_over_loop": big["contacts_per_s"] / loop["contacts_per_s"],
                        "month_over_http": big["contacts_per_s"] / h["contacts_per_s"]}
    return result


def markdown(r: dict[str, Any]) -> str:
    lines = ["| the month (simulated region) | patients | rows | contacts | seconds | contacts/s | peak PSS MB |",
             "|---|---|---|---|---|---|---|"]
    for s in r["sizes"]:
        lines.append(f"| `bup-classifier month`, every core, CSV | {s['patients']:,} | {s['rows']:,} | "
                     f"{s['contacts']:,} | {s['seconds']:.1f} | {s['contacts_per_s']:,.0f} | {s['peak_pss_mb']:,.0f} |")
        q = s["parquet"]
        differ = "" if q["same_totals"] else " (totals differ!)"
        lines.append(f"| `bup-classifier month`, every core, Parquet{differ} | "
                     f"{s['patients']:,} | {s['rows']:,} | {s['contacts']:,} | {q['seconds']:.1f} | "
                     f"{q['contacts_per_s']:,.0f} | {q['peak_pss_mb']:,.0f} |")
    big = r["sizes"][-1]
    loop, h = r["in_process_one_core"], r["http_per_contact"]
    lines.append(f"| in-process loop, one core (sample of {loop['contacts']:,} contacts, extrapolated) | | | "
                 f"{big['contacts']:,} | {loop['extrapolated_seconds']:.1f} | {loop['contacts_per_s']:,.0f} | |")
    lines.append(f"| one HTTP request per contact (sample of {h['contacts']:,}, extrapolated) | | | "
                 f"{big['contacts']:,} | {h['extrapolated_seconds']:.1f} | {h['contacts_per_s']:,.0f} | |")
    g = r["growth"]
    lines += ["", "Seconds are from a run of its own; the peak PSS from a second run that reads /proc every 0.1 s "
              "(which took " + ", ".join(f"{s['seconds_while_sampling_memory']:.1f} s" for s in r["sizes"]) + ")."]
    lines += ["", f"Growth: {g['contacts_ratio']:.1f}× the contacts took {g['time_ratio']:.1f}× the time. "
              f"The month is {r['ratios']['month_over_loop']:.2f}× the one-core loop and "
              f"{r['ratios']['month_over_http']:.1f}× the per-contact HTTP path."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import tempfile

    res = month_bench("--smoke" in sys.argv, Path(tempfile.mkdtemp(prefix="bench-month-")))
    print(json.dumps(res, indent=1))
    print(markdown(res))
