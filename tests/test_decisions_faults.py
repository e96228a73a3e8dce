"""Faults under load against a real server (2 workers, loopback only, bounded in count and time):
kill -9 of a worker or of its decision-log writer, the database going away and coming back, a database
that stalls (accepts and never answers), SIGTERM during load.
Afterwards every 200 answer's decision_id is in the log exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from classifier.decisions import store
from classifier.decisions.writer import RESTART_EVERY_S
from tests.server import server_process

REQUEST = {"contact": {"id": "c-1", "date": "2026-02-26", "setting": "bup", "activity": "assessment",
                       "health_problem": "F41"}, "care_request": {"received_date": "2026-02-02", "pathway": "A"}}
MAX_PER_THREAD = 4000  # a bound, not a target: the tests stop the load; MAX_SECONDS bounds it in time
MAX_SECONDS = 20.0


@contextmanager
def serve(url: str, log_path: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real two-worker server with the decision log at `url` (tests/server.py starts and stops it)."""
    with server_process(log_path, 2, ["--decision-log", url, *extra]) as (base, proc):
        yield proc, base


def workers(pid: int) -> list[int]:
    """The uvicorn worker processes of the server `pid` (not multiprocessing's helpers)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="ignore")]


class Load:
    """Four client threads posting /v1/classify until stopped or bounded; 200 answers' ids collected."""

    def __init__(self, base: str):
        self.base, self.ids, self.statuses = base, [], {}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(4)]

    def _run(self) -> None:
        end = time.monotonic() + MAX_SECONDS
        with httpx.Client(timeout=15) as client:
            for _ in range(MAX_PER_THREAD):
                if self.stop.is_set() or time.monotonic() > end:
                    return
                try:
                    r = client.post(f"{self.base}/v1/classify", json=REQUEST)
                except httpx.TransportError:
                    with self.lock:
                        self.statuses["transport"] = self.statuses.get("transport", 0) + 1
                    time.sleep(0.05)
                    continue
                with self.lock:
                    self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                    if r.status_code == 200:
                        assert r.json()["decision_id"] == r.headers["x-decision-id"]
                        self.ids.append(r.headers["x-decision-id"])

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def until(self, n: int, status: int | None = None) -> None:
        """Wait (bounded) until n answers came back (n with this status, when one is given)."""
        deadline = time.monotonic() + MAX_SECONDS
        while ((self.statuses.get(status, 0) if status else sum(self.statuses.values())) < n
               and time.monotonic() < deadline):
            time.sleep(0.02)


def assert_all_logged_once(url: str, ids: list[str], wait_s: float = 30.0) -> None:
    assert ids, "the load got no answer at all"
    assert len(set(ids)) == len(ids)
    engine = store.engine_for(url)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT decision_id FROM decisions")).scalars().all()
                contacts = conn.execute(sa.text(
                    "SELECT decision_id, count(*) FROM decision_contacts GROUP BY decision_id")).all()
            logged = set(rows)
            if set(ids) <= logged or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    assert len(rows) == len(logged)  # no decision twice
    assert set(ids) - logged == set(), f"{len(set(ids) - logged)} answered decision(s) missing from the log"
    assert all(n == 1 for _, n in contacts)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'decisions.db'}"
    return _emptied(request.getfixturevalue("postgres").url)


