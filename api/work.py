"""The service's limits and its one execution model.

The event loop does I/O: it accepts connections, reads bodies and writes answers, and
answers what costs microseconds: health, the rule set, static files, and a single contact
whose body is at most 16 KiB (api/app.py INLINE_MAX_BYTES; bounded below ~0.5 ms, less
than the hop to a thread costs). Everything else a POST asks for, decoding its JSON
included, runs in one bounded pool of worker threads:

- at most `max_heavy` batch, timeline and report requests at once, and at most
  `max_queued` requests in the pool in all; past either bound the answer is **503** with
  `Retry-After`, at once, instead of a queue that grows;
- each job has a time limit (`time_limit`); past it the answer is **503** and the job is
  told to stop;
- each request has a memory budget (`memory_budget`, MiB): a JSON body whose values, counted
  before it is parsed, would need more is refused with **413** (api/app.py `decode`), a
  caller's YAML file is read under `yaml_max_*` (classifier/examples.py `read_text`), and
  a job that still runs out of memory is answered **503**, its worker kept;
- a job is told to stop too when its client goes away or the server shuts down. Batches
  and timelines check between items (`classifier.classify.Cancelled`); one item is never
  interrupted half-way, since durable-rules is not thread-safe and each decision holds
  the engine's process-wide lock for its ~40 µs.

A slot is given back when the thread has really finished, not when the answer was given
up on, so the bounds hold for the threads themselves.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import resource
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from classifier import examples

T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """Every limit of the service; each is read from `BUP_<NAME>` (e.g. BUP_TIME_LIMIT=10)."""

    threads: int = 4  # worker threads for decoding, validation, classification, encoding
    max_heavy: int = 2  # batch, timeline and report requests in the pool at once
    max_queued: int = 256  # requests in the pool at once, of any kind
    time_limit: float = 30.0  # seconds a request may spend in the pool
    retry_after: int = 1  # seconds, in the Retry-After of a 503
    header_timeout: float = 10.0  # seconds from connection (or the last answer) to a request's complete headers
    body_timeout: float = 30.0  # seconds from the headers to the complete body
    keep_alive: float = 5.0  # seconds an idle keep-alive connection is kept
    max_connections: int = 2048  # open connections per worker process (capped by the file-descriptor limit)
    shutdown_timeout: float = 30.0  # seconds a stopping server waits for what it accepted
    memory_budget: int = 512  # MiB one request's parsed body may need (counted before parsing it)
    yaml_max_chars: int = examples.YAML_MAX_CHARS  # characters in a caller's YAML file (the workbench's "open")
    yaml_max_depth: int = examples.YAML_MAX_DEPTH  # levels of nesting in it
    yaml_max_nodes: int = examples.YAML_MAX_NODES  # keys, values and items in it

    @classmethod
    def from_env(cls) -> Limits:
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = os.environ.get(f"BUP_{f.name.upper()}")
            if raw is not None:
                values[f.name] = type(f.default)(raw)
        limits = cls(**values)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft != resource.RLIM_INFINITY and limits.max_connections > soft - 256:
            limits = cls(**{**values, "max_connections": max(16, soft - 256)})
        return limits

    def env(self) -> dict[str, str]:
        """These limits as the environment a worker process reads them from."""
        return {f"BUP_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}


class Overloaded(Exception):
    """No room in the pool: 503 with Retry-After."""

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)


class TimeLimit(Exception):
    """The job ran past the time limit: 503."""


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


class Work:
    """The bounded worker pool every POST runs in (see the module docstring)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.pool = ThreadPoolExecutor(limits.threads, thread_name_prefix="bup-work")
        self.queued = 0
        self.heavy = 0

    async def run(self, receive: Callable[[], Any] | None, heavy: bool,
                  fn: Callable[[threading.Event], T]) -> T:
        """Run `fn(cancelled)` in the pool; stop it when the client goes, the time runs out or the task is cancelled.

        `receive` is the request's ASGI receive, its body already read: it returns only
        when the client disconnects.
        """
        lim = self.limits
        if self.queued >= lim.max_queued:
            raise Overloaded(f"the service is busy ({lim.max_queued} requests in progress)")
        if heavy and self.heavy >= lim.max_heavy:
            raise Overloaded(f"the service is busy ({lim.max_heavy} batch, timeline or report requests in progress)")
        self.queued += 1
        self.heavy += heavy
        cancelled = threading.Event()
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()  # the request id follows the job into its thread
        future = loop.run_in_executor(self.pool, ctx.run, fn, cancelled)
        future.add_done_callback(lambda f: self._release(f, heavy))
        watch = asyncio.ensure_future(_disconnected(receive)) if receive is not None else None
        try:
            done, _ = await asyncio.wait([future, watch] if watch else [future], timeout=lim.time_limit,
                                         return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled (shutdown past its grace time): the job stops at its next item
            cancelled.set()
            raise
        finally:
            if watch is not None and not watch.done():
                watch.cancel()
        if future in done:
            return future.result()
        cancelled.set()
        if watch is not None and watch in done:
            raise ClientGone()
        raise TimeLimit()

    def _release(self, future: asyncio.Future[Any], heavy: bool) -> None:
        self.queued -= 1
        self.heavy -= heavy
        if not future.cancelled():
            future.exception()  # retrieved, so an answer given up on leaves no "never retrieved" noise

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


async def _disconnected(receive: Callable[[], Any]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
