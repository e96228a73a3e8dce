"""A real uvicorn process for tests that must cross a socket (not only FastAPI's TestClient)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server_process(
    log_path: Path, workers: int = 1, args: Sequence[str] = (), exe: Path | None = None, cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `bup-classifier serve` (this venv's, or `exe`) on a free loopback port; yield its URL and process."""
    port = free_port()
    exe = exe or Path(sys.executable).parent / "bup-classifier"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *args],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.1)
            yield base, proc
        finally:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def running_server(log_path: Path, workers: int = 1, args: Sequence[str] = (), exe: Path | None = None,
                   cwd: Path = ROOT, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `bup-classifier serve` on a free loopback port; yield its base URL; stop it."""
    with server_process(log_path, workers, args, exe, cwd, env) as (base, _):
        yield base
