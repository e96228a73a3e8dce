"""RSS of one process over N classifications (default 1,000,000): is memory flat?

Run: .venv/bin/python bench/memory.py [N]. Prints RSS every N/20 classifications and
the growth after warm-up (the first 5 %). Uses the examples' requests in rotation,
validation included (request dict in, answer dict out).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classifier import default_classifier, examples


def rss_mb() -> float:
    """Current resident set size from /proc (ru_maxrss is only the peak)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def main(n: int = 1_000_000) -> dict[str, object]:
    clf = default_classifier()
    reqs = [e.request for e in examples.load() if e.request and "error_paths" not in e.expect]
    step = max(n // 20, 1)
    samples = []
    start = time.perf_counter()
    for i in range(n):
        clf.classify(reqs[i % len(reqs)])
        if (i + 1) % step == 0:
            samples.append((i + 1, round(rss_mb(), 1)))
            print(f"{i + 1:>9} classifications  RSS {samples[-1][1]:7.1f} MB", flush=True)
    elapsed = time.perf_counter() - start
    warm = samples[0][1]
    result = {
        "classifications": n,
        "seconds": round(elapsed, 1),
        "per_classification_us": round(elapsed / n * 1e6, 1),
        "rss_after_warmup_mb": warm,
        "rss_end_mb": samples[-1][1],
        "growth_after_warmup_mb": round(samples[-1][1] - warm, 1),
        "max_rss_mb": max(s[1] for s in samples),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
