"""Extract files -> buckets of patients -> folded in parallel -> audit and files."""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import multiprocessing.pool
import os
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from classifier.month import audit as audit_mod
from classifier.month import outputs
from classifier.month.extract import ExtractError, kind_of, partition, read_table
from classifier.month.fold import BucketResult, fold_rows
from classifier.reporting import figures
from classifier.rulesets import RuleSets, default_rulesets

ROWS_PER_BUCKET = 20_000  # a bucket is folded in memory (about 20 MB of rows); more, smaller buckets
# leave less of the last one to a single worker


def fold_bucket(args: tuple[Path, list[str], list[str], bool, set[tuple[int, int]]]) -> BucketResult:
    """Pool worker: one bucket of whole patients, folded with this process's own Classifier.

    Its delivery rows are spilled beside the bucket (when files are wanted) so
    only counts and the exceptions travel back to the parent.
    """
    path, months, names, spill, duplicates = args
    collecting = gc.isenabled()
    gc.disable()  # see _worker_start: a bucket's fold makes no garbage the collector is needed for
    try:
        res = fold_rows(read_table(path), months, names, leave_out=duplicates)
    finally:
        if collecting:
            gc.enable()
    for kind in ("completed", "waiting"):
        records = getattr(res, kind)
        if spill:
            res.delivery_parts[kind].append(outputs.spill(kind, records, path.with_suffix(f".{kind}.arrow")))
        records.clear()
    return res


def _rows_about(path: str | Path) -> int:
    """About how many rows an extract holds: a Parquet file says it in its footer (its bytes, compressed,
    said a seventh of it: the 1M-contact region went into 13 buckets of 115,000 rows, not 83); the other
    formats are counted at ~120 bytes a row (a JSON line is longer: more buckets, never fewer)."""
    try:
        if kind_of(path) == "parquet":
            return pq.ParquetFile(os.fspath(path)).metadata.num_rows
    except (ExtractError, pa.ArrowException, OSError):
        pass  # the partition pass says what is wrong with the file
    return Path(path).stat().st_size // 120


def buckets_for(paths: list[str | Path], workers: int) -> int:
    """How many buckets of whole patients to partition into: about ROWS_PER_BUCKET rows each, and at
    least four per worker so the last leaves little to one worker."""
    rows = sum(_rows_about(p) for p in paths)
    return max(workers * 4, min(4096, rows // ROWS_PER_BUCKET + 1))


def _worker_start() -> None:
    """A fold worker allocates millions of short-lived objects that reference counting frees, while
    the bucket's rows stay alive: the cyclic collector's frequent young passes walked them and found
    nothing to free (measured: the fold 79 -> 66 µs per contact without them). They run less often
    here, and what was loaded before the fork is never traversed again. While a bucket is folded they do not
    run at all (fold_bucket; measured: another 4 % of the fold): its objects are freed by reference counting
    when it is done, and what is left in cycles waits for the next pass."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def fold_pool(workers: int) -> multiprocessing.pool.Pool:
    """The processes that fold buckets (forked, so they share the rule set loaded before)."""
    return multiprocessing.get_context("fork").Pool(workers, initializer=_worker_start)


def _load() -> RuleSets:
    """The held rule sets, loaded before the fold workers fork so they share them instead of each loading
    them; each contact is classified by the set valid on its date (docs/rulesets.md)."""
    figures.wait_rules()
    return default_rulesets()


def run(extracts: list[str | Path], months: list[str], out: Path | None = None, *, workers: int | None = None,
        shares: dict[str, Decimal] | None = None, extra_counts: list[dict[str, Any]] | None = None,
        publish: bool = False, progress: Callable[[int, int], None] | None = None,
        population: dict[str, int] | None = None) -> dict[str, Any]:
    """The month's audit (audit.json's content); with `out`, every file of docs/month.md §4 written there.

    The extracts may be in any row order and split over several files (e.g. consecutive
    months): rows are partitioned by patient first. `workers` processes fold the buckets
    (default: every core), each with its own Classifier per held rule set (the engine is not thread-safe).
    """
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bup-month-") as tmp:
        buckets = buckets_for(list(extracts), workers)
        if workers == 1:
            part = partition(list(extracts), Path(tmp), int(buckets))
            classifier = _load()
        else:  # in a child that then exits (the memory Arrow and Python keep after a pass is given back),
            # while this process loads the rule set
            with multiprocessing.get_context("fork").Pool(1) as once:
                parted = once.apply_async(partition, (list(extracts), Path(tmp), int(buckets)))
                classifier = _load()
                part = parted.get()
        result = BucketResult(rejected=list(part.rejected))
        for r in part.rejected:
            if r.problems[0][0] == "event_id" and r.event_id:
                result.findings.append({"kind": "duplicate_id", "region": None, "unit": None, "month": None,
                                        "event_ids": [r.event_id], "detail": f"rad {r.row} i {r.file}: "
                                        + r.problems[0][1]})
        jobs = [(f, months, part.names, out is not None, part.duplicates) for f in part.files]
        parallel = workers > 1 and len(jobs) > 1
        with fold_pool(workers) if parallel else contextlib.nullcontext() as pool:
            folded = pool.imap_unordered(fold_bucket, jobs) if pool is not None else map(fold_bucket, jobs)
            for i, r in enumerate(folded):
                result.extend(r)
                if progress:
                    progress(i + 1, len(jobs))
            audit = audit_mod.build(result, months, classifier, shares, extra_counts, publish, population)
            if out is not None:  # with workers, they merge the two delivery files while this process writes the rest
                merges = [pool.apply_async(outputs.write_delivery, (Path(out), kind, result.delivery_parts[kind]))
                          for kind in ("completed", "waiting")] if pool is not None else []
                outputs.write_all(Path(out), audit, result, classifier, delivery=pool is None)
                for m in merges:
                    m.get()
    return audit
