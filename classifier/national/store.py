"""The national store of deliveries: DuckDB (a file, the default) or PostgreSQL (a URL).

Append only: a file is stored once with its content hash, received time and sender, whether it
passed the checks or not (a refused file keeps its reasons and none of its rows); each (region,
month) part of an accepted file is a delivery. A later delivery of the same region, month and kind
is a supplement and supersedes the earlier one, which stays readable. Nothing is ever deleted.

The SQL is written once (`:name` parameters) for both databases. DuckDB is used through its own
driver (rows are appended as one Arrow table); PostgreSQL through SQLAlchemy Core and psycopg's COPY.
Why DuckDB is the default: bench/national_store.py and docs/national.md.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from classifier.national.deliveries import Delivery, content_hash
from classifier.privacy import redact

DEFAULT_STORE = "national.duckdb"
ROW_COLUMNS: dict[str, tuple[str, ...]] = {
    "completed": ("delivery_id", "id", "unit", "fas", "avvikelse", "ankomst", "beslut", "start", "vantetid"),
    "waiting": ("delivery_id", "id", "unit", "fas", "avvikelse", "ankomst", "beslut", "vantetid"),
    "counts": ("delivery_id", "unit", "area", "numerator", "denominator", "completed_all", "waiting",
               "waiting_le30", "new_on_list", "printed_share"),
}
_INT = {"delivery_id", "fas", "avvikelse", "vantetid", "numerator", "denominator", "completed_all", "waiting",
        "waiting_le30", "new_on_list"}
SCHEMA = [
    "CREATE SEQUENCE IF NOT EXISTS national_seq START 1",
    """CREATE TABLE IF NOT EXISTS national_files (
        file_id BIGINT PRIMARY KEY, sha256 TEXT NOT NULL, filename TEXT NOT NULL, kind TEXT NOT NULL,
        format TEXT NOT NULL, sender TEXT NOT NULL, received_at TEXT NOT NULL, region TEXT, month TEXT,
        status TEXT NOT NULL, problems TEXT NOT NULL, n_rows BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS national_deliveries (
        delivery_id BIGINT PRIMARY KEY, file_id BIGINT NOT NULL, region TEXT NOT NULL, month TEXT NOT NULL,
        kind TEXT NOT NULL, received_at TEXT NOT NULL, sender TEXT NOT NULL, sha256 TEXT NOT NULL,
        n_rows BIGINT NOT NULL)""",
    *(f"CREATE TABLE IF NOT EXISTS national_{kind} ("
      + ", ".join(f"{c} {'BIGINT' if c in _INT else 'TEXT'}" for c in cols) + ")"
      for kind, cols in ROW_COLUMNS.items()),
    """CREATE TABLE IF NOT EXISTS national_notices (
        notice_id BIGINT PRIMARY KEY, region TEXT NOT NULL, issued_on TEXT NOT NULL, deadline TEXT NOT NULL,
        as_of TEXT NOT NULL, items TEXT NOT NULL, text TEXT NOT NULL, html TEXT NOT NULL, recorded_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS national_deliveries_place ON national_deliveries (region, month, kind)",
]
# PostgreSQL reads a delivery's rows through an index; DuckDB scans its columns (delivery ids only grow, so
# its zone maps skip the rest) and an index there would only slow every append down.
ROW_INDEXES = [f"CREATE INDEX IF NOT EXISTS national_{k}_delivery ON national_{k} (delivery_id)" for k in ROW_COLUMNS]
FILE_COLUMNS = ("file_id", "sha256", "filename", "kind", "format", "sender", "received_at", "region", "month",
                "status", "problems", "n_rows")
DELIVERY_COLUMNS = ("delivery_id", "file_id", "region", "month", "kind", "received_at", "sender", "sha256", "n_rows")
# The rows of several deliveries to append at once: (delivery_id, the delivery's rows) each.
Parts = list[tuple[int, list[dict[str, Any]]]]
NOTICE_COLUMNS = ("notice_id", "region", "issued_on", "deadline", "as_of", "items", "text", "html", "recorded_at")


def now_utc() -> str:
    """The received time as stored: UTC, ISO 8601 with microseconds (sorts as text)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_received(value: str) -> str:
    """An ISO date or date-time (naive: UTC) in the stored form."""
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    t = t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Duck:
    """DuckDB through its own driver: one connection, one transaction at a time."""

    def __init__(self, path: str):
        try:
            import duckdb
        except ImportError:
            raise RuntimeError("DuckDB is not installed: pip install 'bup-classifier[national]', or give a "
                               "postgresql:// URL") from None

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.con = duckdb.connect(path)
        self.lock = threading.Lock()

    @contextmanager
    def tx(self) -> Iterator[_Duck]:
        with self.lock:
            self.con.begin()
            try:
                yield self
                self.con.commit()
            except BaseException:
                self.con.rollback()
                raise

    def run(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        cur = self.con.execute(re.sub(r"(?<!:):(\w+)", r"$\1", sql), params or {})
        return cur.fetchall() if cur.description else []

    def bulk(self, table: str, columns: Sequence[str], parts: Parts) -> None:
        import pyarrow as pa

        if not any(rows for _, rows in parts):
            return
        data = pa.table({c: pa.array([i for i, rows in parts for _ in rows] if c == "delivery_id" else
                                     [r.get(c) for _, rows in parts for r in rows],
                                     pa.int64() if c in _INT else pa.string()) for c in columns})
        self.con.register("_incoming", data)
        try:
            self.con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM _incoming")
        finally:
            self.con.unregister("_incoming")

    def close(self) -> None:
        self.con.close()


class _Pg:
    """PostgreSQL through SQLAlchemy Core (rows by COPY)."""

    def __init__(self, url: str):
        from classifier.decisions.store import engine_for

        self.engine = engine_for(url)
        self.conn: Any = None

    @contextmanager
    def tx(self) -> Iterator[_Pg]:
        with self.engine.begin() as conn:
            inner = _Pg.__new__(_Pg)
            inner.engine, inner.conn = self.engine, conn
            yield inner

    def run(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        import sqlalchemy as sa

        res = self.conn.execute(sa.text(sql), params or {})
        return [tuple(r) for r in res.fetchall()] if res.returns_rows else []

    def bulk(self, table: str, columns: Sequence[str], parts: Parts) -> None:
        if not any(rows for _, rows in parts):
            return
        raw = self.conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for delivery_id, rows in parts:
                for r in rows:
                    copy.write_row([delivery_id if c == "delivery_id" else r.get(c) for c in columns])

    def close(self) -> None:
        self.engine.dispose()


def _insert(t: _Duck | _Pg, table: str, columns: Sequence[str], values: dict[str, Any]) -> int:
    """Insert one row whose first column takes the next number of the store's sequence; that number. One statement,
    not two: each costs DuckDB most of a millisecond, and a file took five."""
    first, *rest = columns
    return int(t.run(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                     f"(nextval('national_seq'), {', '.join(':' + c for c in rest)}) RETURNING {first}", values)[0][0])


class Store:
    """The national store; `url` is a DuckDB file path (optionally `duckdb:///PATH`) or `postgresql://…`."""

    def __init__(self, url: str | None = None):
        url = url or DEFAULT_STORE
        self.url = url
        self.db: _Duck | _Pg = _Pg(url) if url.startswith(("postgresql://", "postgres://")) else _Duck(
            url.removeprefix("duckdb:///"))
        with self.db.tx() as t:
            for stmt in SCHEMA + (ROW_INDEXES if self.backend == "postgresql" else []):
                t.run(stmt)

    @property
    def backend(self) -> str:
        return "postgresql" if isinstance(self.db, _Pg) else "duckdb"

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------------

    def ingest(self, d: Delivery, sender: str, received_at: str | None = None) -> dict[str, Any]:
        """Store one checked file (accepted or refused) and, when accepted, each of its (region, month) parts."""
        return self.ingest_many([(d, sender, received_at)])[0]

    def ingest_many(self, files: Sequence[tuple[Delivery, str, str | None]]) -> list[dict[str, Any]]:
        """Store several files in one transaction (all or none), in the order given: what `ingest` does for
        each. One commit for many files is what makes loading an archive fast."""
        with self.db.tx() as t:
            # the rows of every file are appended at the end, one Arrow table (one COPY) per kind: an append
            # a file cost DuckDB ~2.5 ms, and nothing in the transaction reads the row tables before
            rows: dict[str, Parts] = {}
            out = [self._ingest(t, d, sender, received_at, rows) for d, sender, received_at in files]
            for kind, parts in rows.items():
                t.bulk(f"national_{kind}", ROW_COLUMNS[kind], parts)
            return out

    def _ingest(self, t: _Duck | _Pg, d: Delivery, sender: str, received_at: str | None,
                rows_out: dict[str, Parts]) -> dict[str, Any]:
        received = as_received(received_at) if received_at else now_utc()
        sender = redact(sender)  # a sender is a name, never an identity number
        status = "refused" if d.problems else "accepted"
        file_id = _insert(t, "national_files", FILE_COLUMNS, {
            "sha256": d.sha256, "filename": d.filename, "kind": d.kind, "format": d.format, "sender": sender,
            "received_at": received, "region": d.region, "month": d.month, "status": status,
            "problems": json.dumps([p.as_dict() for p in d.problems], ensure_ascii=False),
            "n_rows": 0 if d.problems else d.rows})
        parts = []
        for (region, month), rows in ([] if d.problems else sorted(d.parts.items())):
            earlier = [r[0] for r in t.run(
                "SELECT delivery_id FROM national_deliveries WHERE region = :r AND month = :m AND kind = :k "
                "ORDER BY received_at, delivery_id", {"r": region, "m": month, "k": d.kind})]
            sha = content_hash(rows)
            delivery_id = _insert(t, "national_deliveries", DELIVERY_COLUMNS, {
                "file_id": file_id, "region": region, "month": month, "kind": d.kind, "received_at": received,
                "sender": sender, "sha256": sha, "n_rows": len(rows)})
            rows_out.setdefault(d.kind, []).append((delivery_id, rows))
            parts.append({"delivery_id": delivery_id, "region": region, "month": month, "kind": d.kind,
                          "rows": len(rows), "sha256": sha, "supplement": bool(earlier),
                          "supersedes": earlier[-1] if earlier else None})
        return {"file_id": file_id, "filename": d.filename, "sha256": d.sha256, "kind": d.kind, "format": d.format,
                "sender": sender, "received_at": received, "region": d.region, "month": d.month, "status": status,
                "problems": [p.as_dict() for p in d.problems], "deliveries": parts}

    def record_notice(self, notice: dict[str, Any]) -> int:
        """Keep a notice as sent (its text and HTML too); notices are never changed afterwards."""
        with self.db.tx() as t:
            notice_id = _insert(t, "national_notices", NOTICE_COLUMNS, {
                "region": notice["region"], "issued_on": notice["issued_on"], "deadline": notice["deadline"],
                "as_of": notice["as_of"], "items": json.dumps(notice["items"], ensure_ascii=False, sort_keys=True),
                "text": notice["text"], "html": notice["html"], "recorded_at": now_utc()})
        return int(notice_id)

    # -- reading ----------------------------------------------------------------------------------

    def _select(self, table: str, columns: Sequence[str], where: str = "", params: dict[str, Any] | None = None,
                order: str = "") -> list[dict[str, Any]]:
        with self.db.tx() as t:
            rows = t.run(f"SELECT {', '.join(columns)} FROM {table} {where} {order}", params)
        return [dict(zip(columns, r, strict=True)) for r in rows]

    def files(self, until: str | None = None) -> list[dict[str, Any]]:
        """Every stored file (oldest first); `until`: received before this stored time."""
        out = self._select("national_files", FILE_COLUMNS, "WHERE received_at < :u" if until else "",
                           {"u": until} if until else None, "ORDER BY received_at, file_id")
        for f in out:
            f["problems"] = json.loads(f["problems"])
        return out

    def deliveries(self, until: str | None = None, region: str | None = None,
                   month: str | None = None) -> list[dict[str, Any]]:
        """Every delivery (a file's region-month part), oldest first, optionally of one region or month."""
        conds, params = [], {}
        for col, v in (("received_at <", until), ("region =", region), ("month =", month)):
            if v is not None:
                name = col.split()[0]
                conds.append(f"{col} :{name}")
                params[name] = v
        return self._select("national_deliveries", DELIVERY_COLUMNS,
                            ("WHERE " + " AND ".join(conds)) if conds else "", params,
                            "ORDER BY received_at, delivery_id")

    def rows(self, kind: str, delivery_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The stored rows of these deliveries of one kind."""
        if not delivery_ids:
            return []
        ids = ", ".join(str(int(i)) for i in delivery_ids)
        return self._select(f"national_{kind}", ROW_COLUMNS[kind], f"WHERE delivery_id IN ({ids})", None,
                            "ORDER BY delivery_id, " + ("unit, area" if kind == "counts" else "id"))

    def notices(self) -> list[dict[str, Any]]:
        out = self._select("national_notices", NOTICE_COLUMNS, order="ORDER BY notice_id")
        for n in out:
            n["items"] = json.loads(n["items"])
        return out

    def version(self, until: str | None = None) -> dict[str, Any]:
        """What the store held (before `until`): counts and one hash over every stored file's hash and time."""
        import hashlib

        files = self.files(until)
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f['file_id']} {f['sha256']} {f['received_at']} {f['status']}\n".encode())
        return {"files": len(files), "accepted": sum(f["status"] == "accepted" for f in files),
                "sha256": h.hexdigest()}

