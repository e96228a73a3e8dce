"""Request limits and failed-authentication throttling, shared by every worker of a service.

The counting is the `limits` library's sliding-window counter. Its storage decides who shares
the counts: `BUP_RATE_LIMIT_STORAGE` names it (any `limits` storage URI: `redis://host:6379`
so that replicas share them, `memcached://…`, or `memory://` for one process alone). When it
is not set, `serve` puts a SQLite file on the machine's shared memory (/dev/shm, else the temp
directory) into it before the workers start, so all workers of one service count together
without extra infrastructure: one short transaction per check (`SharedFileStorage`, tens of
microseconds on tmpfs; docs/operations.md has the figures). Without `serve` (an app made in a
test) the counts are the process's own.

A failing storage never blocks the service: the check is let through and the failure logged
(once a minute), because a rate limit is protection, not access control.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import sqlite3
import tempfile
import threading
import time
from typing import Any

import anyio
from limits import RateLimitItemPerSecond
from limits.storage import Storage, storage_from_string
from limits.storage.base import SlidingWindowCounterSupport, TimestampedSlidingWindow
from limits.strategies import SlidingWindowCounterRateLimiter

ENV_VAR = "BUP_RATE_LIMIT_STORAGE"
log = logging.getLogger("bup_classifier")


class SharedFileStorage(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """A `limits` storage in a SQLite file that every process of one machine can open (`shared:///PATH`).

    Counters are rows (key, count, expiry); a sliding-window hit reads the two windows and adds to the
    current one in one IMMEDIATE transaction, so processes never race. The file holds no secrets: keys
    are caller names and client addresses, counts and times."""

    STORAGE_SCHEME = ["shared"]  # noqa: RUF012 - limits' registry reads it from the class

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any):
        self.path = uri.split("://", 1)[1] or ":memory:"
        self._local = threading.local()
        self._writes = 0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    @property
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=1.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")  # counts need not survive a power loss
            db.execute("CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, "
                       "expires REAL NOT NULL)")
            self._local.db = db
        return db

    def _get(self, db: sqlite3.Connection, key: str, now: float) -> int:
        row = db.execute("SELECT count FROM counters WHERE key = ? AND expires > ?", (key, now)).fetchone()
        return row[0] if row else 0

    def _incr(self, db: sqlite3.Connection, key: str, expiry: float, amount: int, now: float) -> int:
        count = db.execute("INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                           "count = CASE WHEN expires > ?4 THEN count + ?2 ELSE ?2 END, "
                           "expires = CASE WHEN expires > ?4 THEN expires ELSE ?3 END RETURNING count",
                           (key, amount, now + expiry, now)).fetchone()[0]
        self._writes += 1
        if self._writes % 1000 == 0:  # now and then, the rows of windows long gone
            db.execute("DELETE FROM counters WHERE expires < ?", (now,))
        return count

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        db = self._db
        with _transaction(db):
            return self._incr(db, key, expiry, amount, time.time())

    def decr(self, key: str, amount: int = 1) -> int:
        db = self._db
        with _transaction(db):
            db.execute("UPDATE counters SET count = max(0, count - ?) WHERE key = ?", (amount, key))
            return self._get(db, key, time.time())

    def get(self, key: str) -> int:
        return self._get(self._db, key, time.time())

    def get_expiry(self, key: str) -> float:
        row = self._db.execute("SELECT expires FROM counters WHERE key = ?", (key,)).fetchone()
        return row[0] if row else time.time()

    def clear(self, key: str) -> None:
        self._db.execute("DELETE FROM counters WHERE key = ?", (key,))

    def check(self) -> bool:
        return self._db.execute("SELECT 1").fetchone() == (1,)

    def reset(self) -> int | None:
        return self._db.execute("DELETE FROM counters").rowcount

    def _window(self, db: sqlite3.Connection, key: str, expiry: int, now: float) -> tuple[int, float, int, float]:
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        counts = dict(db.execute("SELECT key, count FROM counters WHERE key IN (?, ?) AND expires > ?",
                                 (previous_key, current_key, now)).fetchall())
        previous, current = counts.get(previous_key, 0), counts.get(current_key, 0)
        previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry if previous else 0.0
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, previous_ttl, current, current_ttl

    def acquire_sliding_window_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        db, now = self._db, time.time()
        with _transaction(db):
            previous, previous_ttl, current, _ = self._window(db, key, expiry, now)
            if int(previous * previous_ttl / expiry + current) + amount > limit:
                return False
            self._incr(db, self.sliding_window_keys(key, expiry, now)[1], 2 * expiry, amount, now)
            return True

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        return self._window(self._db, key, expiry, time.time())

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        for k in self.sliding_window_keys(key, expiry, time.time()):
            self.clear(k)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Any:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def shared_storage_for_service() -> str:
    """The storage URI every worker of the service about to start will share (set into the environment
    unless the operator named one); its file is removed when the service ends."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    folder = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    fd, path = tempfile.mkstemp(prefix="bup-limits-", suffix=".db", dir=folder)
    os.close(fd)
    os.chmod(path, 0o600)

    def remove() -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(path + suffix)

    atexit.register(remove)
    os.environ[ENV_VAR] = f"shared://{path}"
    return os.environ[ENV_VAR]


@functools.lru_cache(maxsize=1024)
def window(requests_per_second: float, burst: int) -> RateLimitItemPerSecond:
    """A rate and a burst as a sliding window: `burst` requests in any burst/rate seconds (whole, at least 1)."""
    return RateLimitItemPerSecond(burst, max(1, round(burst / requests_per_second)))


class Limiter:
    """The counts of one service: request limits by caller, failed authentications by client address."""

    def __init__(self, uri: str | None = None):
        self.uri = uri or os.environ.get(ENV_VAR) or "memory://"
        self.storage = storage_from_string(self.uri)
        self.counter = SlidingWindowCounterRateLimiter(self.storage)
        # A storage across the network is asked from a thread, so its round trip never holds the event loop.
        self.remote = not self.uri.startswith(("memory://", "shared://"))
        self._complained = 0.0

    async def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(fn, *args) if self.remote else fn(*args)
        except Exception as exc:  # never a 500 because the counts are out of reach: let it through
            if time.monotonic() - self._complained > 60:
                self._complained = time.monotonic()
                log.error("rate limits: the storage %s failed (%s); requests are not limited meanwhile",
                          self.uri.split("://", 1)[0], type(exc).__name__)
            return None

    async def take(self, name: str, item: RateLimitItemPerSecond) -> float:
        """0 when `name` may go on (counted), else the seconds until it may."""
        if await self._call(self.counter.hit, item, "rate", name) is not False:
            return 0.0
        stats = await self._call(self.counter.get_window_stats, item, "rate", name)
        return max(0.0, stats.reset_time - time.time()) if stats else 1.0

    async def blocked(self, client: str, item: RateLimitItemPerSecond) -> float:
        """Seconds until `client` may try to authenticate again (0: now), without counting a try."""
        if await self._call(self.counter.test, item, "failed", client) is not False:
            return 0.0
        stats = await self._call(self.counter.get_window_stats, item, "failed", client)
        return max(0.0, stats.reset_time - time.time()) if stats else 1.0

    async def failed(self, client: str, item: RateLimitItemPerSecond) -> None:
        """Count a failed authentication of `client`."""
        await self._call(self.counter.hit, item, "failed", client)
