"""The decision log's writer: group commit off the request path, never an unrecorded answer.

A request hands its answer to `DecisionLog.submit` and awaits the returned future; one
background thread takes every entry queued while the previous commit ran, writes them
in one transaction and resolves their futures. So each answer waits for its own
commit (latency rises by about one commit), while throughput holds: under load one
commit carries many decisions.

When a commit fails the entries are either failed (the endpoint answers 503 and
returns no classification) or, with a spool directory, appended to a local JSON-lines
file and fsynced before their futures resolve; spooled entries are written into the
database once it answers again (idempotently: a decision id already there is skipped).
Either way no answered decision is lost.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from classifier.decisions import store

log = logging.getLogger("bup_classifier")
MAX_BATCH = 1000
PURGE_EVERY_S = 3600.0
_SPOOL_CHUNK = 1000


class LogUnavailable(RuntimeError):
    """The decision could not be recorded (and no spool is configured)."""


_last_ms = 0
_seq = 0
_id_lock = threading.Lock()


def new_id() -> str:
    """A UUIDv7 (RFC 9562): time-ordered, so ids sort by recording time and page by cursor."""
    global _last_ms, _seq
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms, _seq = _last_ms, _seq + 1
            if _seq > 0xFFF:
                ms, _seq = ms + 1, 0
        else:
            _seq = 0
        _last_ms = ms
        seq = _seq
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand))


@dataclass
class Pending:
    """One answer waiting to be recorded (serialised in the writer thread, not on the request path)."""

    decision_id: str
    recorded_at: dt.datetime
    caller: str
    kind: str  # classify | batch | timeline
    payload: Any
    answer: dict[str, Any]


def contact_dates(kind: str, payload: Any) -> list[str | None]:
    """Each classified contact's date, in the order of the answer's results (payload is validated)."""
    if kind == "classify":
        return [payload["contact"]["date"]]
    if kind == "batch":
        return [item.get("contact", {}).get("date") if isinstance(item, dict) else None for item in payload["items"]]
    return [ev["contact"]["date"] for ev in payload["events"] if ev.get("type") == "contact"]


def entry(p: Pending, keep_request: bool, status_of: Callable[[str], str]) -> dict[str, Any]:
    """The rows for one decision, JSON-shaped (so the same form goes to the database or the spool)."""
    request = orjson.dumps(p.payload, option=orjson.OPT_SORT_KEYS)
    answers = [p.answer] if p.kind == "classify" else p.answer["results"]
    dates = contact_dates(p.kind, p.payload)
    contacts = [{
        "decision_id": p.decision_id, "position": i, "contact_date": dates[i] if i < len(dates) else None,
        "contact_type": a["contact_type"], "rule": a["rule"]["id"],
        "ruleset_name": a["ruleset"]["name"], "ruleset_version": a["ruleset"]["version"],
        "ruleset_status": status_of(a["ruleset"]["version"]), "ruleset_sha256": a["ruleset"]["sha256"],
    } for i, a in enumerate(answers) if "contact_type" in a]
    return {
        "decision": {
            "decision_id": p.decision_id, "recorded_at": p.recorded_at.isoformat(), "caller": p.caller,
            "kind": p.kind, "stored": "request" if keep_request else "digest",
            "request_sha256": hashlib.sha256(request).hexdigest(),
            "request": request.decode() if keep_request else None,
            "answer": orjson.dumps(p.answer).decode(),
        },
        "contacts": contacts,
    }


class DecisionLog:
    """The log of one process: a database, a writer thread, and optionally a spool directory."""

    def __init__(self, url: str, *, keep_request: bool = True, spool_dir: str | os.PathLike[str] | None = None,
                 retention_days: int | None = None, status_of: Callable[[str], str] = lambda _v: "unspecified"):
        self.url = url
        self.engine = store.engine_for(url)
        store.migrate(self.engine)
        self.keep_request = keep_request
        self.spool_dir = Path(spool_dir) if spool_dir else None
        if self.spool_dir:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.retention_days = retention_days
        self.status_of = status_of
        self._queue: queue.SimpleQueue[tuple[Pending, Future[None]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._spool_fh: Any = None
        self._spool_pending = bool(self.spool_dir and any(self.spool_dir.glob("*.jsonl")))
        self._next_purge = 0.0
        self._next_replay = 0.0
        self._closed = False

    # -- the request side ---------------------------------------------------------------

    def submit(self, pending: Pending) -> Future[None]:
        """Queue one decision; the future resolves once it is committed (or spooled)."""
        if self._closed:
            raise LogUnavailable("the decision log is closed")
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
                    self._thread.start()
                    atexit.register(self.close)
        fut: Future[None] = Future()
        self._queue.put((pending, fut))
        return fut

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued and stop the writer (at shutdown)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
        if self._spool_pending:  # a last try, so a clean stop leaves no spool behind when the database is back
            self._replay_spool()
        if self._spool_fh:
            self._spool_fh.close()
        self.engine.dispose()

    # -- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=1.0)
            except queue.Empty:
                self._housekeeping()
                continue
            batch: list[tuple[Pending, Future[None]]] = []
            item = first
            while True:
                if item is None:
                    stop = True
                else:
                    batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)
            self._housekeeping()

    def _commit(self, batch: list[tuple[Pending, Future[None]]]) -> None:
        try:
            entries = [entry(p, self.keep_request, self.status_of) for p, _ in batch]
        except Exception as exc:  # an answer of a shape the log cannot read: fail those requests
            for _, fut in batch:
                fut.set_exception(LogUnavailable(f"cannot record: {type(exc).__name__}"))
            return
        try:
            with self.engine.begin() as conn:
                store.write(conn, entries)
        except Exception as exc:
            log.error("decision log: commit of %d decision(s) failed: %s", len(batch), type(exc).__name__)
            if self.spool_dir is None or not self._spool(entries):
                for _, fut in batch:
                    fut.set_exception(LogUnavailable("the decision log is unavailable"))
                return
        for _, fut in batch:
            fut.set_result(None)

    def _housekeeping(self) -> None:
        if self._spool_pending and time.monotonic() >= self._next_replay:
            self._next_replay = time.monotonic() + 1.0
            self._replay_spool()
        if self.retention_days and time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_S
            try:
                n = store.purge(self.engine, dt.datetime.now(dt.UTC) - dt.timedelta(days=self.retention_days))
                if n:
                    log.info("decision log: purged %d decision(s) older than %d days", n, self.retention_days)
            except Exception as exc:
                log.error("decision log: purge failed: %s", type(exc).__name__)

    # -- the spool ----------------------------------------------------------------------

    def _spool(self, entries: list[dict[str, Any]]) -> bool:
        """Append entries to this process's spool file and fsync; False when even that fails."""
        assert self.spool_dir is not None
        try:
            if self._spool_fh is None:
                name = f"spool-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
                self._spool_fh = open(self.spool_dir / name, "ab")  # noqa: SIM115 - kept open across batches
            self._spool_fh.write(b"".join(orjson.dumps(e) + b"\n" for e in entries))
            self._spool_fh.flush()
            os.fsync(self._spool_fh.fileno())
        except OSError as exc:
            log.error("decision log: spooling failed: %s", type(exc).__name__)
            return False
        self._spool_pending = True
        return True

    def _claim(self) -> list[Path]:
        """Spool files this process may replay: its own, and those of processes no longer running."""
        assert self.spool_dir is not None
        mine = os.getpid()
        if self._spool_fh is not None:
            self._spool_fh.close()
            self._spool_fh = None
        claimed = []
        for path in sorted(self.spool_dir.glob("*.jsonl")):
            parts = path.name.split("-")
            owner = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else -1
            if owner != mine and _alive(owner):
                continue
            target = path if owner == mine else path.with_name(f"spool-{mine}-{uuid.uuid4().hex[:8]}.jsonl")
            try:
                path.rename(target)
            except FileNotFoundError:  # another process claimed it first
                continue
            claimed.append(target)
        return claimed

    def _replay_spool(self) -> None:
        """Write spooled decisions into the database; a file is removed only once all of it is in."""
        for path in self._claim():
            lines = path.read_bytes().split(b"\n")
            entries = []
            for n, line in enumerate(lines):
                if not line.strip():
                    continue
                try:
                    entries.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    if n < len(lines) - 1:  # only a torn last line (never fsynced, never answered) may be dropped
                        log.error("decision log: %s line %d is not JSON; file kept", path.name, n + 1)
                        return
            try:
                for i in range(0, len(entries), _SPOOL_CHUNK):
                    with self.engine.begin() as conn:
                        store.write(conn, entries[i : i + _SPOOL_CHUNK])
            except Exception as exc:
                log.error("decision log: spool replay waits for the database: %s", type(exc).__name__)
                return
            path.unlink()
            log.info("decision log: %d spooled decision(s) written from %s", len(entries), path.name)
        self._spool_pending = self._spool_fh is not None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


