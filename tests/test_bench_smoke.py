"""The benchmarks still run (a few seconds, `bench/bench.py --smoke`); nothing about time is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_smoke_runs_every_section(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench.py"), "--smoke", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    assert {"in_process", "http", "batch_timeline", "history", "memory", "decisions", "month",
            "national"} <= set(result)
    assert set(result["decisions"]["throughput"]["rps"]) == {"off", "sqlite", "postgresql"}
    assert [s["patients"] for s in result["month"]["sizes"]] == [200, 1_000]
    assert all(s["contacts"] > 0 and s["peak_pss_mb"] > 0 for s in result["month"]["sizes"])
    assert set(result["http"]) == {"1_worker", "2_workers"}
    assert result["national"]["duckdb"]["assess_s"]["runs"] == 1 and result["national"]["rows"] > 0
    assert "the national store" in (tmp_path / "latest.md").read_text()
    assert (tmp_path / "latest.md").read_text().startswith("Run ")
