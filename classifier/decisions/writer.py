"""The decision log's writer: group commit in a process of its own, never an unrecorded answer.

Each service worker starts one writer process (`main` below) and talks to it over a Unix
socket pair. The request path does little: the endpoint hands over the request body and
the answer exactly as it returns them (bytes, already encoded), `DecisionLog.record`
frames them and awaits a future, and the frames gathered go to the writer in one write
at most every millisecond, without waiting for earlier writes to be acknowledged. The
writer process turns them into rows (JSON parsing, hashing) and commits what has arrived
(up to MAX_BATCH) in one transaction, so a commit carries what came in while the previous
one ran (group commit); it acknowledges each decision, and the event loop reads the
acknowledgements (no thread, no lock) and resolves the futures. So each answer waits for
its own commit, while the JSON and database work runs outside the worker's interpreter
(a writer *thread* had halved one worker's throughput by holding its GIL; README.md, the
decision-log benchmark).

When a commit fails the decisions are either refused (the endpoint answers 503 and
returns no classification) or, with a spool directory, appended to a local JSON-lines
file and fsynced before they are acknowledged; spooled decisions are written into the
database once it answers again (idempotently: a decision id already there is skipped).
If the writer process dies, every decision waiting for it is refused (503) and a new
writer is started; an acknowledgement that does not come within the log's `timeout`
(DEFAULT_TIMEOUT_S) is a 503 too. The writer gives each commit half that time (connecting
included): a database that does not answer by then (stalled, or behind a proxy that accepts
and forwards nothing) fails the commit, whose decisions are then refused or spooled, and for
RETRY_AFTER_S the writer does not try that database again, so the decisions arriving
meanwhile are refused or spooled at once rather than each waiting out the bound. Either way
no answered decision is lost and no request waits longer than the bound.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from classifier.decisions import store
from classifier.privacy import looks_like_identity_number

log = logging.getLogger("bup_classifier")
MAX_BATCH = 1000  # decisions in one transaction at most
COMMIT_EVERY_S = 0.001  # at most one write to the writer per millisecond (DecisionLog._flush_soon)
DEFAULT_TIMEOUT_S = 5.0  # a decision not acknowledged by then is refused (503); the writer's commits get half
RETRY_AFTER_S = 1.0  # after a commit the database did not answer, it is left alone this long (refuse or spool)
RESTART_EVERY_S = 1.0  # a writer that died is restarted at most this often
_SPOOL_CHUNK = 1000
_HEAD = struct.Struct("<III")  # a frame: lengths of meta, request body, answer; then the three
_ACK = 37  # an acknowledgement: b"+" (recorded) or b"-" (refused), then the 36-character decision id
_SOCKET_BUFFER = 4 << 20
# The writer process runs with the service's own import path, so it runs this very code (with -P, Python
# puts nothing before it; by default `-c` would put the working directory first, where another copy may lie).
_WRITER_MAIN = ("import sys, json; sys.path[:] = json.loads(sys.argv[2]); "
                "from classifier.decisions.writer import main; main()")


class LogUnavailable(RuntimeError):
    """The decision could not be recorded (and no spool is configured)."""


_last_ms = 0
_seq = 0
_id_lock = threading.Lock()


def new_id() -> str:
    """A UUIDv7 (RFC 9562): time-ordered, so ids sort by recording time and page by cursor.

    Never one shaped like an identity number (about one in a thousand random ids has ten digits in a row
    that are): the service refuses such a path, so `GET /v1/decisions/{id}` could not read it back.
    """
    while looks_like_identity_number(found := _draw_id()):
        pass
    return found


def _draw_id() -> str:
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
    h = f"{(ms << 80) | (0x7 << 76) | (seq << 64) | (0b10 << 62) | rand:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Pending:
    """One answered decision, as the rows are built from it (in the writer process, not on the request path)."""

    decision_id: str
    recorded_at: dt.datetime
    caller: str
    kind: str  # classify | batch | timeline
    payload: Any
    answer: dict[str, Any]
    answer_json: bytes | None = None  # the answer exactly as returned, when the caller has it encoded


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
    answer = p.answer_json if p.answer_json is not None else orjson.dumps(p.answer)
    return {
        "decision": {
            "decision_id": p.decision_id, "recorded_at": p.recorded_at.isoformat(), "caller": p.caller,
            "kind": p.kind, "stored": "request" if keep_request else "digest",
            "request_sha256": hashlib.sha256(request).hexdigest(),
            "request": request.decode() if keep_request else None,
            "answer": answer.decode(),
        },
        "contacts": contacts,
    }


# ---- the service side ---------------------------------------------------------------------


class DecisionLog:
    """The log of one service process: the database (read here, written by its writer process)."""

    def __init__(self, url: str, *, keep_request: bool = True, spool_dir: str | os.PathLike[str] | None = None,
                 statuses: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT_S):
        if not 0 < timeout <= 600:
            raise ValueError(f"decision-log timeout: expected seconds in (0, 600], got {timeout!r}")
        self.url = url
        self.timeout = timeout
        self.engine = store.engine_for(url)
        store.migrate(self.engine)
        if spool_dir:
            Path(spool_dir).mkdir(parents=True, exist_ok=True)
        self._config = {"url": url, "keep_request": keep_request, "spool_dir": str(spool_dir) if spool_dir else None,
                        "statuses": dict(statuses or {}), "timeout": timeout}
        self._waiting: dict[str, tuple[asyncio.Future[None], float]] = {}  # by id: future, time sent
        self._watch: asyncio.TimerHandle | None = None
        self._next: list[bytes] = []  # the parts of the frames gathered for the next write
        self._next_n = 0
        self._out = bytearray()  # the write in progress
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._acks = b""
        self._flush_timer: asyncio.TimerHandle | None = None  # the pending write of what has gathered
        self._writing = False
        self._last_flush = 0.0
        self._started = 0.0
        self._closed = False
        self._start()
        atexit.register(self.close)

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id (None while it is being restarted)."""
        return self._proc.pid if self._proc is not None else None

    # -- the request side ---------------------------------------------------------------

    async def record(self, decision_id: str, caller: str, kind: str, body: bytes, answer: bytes) -> None:
        """Return once the decision (the request body and the answer as returned) is committed or spooled.

        LogUnavailable when it is not: the database refused it, the writer died, or no
        acknowledgement came within the log's timeout.
        """
        if self._closed:
            raise LogUnavailable("the decision log is closed")
        if self._sock is None and time.monotonic() - self._started >= RESTART_EVERY_S:
            self._start()
        if self._sock is None:
            raise LogUnavailable("the decision log's writer is restarting")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._attach(loop)
            if self._sock is None:  # the writer broke while the frames left over were sent
                raise LogUnavailable("the decision log's writer is restarting")
        meta = orjson.dumps([decision_id, time.time_ns(), caller, kind])
        self._next += (_HEAD.pack(len(meta), len(body), len(answer)), meta, body, answer)
        self._next_n += 1
        fut = loop.create_future()
        self._waiting[decision_id] = (fut, time.monotonic())
        if self._watch is None:
            self._watch = loop.call_later(self.timeout, self._overdue)
        self._flush_soon()
        try:
            await fut
        finally:
            self._waiting.pop(decision_id, None)

    def _overdue(self) -> None:
        """Refuse the decisions waiting longer than the timeout. One timer for all, not one per request: it
        fires when the oldest waiting decision is due (they wait in the order they were sent)."""
        self._watch = None
        now = time.monotonic()
        late, due = [], self.timeout
        for decision_id, (_fut, t) in self._waiting.items():
            if t + self.timeout > now:
                due = t + self.timeout - now
                break
            late.append(decision_id)
        if late:
            log.error("decision log: %d decision(s) not acknowledged within %g s; refused", len(late), self.timeout)
        for decision_id in late:
            fut = self._waiting.pop(decision_id)[0]
            if not fut.done():
                fut.set_exception(LogUnavailable("the decision log did not answer in time"))
        if self._waiting and self._loop is not None and not self._loop.is_closed():
            self._watch = self._loop.call_later(max(due, 0.001), self._overdue)

    def _start(self) -> None:
        """Start a writer process and hand it the configuration (not on its command line: the URL may hold
        a password)."""
        self._started = time.monotonic()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for s in (ours, theirs):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
        try:
            self._proc = subprocess.Popen([sys.executable, "-P", "-c", _WRITER_MAIN, str(theirs.fileno()),
                                           json.dumps(sys.path)], pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        except OSError as exc:
            ours.close()
            log.error("decision log: cannot start the writer: %s", type(exc).__name__)
            return
        finally:
            theirs.close()
        config = orjson.dumps(self._config)
        ours.sendall(_HEAD.pack(len(config), 0, 0) + config)
        ours.setblocking(False)
        self._sock, self._acks = ours, b""
        self._out, self._next, self._next_n = bytearray(), [], 0
        if self._loop is not None and not self._loop.is_closed():
            self._loop.add_reader(ours.fileno(), self._read_acks)

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read acknowledgements on this event loop (one in the service; the test client opens one per request)."""
        assert self._sock is not None
        self._detach(self._sock)
        self._loop = loop
        loop.add_reader(self._sock.fileno(), self._read_acks)
        if self._out:
            self._send()

    def _flush_soon(self) -> None:
        """The decisions gathered go to the writer in one write at most every COMMIT_EVERY_S: here and now
        when that much time has passed, else by a timer, which then takes every decision gathered until it
        fires. Here, on the request path, because under load one round of the event loop classifies dozens
        of requests (~0.4 ms each) and a callback would wait for the round's end; the acknowledgements that
        have arrived are read at the same moment, for the same reason. So a busy round makes one or two
        writes, not one per decision (each commit costs the writer and the database about as much as a few
        decisions). Nothing waits for earlier writes to be acknowledged: the writer commits whatever has
        arrived, so its batches grow with the database's commit time (bench/README.md, the decision log)."""
        if not self._next_n or self._loop is None or self._flush_timer is not None:
            return
        wait = self._last_flush + COMMIT_EVERY_S - time.monotonic()
        if wait > 0:
            self._flush_timer = self._loop.call_later(wait, self._flush)
            return
        self._flush()
        if self._sock is not None:
            self._read_acks()

    def _flush(self) -> None:
        self._flush_timer = None
        if self._sock is None or not self._next_n:
            return
        self._last_flush = time.monotonic()
        self._out += b"".join(self._next)
        self._next, self._next_n = [], 0
        self._send()

    def _send(self) -> None:
        """Write what the socket takes now; the rest when it is writable."""
        if self._sock is None or self._loop is None:
            return
        try:
            sent = self._sock.send(self._out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._lost("the connection to the writer broke")
            return
        del self._out[:sent]
        if self._out and not self._writing:
            self._writing = True
            self._loop.add_writer(self._sock.fileno(), self._send)
        elif not self._out and self._writing:
            self._writing = False
            self._loop.remove_writer(self._sock.fileno())

    def _read_acks(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost("the writer process ended")
            return
        self._settle(data)

    def _settle(self, data: bytes) -> None:
        """Resolve the futures of the acknowledgements in `data` (after what was left of the last read)."""
        acks = self._acks + data
        whole = len(acks) - len(acks) % _ACK
        self._acks = acks[whole:]  # first, so that nothing below can put the stream out of step
        for i in range(0, whole, _ACK):
            fut = self._waiting.pop(acks[i + 1 : i + _ACK].decode(), (None,))[0]
            if fut is None or fut.done() or fut.get_loop().is_closed():
                continue
            if acks[i] == 0x2B:  # "+"
                fut.set_result(None)
            else:
                fut.set_exception(LogUnavailable("the decision log is unavailable"))

    def _detach(self, sock: socket.socket | None) -> None:
        """Take `sock` off this loop (no more reading or writing it there) and cancel the pending write and
        the overdue check: the loop changes, or the writer is gone."""
        if sock is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
            if self._writing:
                self._loop.remove_writer(sock.fileno())
        self._writing = False
        for timer in (self._flush_timer, self._watch):
            if timer is not None:
                timer.cancel()
        self._flush_timer = self._watch = None

    def _lost(self, why: str) -> None:
        """The writer is gone: settle what it acknowledged before it ended (several writes may have been in
        flight, and their commits count), refuse every other decision waiting for it, and start another."""
        sock, proc = self._sock, self._proc
        self._sock, self._proc = None, None
        self._detach(sock)
        if sock is not None:
            self._settle(_unread(sock))
            sock.close()
        self._out, self._next, self._next_n = bytearray(), [], 0
        code = _reap(proc)
        log.error("decision log: %s (exit %s); %d waiting decision(s) refused", why, code, len(self._waiting))
        self._refuse_waiting("the decision log's writer ended")
        if not self._closed and time.monotonic() - self._started >= RESTART_EVERY_S:
            self._start()

    def close(self, timeout: float = 30.0) -> None:
        """Let the writer commit what it has and stop (at shutdown)."""
        if self._closed:
            return
        self._closed = True
        sock, proc = self._sock, self._proc
        self._sock = None
        self._detach(sock)
        if sock is not None:
            deadline = time.monotonic() + timeout
            acks = bytearray()
            try:
                sock.setblocking(True)
                sock.settimeout(timeout)
                sock.sendall(self._out + b"".join(self._next))
                sock.shutdown(socket.SHUT_WR)  # the writer commits what it has read, then ends
                while (data := sock.recv(1 << 16)) and time.monotonic() < deadline:
                    acks += data
            except OSError:
                pass
            sock.close()
            self._settle(bytes(acks))
            if proc is not None:
                try:
                    proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.error("decision log: the writer did not stop within %g s; killed", timeout)
        self._refuse_waiting("the decision log is closed")
        _reap(proc)
        self.engine.dispose()

    def _refuse_waiting(self, why: str) -> None:
        for fut, _ in self._waiting.values():
            if not fut.done() and not fut.get_loop().is_closed():
                fut.set_exception(LogUnavailable(why))
        self._waiting.clear()


def _unread(sock: socket.socket) -> bytes:
    """What the socket has received and not yet been read (without waiting)."""
    chunks = []
    while True:
        try:
            data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except OSError:  # BlockingIOError: nothing more now; anything else: nothing more ever
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def _reap(proc: subprocess.Popen[bytes] | None) -> int | None:
    """The exit code of a writer that ended (one still running is killed first)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.kill()
    return proc.wait()


# ---- the writer process ---------------------------------------------------------------------


class Writer:
    """The writer process's work: group commit, acknowledgements, the spool. (Retention is not its
    work: the service's main process purges, once per service; store.Purger.)"""

    def __init__(self, url: str, keep_request: bool, spool_dir: str | None, statuses: dict[str, str],
                 timeout: float = DEFAULT_TIMEOUT_S):
        commit_timeout = timeout / 2  # connecting included; the rest is for spooling and the acknowledgement
        self.engine = store.engine_for(url, own_checkpoints=True, timeout=commit_timeout)
        self.appender = store.Appender(self.engine, commit_timeout)
        self.checkpointer = store.WalCheckpointer(self.engine).start() if self.appender.lite else None
        self.keep_request = keep_request
        self.spool_dir = Path(spool_dir) if spool_dir else None
        self.statuses = statuses
        self._spool_fh: Any = None
        self._spool_pending = bool(self.spool_dir and any(self.spool_dir.glob("*.jsonl")))
        self._next_replay = 0.0
        self._retry_at = 0.0  # monotonic time before which the database is not tried (it just failed)

    def status_of(self, version: str) -> str:
        return self.statuses.get(version, "unspecified")

    def run(self, sock: socket.socket, buf: bytearray) -> None:
        """Until the service closes its end: read the frames that have arrived, commit them together, ack.
        (Group commit: each commit takes the complete frames read so far, up to MAX_BATCH, and the socket
        is read again once none is left, so a commit carries what arrived while the previous one ran.)"""
        ended = False
        while True:
            frames, used = _frames(buf, MAX_BATCH)
            if frames:
                del buf[:used]
                self._commit(frames, sock)
                self._housekeeping()
                continue
            if ended:
                break
            ready, _, _ = select.select([sock], [], [], 1.0)
            if not ready:
                self._housekeeping()
                continue
            while True:  # everything there is now
                try:
                    data = sock.recv(1 << 20, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                if not data:
                    ended = True  # a torn last frame was never acknowledged, so never answered: dropped
                    break
                buf += data
                if len(data) < 1 << 20:
                    break
        if self._spool_pending:  # a last try, so a clean stop leaves no spool behind when the database is back
            self._replay_spool()
        if self._spool_fh:
            self._spool_fh.close()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.appender.close()
        self.engine.dispose()

    def _entry(self, frame: tuple[bytes, bytes, bytes]) -> dict[str, Any]:
        meta, body, answer = frame
        decision_id, ns, caller, kind = orjson.loads(meta)
        when = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC).replace(microsecond=ns // 1000 % 1_000_000)
        p = Pending(decision_id, when, caller, kind, orjson.loads(body),
                    orjson.loads(answer), answer)
        return entry(p, self.keep_request, self.status_of)

    def _commit(self, frames: list[tuple[bytes, bytes, bytes]], sock: socket.socket) -> None:
        acks, entries = [], []
        for f in frames:
            try:
                entries.append(self._entry(f))
            except Exception as exc:  # an answer of a shape the log cannot read: refuse that decision
                log.error("decision log: cannot record a decision: %s", type(exc).__name__)
                acks.append(b"-" + orjson.loads(f[0])[0].encode())
        ok = b"+"
        if entries:
            began = time.monotonic()
            try:
                if began < self._retry_at:
                    raise LogUnavailable("the database did not answer a moment ago")
                self.appender.write(entries)
            except Exception as exc:
                if not isinstance(exc, LogUnavailable):
                    self._failed(began)
                    log.error("decision log: commit of %d decision(s) failed: %s", len(entries),
                              type(exc).__name__)
                if self.spool_dir is None or not self._spool(entries):
                    ok = b"-"
        acks += [ok + e["decision"]["decision_id"].encode() for e in entries]
        with contextlib.suppress(OSError):  # the service is gone: what it sent is committed all the same
            sock.sendall(b"".join(acks))

    def _failed(self, began: float) -> None:
        """A commit or replay begun at `began` failed. One that took most of its bound (a database that does
        not answer) keeps the next ones from trying for RETRY_AFTER_S; a quick failure (refused, an error)
        costs nothing to try again."""
        assert self.appender.timeout is not None
        if time.monotonic() - began >= self.appender.timeout / 2:
            self._retry_at = time.monotonic() + RETRY_AFTER_S

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if self._spool_pending and now >= self._next_replay and now >= self._retry_at:
            self._next_replay = now + 1.0
            self._replay_spool()

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
            began = time.monotonic()
            try:
                for i in range(0, len(entries), _SPOOL_CHUNK):
                    began = time.monotonic()
                    self.appender.write(entries[i : i + _SPOOL_CHUNK])
            except Exception as exc:
                self._failed(began)
                log.error("decision log: spool replay waits for the database: %s", type(exc).__name__)
                return
            path.unlink()
            log.info("decision log: %d spooled decision(s) written from %s", len(entries), path.name)
        self._spool_pending = self._spool_fh is not None


def _frames(buf: bytearray, limit: int) -> tuple[list[tuple[bytes, bytes, bytes]], int]:
    """The complete frames at the start of buf (at most `limit`), and the bytes they take."""
    out, at, size = [], 0, _HEAD.size
    view = memoryview(buf)
    try:
        while len(out) < limit and len(buf) - at >= size:
            m, b, a = _HEAD.unpack_from(buf, at)
            end = at + size + m + b + a
            if end > len(buf):
                break
            start = at + size
            out.append((bytes(view[start : start + m]), bytes(view[start + m : start + m + b]),
                        bytes(view[start + m + b : end])))
            at = end
    finally:
        view.release()
    return out, at


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


def main() -> None:
    """The writer process, on the socket FD in argv[1] (started by DecisionLog, never by hand).

    It ignores SIGINT and SIGTERM: a stop of the service reaches it as the end of its socket,
    after the service has sent its last decisions, so it commits them before it ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        from api.server import configure_logging  # the service's JSON log lines, when the service is installed

        configure_logging()
    except ImportError:
        logging.basicConfig(level=logging.INFO)
    sock = socket.socket(fileno=int(sys.argv[1]))
    buf = bytearray()
    while True:
        frames, used = _frames(buf, 1)
        if frames:
            break
        data = sock.recv(1 << 16)
        if not data:
            return
        buf += data
    del buf[:used]
    config = orjson.loads(frames[0][0])
    Writer(**config).run(sock, buf)