def _emptied(url: str) -> str:
    """The shared test database, migrated and without decisions."""
    engine = store.engine_for(url)
    store.migrate(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM decision_contacts"))
        conn.execute(sa.text("DELETE FROM decisions"))
    engine.dispose()
    return url


def _during_load(url: str, tmp_path: Path, fault: Callable[[subprocess.Popen[bytes]], None], *extra: str) -> Load:
    with serve(url, tmp_path / "server.log", *extra) as (proc, base), Load(base) as load:
        load.until(100)
        fault(proc)
        load.until(sum(load.statuses.values()) + 200)
    return load


def test_kill_9_of_a_worker(url: str, tmp_path: Path) -> None:
    def kill(proc: subprocess.Popen[bytes]) -> None:
        os.kill(workers(proc.pid)[0], signal.SIGKILL)

    load = _during_load(url, tmp_path, kill)
    assert load.statuses.get(200, 0) > 200
    assert_all_logged_once(url, load.ids)


def writers(pid: int) -> list[int]:
    """The decision-log writer processes of the server `pid` (one beside each worker)."""
    out = []
    for worker in workers(pid):
        ps = subprocess.run(["ps", "-o", "pid=", "--ppid", str(worker)], capture_output=True, text=True).stdout
        out += [int(p) for p in ps.split()
                if "classifier.decisions.writer" in Path(f"/proc/{p}/cmdline").read_text(errors="ignore")]
    return out


def test_kill_9_of_writers_with_writes_in_flight(url: str, tmp_path: Path) -> None:
    """The writers stopped while requests wait for them (a worker does not wait for one write's
    acknowledgement before the next, so several may be in flight), then killed: the waiting requests
    get 503, new writers take over, and every 200 answer is in the log once. (The writers are killed
    once they have run for RESTART_EVERY_S, so their successors start at once; until then every request
    would get a quick 503 and use up the load's bounded number of requests.)"""
    with serve(url, tmp_path / "server.log") as (proc, base), Load(base) as load:
        load.until(100)
        time.sleep(RESTART_EVERY_S)
        pids = writers(proc.pid)
        assert len(pids) == 2, pids
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(0.3)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        answered = load.statuses.get(200, 0)
        load.until(answered + 100, status=200)
    assert set(load.statuses) <= {200, 503}, load.statuses
    assert load.statuses.get(503, 0) > 0, load.statuses  # those waiting for a dead writer: refused
    assert load.statuses.get(200, 0) >= answered + 100, load.statuses  # new writers took over
    assert_all_logged_once(url, load.ids)


def test_sigterm_during_load(url: str, tmp_path: Path) -> None:
    load = _during_load(url, tmp_path, lambda proc: (proc.send_signal(signal.SIGTERM), proc.wait(60)))
    assert load.statuses.get(200, 0) >= 100
    assert_all_logged_once(url, load.ids)


@pytest.mark.parametrize("spool", [False, True], ids=["503", "spool"])
def test_database_goes_away_and_comes_back(postgres: Any, tmp_path: Path, spool: bool) -> None:
    url = postgres.url
    engine = store.engine_for(url)
    store.migrate(engine)
    engine.dispose()
    extra = ("--decision-log-spool", str(tmp_path / "spool")) if spool else ()

    def outage(_proc: subprocess.Popen[bytes]) -> None:
        postgres.stop("immediate")
        time.sleep(2)
        postgres.start()

    load = _during_load(url, tmp_path, outage, *extra)
    if spool:
        assert set(load.statuses) <= {200}, load.statuses  # kept answering through the outage
    else:
        assert load.statuses.get(503, 0) > 0, load.statuses  # refused rather than answer unrecorded
    assert_all_logged_once(url, load.ids)
    assert not list((tmp_path / "spool").glob("*.jsonl"))


def _stalled(request: pytest.FixtureRequest, tmp_path: Path, db: str) -> tuple[str, str, Callable[[], None],
                                                                                   Callable[[], None]]:
    """The service's URL for a database that can be made to stall, the database's own URL, stall and resume.
    PostgreSQL behind a proxy that accepts and forwards nothing (tests/postgres.py); SQLite locked by
    another connection (`BEGIN EXCLUSIVE`), which is how a file database stalls a writer."""
    if db == "postgresql":
        from tests.postgres import StallingProxy

        pg = request.getfixturevalue("postgres")
        proxy = StallingProxy(pg.port)
        request.addfinalizer(proxy.close)
        return proxy.url(pg), _emptied(pg.url), proxy.stall, proxy.resume
    direct = f"sqlite:///{tmp_path / 'decisions.db'}"
    store.migrate(store.engine_for(direct))
    locker = sqlite3.connect(tmp_path / "decisions.db", isolation_level=None, check_same_thread=False)
    request.addfinalizer(locker.close)
    return direct, direct, lambda: locker.execute("BEGIN EXCLUSIVE"), lambda: locker.execute("ROLLBACK")


@pytest.mark.parametrize("spool", [False, True], ids=["503", "spool"])
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_stalled_database_is_a_503_or_the_spool_within_the_bound(request: pytest.FixtureRequest, tmp_path: Path,
                                                                     db: str, spool: bool) -> None:
    """A database that accepts and never answers: every request is answered within the default bound
    (5 s) — 503, or 200 from the spool — instead of waiting 30 s; once it answers again, answers are
    recorded again, and every 200 answer is in the log once."""
    url, direct, stall, resume = _stalled(request, tmp_path, db)
    extra = ("--decision-log-spool", str(tmp_path / "spool")) if spool else ()
    ids: list[str] = []
    outcomes: list[tuple[int, float]] = []

    def post(client: httpx.Client) -> None:
        start = time.monotonic()
        r = client.post("/v1/classify", json=REQUEST)
        outcomes.append((r.status_code, time.monotonic() - start))
        if r.status_code == 200:
            ids.append(r.headers["x-decision-id"])

    with serve(url, tmp_path / "server.log", *extra) as (_proc, base), httpx.Client(base_url=base, timeout=60) as c:
        for _ in range(6):
            post(c)
        assert {s for s, _ in outcomes} == {200}
        outcomes.clear()
        stall()
        try:
            threads = [threading.Thread(target=post, args=(httpx.Client(base_url=base, timeout=60),))
                       for _ in range(8)]
            for t in threads:
                t.start()
                time.sleep(0.1)
            for t in threads:
                t.join(60)
        finally:
            resume()
        stalled = list(outcomes)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # recorded again once the database answers
            post(c)
            if outcomes[-1][0] == 200:
                break
            time.sleep(0.2)
    assert len(stalled) == 8 and max(t for _, t in stalled) < 5 + 1, stalled  # the bound, with room for scheduling
    assert {s for s, _ in stalled} == ({200} if spool else {503}), stalled
    assert outcomes[-1][0] == 200, outcomes[-3:]
    assert_all_logged_once(direct, ids)
    assert not list((tmp_path / "spool").glob("*.jsonl"))


def _aged(url: str, days: list[int]) -> list[str]:
    """Decisions recorded `days` ago each (written straight into the log), their ids in that order."""
    import datetime as dt

    from classifier import Classifier
    from classifier.decisions.writer import Pending, entry, new_id

    answer = Classifier().classify(REQUEST)
    now = dt.datetime.now(dt.UTC)
    pending = [Pending(new_id(), now - dt.timedelta(days=d), "t", "classify", REQUEST, answer) for d in days]
    engine = store.engine_for(url)
    store.migrate(engine)
    with engine.begin() as conn:
        store.write(conn, [entry(p, True, lambda _v: "in_force") for p in pending])
    engine.dispose()
    return [p.decision_id for p in pending]


def test_the_retention_purge_deletes_in_bounded_batches(tmp_path: Path) -> None:
    """Each DELETE takes at most `batch` decisions (a transaction of its own), oldest first."""
    import datetime as dt

    url = f"sqlite:///{tmp_path / 'd.db'}"
    old, new = _aged(url, [900, 800, 700, 600, 500]), _aged(url, [10])
    engine = store.engine_for(url)
    deletes: list[int] = []

    @sa.event.listens_for(engine, "after_cursor_execute")
    def count(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("DELETE FROM decisions "):
            deletes.append(cursor.rowcount)

    assert store.purge(engine, dt.datetime.now(dt.UTC) - dt.timedelta(days=365), batch=2) == 5
    with engine.connect() as conn:
        assert store.ids(conn) == new
    engine.dispose()
    assert deletes == [2, 2, 1] and len(old) == 5


def test_the_retention_purge_runs_once_per_service_in_its_main_process(tmp_path: Path) -> None:
    """Two workers, one purge: in the service's main process, not in each worker's writer (whose commits
    it would hold back)."""
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    _aged(url, [900, 800])
    kept = _aged(url, [1])
    log = tmp_path / "server.log"
    with serve(url, log, "--decision-log-retention-days", "365") as (proc, base):
        assert httpx.post(f"{base}/v1/classify", json=REQUEST, timeout=30).status_code == 200
        deadline = time.monotonic() + 20
        while "decisions_purged" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        main_pid = proc.pid
    purges = [line for line in log.read_text().splitlines() if "decisions_purged" in line]
    assert len(purges) == 1 and f'"pid":{main_pid},' in purges[0] and '"purged":2' in purges[0], purges
    engine = store.engine_for(url)
    with engine.connect() as conn:
        assert kept[0] in store.ids(conn) and len(store.ids(conn)) == 2  # the young one and the one just answered
    engine.dispose()
