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


def engine_for(url: str, *, own_checkpoints: bool = False) -> sa.Engine:
    """An engine for `sqlite:///PATH` or `postgresql://…` (driven by psycopg 3).

    `own_checkpoints` (SQLite; the writer process): its connections leave checkpointing the WAL to a
    `WalCheckpointer` the caller runs beside them, instead of doing it inside a commit."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        engine = sa.create_engine(url, pool_pre_ping=True)
        pragmas = ["journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON"]
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
        return sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
    raise LogUrlError(f"expected a decision-log URL sqlite:///PATH or postgresql://…, got {url.split(':', 1)[0]!r}")


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
    statement (one round trip). A connection that failed is dropped; the next call opens another."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.lite = engine.dialect.name == "sqlite"
        self._conn: Any = None

    def write(self, entries: list[dict[str, Any]]) -> None:
        """Insert and commit; an exception when the database did not take them (nothing committed)."""
        rows, contacts = _rows(entries, self.lite)
        dialect = "sqlite" if self.lite else "postgresql"
        if self._conn is None:
            self._conn = self.engine.raw_connection()
        raw = self._conn.driver_connection
        try:
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
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.invalidate()  # never back into the pool half-way through a transaction
            except Exception as exc:
                log.error("decision log: closing a failed connection: %s", type(exc).__name__)


def moment(value: str | None, end: bool) -> dt.datetime | None:
    """A `from`/`to` bound as naive UTC: a date (as `to`, the whole day is included) or an ISO date-time
    (naive means UTC). ValueError when it is neither."""
    if not value:
        return None
    if len(value) == 10:
        day = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        return day + dt.timedelta(days=1) if end else day
    when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


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


def ids(conn: sa.Connection) -> list[str]:
    """Every decision id in the log (the fault tests compare these with the answers)."""
    return [r[0] for r in conn.execute(sa.select(decisions.c.decision_id))]


def purge(engine: sa.Engine, before: dt.datetime) -> int:
    """Delete decisions recorded before `before` (UTC) and their contacts; the number deleted."""
    old = sa.select(decisions.c.decision_id).where(decisions.c.recorded_at < before.replace(tzinfo=None))
    with engine.begin() as conn:
        conn.execute(sa.delete(decision_contacts).where(decision_contacts.c.decision_id.in_(old)))
        return conn.execute(sa.delete(decisions).where(decisions.c.recorded_at < before.replace(tzinfo=None))).rowcount
