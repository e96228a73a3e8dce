"""Reading and writing the decision log: SQLite (a file) or PostgreSQL (a URL).

Everything here is synchronous SQLAlchemy Core (and, for the writer process's inserts,
the driver's connection itself: `Appender`); the service calls it from its writer process
(writer.py) and from the read endpoints' thread pool.
Writes are idempotent (a decision id already present is skipped), so a batch that is
retried or a spool file replayed twice never records a decision twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from classifier.decisions.schema import decision_contacts, decisions

log = logging.getLogger("bup_classifier")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_ADVISORY_KEY = 0x6275_7064_6563  # "bupdec": one migration at a time on a shared PostgreSQL


class LogUrlError(ValueError):
    """A decision-log URL this service cannot use."""


# Bounds on every wait for the database (docs/operations.md, "Database, shutdown and access edges").
CONNECT_TIMEOUT_S = 10  # reads and migrations: seconds to open a connection (libpq counts whole seconds, at least 2)
STATEMENT_TIMEOUT_S = 60.0  # reads, exports, purge batches: seconds one statement may run on the server
SQLITE_BUSY_TIMEOUT_S = 30.0  # reads on SQLite: seconds to wait for a lock
# TCP keepalives: an idle connection to a database host that vanished is found dead within
# idle + interval x count seconds; sent data left unacknowledged drops the connection after TCP_USER_TIMEOUT_MS.
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT = 10, 5, 3
TCP_USER_TIMEOUT_MS = 10_000


def engine_for(url: str, *, own_checkpoints: bool = False, timeout: float | None = None) -> sa.Engine:
    """An engine for `sqlite:///PATH` or `postgresql://…` (driven by psycopg 3), with bounded waits.

    `timeout` (seconds; the writer process passes its commit bound): how long a statement may run on
    PostgreSQL (`statement_timeout`, also the connect timeout, at least libpq's 2 s) or wait for a lock on
    SQLite (`busy_timeout`); None: the bounds for reads above. PostgreSQL connections also get TCP
    keepalives and a TCP user timeout, so a database host that vanished is noticed (a database that
    accepts TCP and never answers is not: the writer's `Appender` watches its own deadline for that).
    `own_checkpoints` (SQLite; the writer process): its connections leave checkpointing the WAL to a
    `WalCheckpointer` the caller runs beside them, instead of doing it inside a commit."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        engine = sa.create_engine(url, pool_pre_ping=True)
        busy_ms = int(1000 * (SQLITE_BUSY_TIMEOUT_S if timeout is None else timeout))
        pragmas = ["journal_mode=WAL", "synchronous=NORMAL", f"busy_timeout={busy_ms}", "foreign_keys=ON"]
        if own_checkpoints:
            pragmas += [f"wal_autocheckpoint={WAL_BACKSTOP_FRAMES}", f"journal_size_limit={WAL_KEEP_BYTES}"]

        @sa.event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            # WAL with synchronous=NORMAL: a commit survives a crash or kill of the service (the WAL is
            # written before the answer returns); only a power loss of the machine can lose the last
            # commits (README, "The decision log"). FULL costs an fsync per commit (~7 ms here).
            for pragma in pragmas:
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        return engine
    if url.startswith("postgresql+psycopg://"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4,
                                connect_args=pg_connect_args(url, timeout))
    raise LogUrlError(f"expected a decision-log URL sqlite:///PATH or postgresql://…, got {url.split(':', 1)[0]!r}")


def pg_connect_args(url: str, timeout: float | None) -> dict[str, Any]:
    """psycopg's connection parameters that bound every wait (an `options` in the URL is kept)."""
    statement_ms = int(1000 * (STATEMENT_TIMEOUT_S if timeout is None else timeout))
    connect_s = CONNECT_TIMEOUT_S if timeout is None else max(2, int(timeout))
    options = sa.engine.make_url(url).query.get("options")
    options = " ".join(options) if isinstance(options, tuple) else options
    return {"connect_timeout": connect_s,
            "options": f"{options + ' ' if options else ''}-c statement_timeout={statement_ms}",
            "keepalives": 1, "keepalives_idle": KEEPALIVE_IDLE_S, "keepalives_interval": KEEPALIVE_INTERVAL_S,
            "keepalives_count": KEEPALIVE_COUNT, "tcp_user_timeout": TCP_USER_TIMEOUT_MS}


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration (alembic); safe to run from several processes."""
    from alembic import command  # here, so the writer process (which never migrates) does not load it
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def _insert_sql(table: sa.Table, dialect: str) -> str:
    """A plain INSERT … ON CONFLICT DO NOTHING for the driver (SQLite and PostgreSQL both have it):
    the writer's hot path skips SQLAlchemy's per-statement compilation."""
    cols = [c.name for c in table.columns]
    mark = "?" if dialect == "sqlite" else "%s"
    return (f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))}) "
            "ON CONFLICT DO NOTHING")


def _unnest_sql(table: sa.Table) -> str:
    cols = [c.name for c in table.columns]
    arrays = ", ".join(f"%b::{_PG_TYPE[type(c.type)]}[]" for c in table.columns)
    return f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING"


def _pg_batch_sql() -> str:
    """PostgreSQL: a whole batch in one statement, each column as one binary array:
    WITH d AS (INSERT INTO decisions … SELECT FROM unnest(…)) INSERT INTO decision_contacts … SELECT FROM
    unnest(…). A statement per row cost the writer (psycopg's per-row pipeline work) and the server (a
    Bind/Execute per row); one statement in autocommit is also one round trip without a pipeline or a
    separate COMMIT (bench/README.md, the decision log). The contacts' foreign-key checks run at the end
    of the statement, when the decisions are in."""
    return f"WITH d AS ({_unnest_sql(decisions)}) {_unnest_sql(decision_contacts)}"


_PG_TYPE = {sa.String: "text", sa.Text: "text", sa.DateTime: "timestamp", sa.Integer: "int4", sa.Date: "date"}
_SQL = {(t.name, d): _insert_sql(t, d) for t in (decisions, decision_contacts) for d in ("sqlite", "postgresql")}
_PG_BATCH = _pg_batch_sql()
_DECISION_COLS = [c.name for c in decisions.columns]
_CONTACT_COLS = [c.name for c in decision_contacts.columns]
assert _DECISION_COLS[:2] == ["decision_id", "recorded_at"] and _CONTACT_COLS[2] == "contact_date"
_decision_row = operator.itemgetter(*_DECISION_COLS)
_contact_row = operator.itemgetter(*_CONTACT_COLS)


def _rows(entries: list[dict[str, Any]], lite: bool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The entries' rows for the driver. Times go in as UTC; SQLite gets them as the text SQLAlchemy
    itself writes and reads there."""
    rows, contacts = [], []
    for e in entries:
        d = e["decision"]
        when = dt.datetime.fromisoformat(d["recorded_at"]).astimezone(dt.UTC).replace(tzinfo=None)
        row = _decision_row(d)
        rows.append((row[0], when.isoformat(" ", "microseconds") if lite else when, *row[2:]))
        for c in e["contacts"]:
            row = _contact_row(c)
            day = row[2]
            contacts.append(row if lite or not day else (*row[:2], dt.date.fromisoformat(day), *row[3:]))
    return rows, contacts


def write(conn: sa.Connection, entries: list[dict[str, Any]]) -> None:
    """Insert entries ({"decision": row, "contacts": [rows]}, JSON-shaped) in the caller's transaction."""
    lite = conn.dialect.name == "sqlite"
    rows, contacts = _rows(entries, lite)
    dialect = "sqlite" if lite else "postgresql"
    if rows:
        conn.exec_driver_sql(_SQL[("decisions", dialect)], rows)
    if contacts:
        conn.exec_driver_sql(_SQL[("decision_contacts", dialect)], contacts)


WAL_CHECKPOINT_EVERY_S = 0.2
WAL_KEEP_BYTES = 64 << 20  # the WAL file is cut back to this size once it starts over
WAL_RESTART_FRAMES = 16384  # a WAL this long (64 MB of 4 KB pages) is made to start over (RESTART)
WAL_RESTART_WAIT_MS = 100  # how long a RESTART may hold commits back while it waits for readers
WAL_BACKSTOP_FRAMES = 2 * WAL_RESTART_FRAMES  # SQLite's own checkpoint in a commit, should the thread not keep up


class WalCheckpointer:
    """Checkpoints a SQLite decision log's WAL from a thread of its own, so that commits need not.

    By default SQLite checkpoints inside the commit that takes the WAL past 1000 pages: that
    commit copies the pages into the database file and fsyncs it (5-10 ms here, a few times a
    second under load), and every answer waiting for it waits that long. The writer's connections
    leave it to this thread (`engine_for(..., own_checkpoints=True)`; past WAL_BACKSTOP_FRAMES they
    still do it themselves, should the thread not run), which checkpoints every
    WAL_CHECKPOINT_EVERY_S in PASSIVE mode: that never blocks a commit, and the sqlite3 module lets
    go of the GIL meanwhile. The next commit that finds the whole WAL checkpointed (and no reader
    on an older snapshot) starts it over from the beginning. Should that keep missing under load
    and the WAL reach WAL_RESTART_FRAMES, a RESTART checkpoint holds commits back until it has
    copied the rest, so that the next one starts the WAL over; it waits for readers at most
    WAL_RESTART_WAIT_MS and, when one is in the way, is tried again later, less often each time.
    (SQLite's advice for writers that must not stall: https://sqlite.org/wal.html#ckpt;
    bench/README.md has the measurements.) A failed checkpoint drops its connection; the next
    round opens another."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
        self._failing = False
        self._restart_after = 0.0  # monotonic time before which no RESTART is tried
        self._restart_backoff = 0.0

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def connect(self) -> Any:
        """A pooled connection for `step`: its busy timeout bounds how long a RESTART waits for readers."""
        conn = self.engine.raw_connection()
        conn.driver_connection.execute(f"PRAGMA busy_timeout={WAL_RESTART_WAIT_MS}")
        return conn

    def step(self, raw: Any) -> tuple[int, int, int]:
        """One checkpoint on the driver connection `raw` (from `connect`): SQLite's (busy, frames in the
        WAL, frames now in the database file)."""
        busy, frames, done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames >= WAL_RESTART_FRAMES and time.monotonic() >= self._restart_after:
            busy, frames, done = raw.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            if busy:
                self._restart_backoff = min(60.0, 2 * self._restart_backoff or 1.0)
                self._restart_after = time.monotonic() + self._restart_backoff
                log.warning("decision log: a reader keeps the WAL (%d frames) from starting over; "
                            "next try in %g s", frames, self._restart_backoff)
            else:
                self._restart_backoff = 0.0
        return busy, frames, done

    def _run(self) -> None:
        conn = None
        while not self._stop.wait(WAL_CHECKPOINT_EVERY_S):
            try:
                if conn is None:
                    conn = self.connect()
                self.step(conn.driver_connection)
                if self._failing:
                    log.info("decision log: WAL checkpoints work again")
                self._failing = False
            except Exception as exc:  # the commits' acknowledgements say whether the log itself still works
                if conn is not None:
                    conn.invalidate()
                    conn = None
                if not self._failing:
                    log.error("decision log: WAL checkpoint failed: %s", type(exc).__name__)
                self._failing = True
        if conn is not None:
            conn.invalidate()  # not back into the pool with its short busy timeout


class Appender:
    """`write` and commit on one driver connection kept open (the writer process's hot path): no pool
    checkout, ping or SQLAlchemy transaction per commit, and on PostgreSQL the whole batch in one
    statement (one round trip). A connection that failed is dropped; the next call opens another.

    With a `timeout`, a write that has not returned after that many seconds is cut off: its
    connection's socket is shut down (PostgreSQL) or its statement interrupted (SQLite), so the
    write raises and nothing waits longer. PostgreSQL's own `statement_timeout` covers a database
    that is slow; this covers one that never answers (the server or a proxy accepting TCP and
    forwarding nothing), which no server-side timeout and no TCP keepalive can see."""

    def __init__(self, engine: sa.Engine, timeout: float | None = None):
        self.engine = engine
        self.lite = engine.dialect.name == "sqlite"
        self.timeout = timeout
        self._conn: Any = None
        self._guard = threading.Lock()  # between a write ending and the watchdog cutting it off
        self._deadline = 0.0  # monotonic time the write in progress must end by; 0: none in progress
        self._watchdog: threading.Thread | None = None

    def write(self, entries: list[dict[str, Any]]) -> None:
        """Insert and commit; an exception when the database did not take them (nothing committed)."""
        rows, contacts = _rows(entries, self.lite)
        dialect = "sqlite" if self.lite else "postgresql"
        self._arm()
        try:
            if self._conn is None:
                self._conn = self.engine.raw_connection()
            raw = self._conn.driver_connection
            if self.lite:
                cur = raw.cursor()
                cur.executemany(_SQL[("decisions", dialect)], rows)
                if contacts:
                    cur.executemany(_SQL[("decision_contacts", dialect)], contacts)
                raw.commit()
            else:
                if not raw.autocommit:
                    raw.autocommit = True  # the one statement is its own transaction
                columns = [list(c) for c in zip(*rows, strict=True)]
                columns += [list(c) for c in zip(*contacts, strict=True)] or [[] for _ in _CONTACT_COLS]
                raw.execute(_PG_BATCH, columns)
        except Exception:
            self._disarm()
            self.close()
            raise
        self._disarm()

    def _arm(self) -> None:
        if self.timeout is None:
            return
        with self._guard:
            self._deadline = time.monotonic() + self.timeout
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="commit-watchdog", daemon=True)
            self._watchdog.start()

    def _disarm(self) -> None:
        if self.timeout is not None:
            with self._guard:
                self._deadline = 0.0

    def _watch(self) -> None:
        """Cut off a write past its deadline (checked 20 times a second; a commit takes milliseconds)."""
        assert self.timeout is not None
        step = min(0.05, self.timeout / 10)
        while True:
            time.sleep(step)
            with self._guard:
                if self._deadline and time.monotonic() > self._deadline and self._conn is not None:
                    self._deadline = 0.0
                    log.error("decision log: a commit took longer than %g s; cut off", self.timeout)
                    self._cut_off(self._conn.driver_connection)

    def _cut_off(self, raw: Any) -> None:
        try:
            if self.lite:
                raw.interrupt()
            else:  # shutting the socket down (on a duplicate of its descriptor) ends libpq's wait at once
                with socket.socket(fileno=os.dup(raw.pgconn.socket)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
        except Exception as exc:  # the connection ended meanwhile: nothing left to cut off
            log.warning("decision log: cutting off a commit: %s", type(exc).__name__)

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.invalidate()  # never back into the pool half-way through a transaction
            except Exception as exc:
                log.error("decision log: closing a failed connection: %s", type(exc).__name__)


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def moment(value: str | None, end: bool) -> dt.datetime | None:
    """A `from`/`to` bound as naive UTC: a date (as `to`, the whole day is included) or an ISO date-time
    (naive means UTC). ValueError when it is neither.

    A bound past the calendar's ends (`to` 9999-12-31 is the day after it; 0001-01-01T00:00+14:00 is before
    year 1 in UTC) is the calendar's end: no decision lies beyond it, so the answer is the same.
    """
    if not value:
        return None
    if len(value) == 10:
        if not _ISO_DAY.fullmatch(value):  # fromisoformat would read 1212121212 (an identity number) as 1212-12-12
            raise ValueError("expected a date YYYY-MM-DD")
        day = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        return _shifted(day, dt.timedelta(days=1)) if end else day
    when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    offset = when.utcoffset()
    return when if offset is None else _shifted(when.replace(tzinfo=None), -offset)


def _shifted(when: dt.datetime, by: dt.timedelta) -> dt.datetime:
    """`when + by`, or the first or last moment of the calendar when that lies beyond it."""
    try:
        return when + by
    except OverflowError:
        return dt.datetime.max if by > dt.timedelta(0) else dt.datetime.min


@dataclass(frozen=True)
class Filters:
    """What GET /v1/decisions and `decisions export` can select by."""

    since: dt.datetime | None = None  # recorded_at >= since (UTC)
    until: dt.datetime | None = None  # recorded_at < until (UTC)
    rule: str | None = None
    contact_type: str | None = None
    ruleset_version: str | None = None
    caller: str | None = None


def _where(f: Filters) -> list[Any]:
    out: list[Any] = []
    if f.since:
        out.append(decisions.c.recorded_at >= f.since)
    if f.until:
        out.append(decisions.c.recorded_at < f.until)
    if f.caller:
        out.append(decisions.c.caller == f.caller)
    sub = [decision_contacts.c.decision_id == decisions.c.decision_id]
    for col, value in (("rule", f.rule), ("contact_type", f.contact_type), ("ruleset_version", f.ruleset_version)):
        if value:
            sub.append(decision_contacts.c[col] == value)
    if len(sub) > 1:
        out.append(sa.exists().where(*sub))
    return out


def _record(row: Any, contacts: list[Any]) -> dict[str, Any]:
    return {
        "decision_id": row.decision_id,
        "recorded_at": row.recorded_at.isoformat(timespec="microseconds") + "Z",
        "caller": row.caller,
        "kind": row.kind,
        "stored": row.stored,
        "request_sha256": row.request_sha256,
        "request": orjson.loads(row.request) if row.request is not None else None,
        "answer": orjson.loads(row.answer),
        "contacts": [{
            "position": c.position,
            "contact_date": c.contact_date.isoformat() if c.contact_date else None,
            "contact_type": c.contact_type,
            "rule": c.rule,
            "ruleset": {"name": c.ruleset_name, "version": c.ruleset_version, "status": c.ruleset_status,
                        "sha256": c.ruleset_sha256},
        } for c in contacts],
    }


def _with_contacts(conn: sa.Connection, rows: list[Any]) -> list[dict[str, Any]]:
    ids = [r.decision_id for r in rows]
    by_id: dict[str, list[Any]] = {i: [] for i in ids}
    if ids:
        q = sa.select(decision_contacts).where(decision_contacts.c.decision_id.in_(ids)).order_by(
            decision_contacts.c.decision_id, decision_contacts.c.position)
        for c in conn.execute(q):
            by_id[c.decision_id].append(c)
    return [_record(r, by_id[r.decision_id]) for r in rows]


def get(conn: sa.Connection, decision_id: str) -> dict[str, Any] | None:
    """One decision with its contacts, or None."""
    rows = list(conn.execute(sa.select(decisions).where(decisions.c.decision_id == decision_id)))
    return _with_contacts(conn, rows)[0] if rows else None


def page(conn: sa.Connection, f: Filters, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` decisions in id (= time) order after `cursor`, and the cursor of the next page."""
    q = sa.select(decisions).where(*_where(f))
    if cursor:
        q = q.where(decisions.c.decision_id > cursor)
    rows = list(conn.execute(q.order_by(decisions.c.decision_id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return _with_contacts(conn, rows), (rows[-1].decision_id if more else None)


def iterate(engine: sa.Engine, f: Filters, chunk: int = 1000) -> Iterator[dict[str, Any]]:
    """Every matching decision in order, read a page at a time (export, replay)."""
    cursor = None
    while True:
        with engine.connect() as conn:
            records, cursor = page(conn, f, chunk, cursor)
        yield from records
        if cursor is None:
            return


def requests(engine: sa.Engine, f: Filters, chunk: int = 5000) -> Iterator[tuple[str, str, Any, Any]]:
    """(decision id, kind, request or None, answer) of every matching decision in order, for replay.

    Only the columns a replay reads (not the contacts, which `iterate` joins for export): reading them was
    half of a replay's time.
    """
    cols = (decisions.c.decision_id, decisions.c.kind, decisions.c.request, decisions.c.answer)
    cursor = None
    while True:
        q = sa.select(*cols).where(*_where(f))
        if cursor:
            q = q.where(decisions.c.decision_id > cursor)
        with engine.connect() as conn:
            rows = list(conn.execute(q.order_by(decisions.c.decision_id).limit(chunk)))
        for r in rows:
            yield (r.decision_id, r.kind, orjson.loads(r.request) if r.request is not None else None,
                   orjson.loads(r.answer))
        if len(rows) < chunk:
            return
        cursor = rows[-1].decision_id


def ids(conn: sa.Connection) -> list[str]:
    """Every decision id in the log (the fault tests compare these with the answers)."""
    return [r[0] for r in conn.execute(sa.select(decisions.c.decision_id))]


PURGE_BATCH = 1000  # decisions deleted in one transaction at most
PURGE_PAUSE_S = 0.05  # between two batches, so the writers' commits are never held back for long
_PURGE_KEY = _ADVISORY_KEY + 1  # PostgreSQL: one purge at a time among the replicas sharing the database


def purge(engine: sa.Engine, before: dt.datetime, batch: int = PURGE_BATCH, pause: float = 0.0) -> int:
    """Delete decisions recorded before `before` (UTC) and their contacts, oldest first, `batch` at a time
    (each batch its own short transaction, `pause` seconds apart); the number deleted. On PostgreSQL a purge
    already running elsewhere (another replica) makes this one return 0 at once."""
    cutoff = (before.astimezone(dt.UTC) if before.tzinfo else before).replace(tzinfo=None)
    old = sa.select(decisions.c.decision_id).where(decisions.c.recorded_at < cutoff)
    old = old.order_by(decisions.c.recorded_at).limit(batch)
    total = 0
    with engine.connect() as conn:
        pg = conn.dialect.name == "postgresql"
        if pg:
            locked = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _PURGE_KEY}).scalar()
            conn.commit()  # the lock is the session's; each batch below is a transaction of its own
            if not locked:
                return 0
        try:
            while True:
                with conn.begin():
                    ids = list(conn.execute(old).scalars())
                    if ids:
                        conn.execute(sa.delete(decision_contacts).where(decision_contacts.c.decision_id.in_(ids)))
                        total += conn.execute(sa.delete(decisions).where(decisions.c.decision_id.in_(ids))).rowcount
                if len(ids) < batch:
                    return total
                time.sleep(pause)
        finally:
            if pg and not conn.invalidated:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PURGE_KEY})
                conn.commit()


class Purger:
    """Retention: once per service (in its main process, never in a worker or its writer), every
    `every` seconds, delete the decisions older than `days` days in batches. A failed round is logged
    and tried again at the next."""

    def __init__(self, url: str, days: int, every: float = 3600.0):
        self.url, self.days, self.every = url, days, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="decision-log-purge", daemon=True)

    def start(self) -> Purger:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def once(self) -> int:
        """One round: the number of decisions deleted."""
        engine = engine_for(self.url)
        try:
            before = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.days)
            n = purge(engine, before, pause=PURGE_PAUSE_S)
        finally:
            engine.dispose()
        if n:
            log.info("decision log: purged %d decision(s) older than %d days", n, self.days,
                     extra={"event": "decisions_purged", "purged": n})
        return n

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.once()
            except Exception as exc:
                log.error("decision log: purge failed: %s", type(exc).__name__)
            self._stop.wait(self.every)
