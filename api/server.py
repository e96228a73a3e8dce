"""The server's edges under uvicorn: the log, read timeouts, the connection limit, shutdown.

uvicorn 0.54 (h11) has a keep-alive timeout but no timeout for a request's headers or
body (any byte received cancels its timer), no bound on open connections other than
answering 503 to a request whose headers have arrived, and multi-line tracebacks in its
log. This module adds what it lacks, as a subclass of its h11 protocol:

- **headers** must be complete `header_timeout` seconds after the connection opened or
  the last answer was sent, and a **body** `body_timeout` seconds after its headers;
  otherwise the connection is closed (a body read by the app gets a 408 first, api/app.py);
- at most `max_connections` open connections per worker: a new one past the limit
  closes the connection that has waited longest for a complete request (a slow client,
  never one whose request is being answered; one that was never answered before one that
  was, so a flood of slowloris connections cannot push out journal systems' keep-alive
  connections); when none is waiting, the new connection
  gets a 503 with Retry-After and is closed at once. File descriptors never run out;
- at shutdown, a keep-alive connection waiting for its next request is ended with a FIN
  and read on (what arrives is dropped) until the client closes it, at most `LINGER_S`:
  closing it at once (uvicorn's way) answers a request that was already on its way with
  a TCP reset, which clients report as an error rather than as a closed connection;
- with mutual TLS, the verified client certificate goes into each request's scope state
  (`api.security.PEER_CERT`), where api/auth.py finds the caller it names;
- every log line is one JSON object, a traceback included (as a list of frames, without
  the exception's message, which may quote input);
- with several workers, a worker that dies is logged with its exit code and replaced.
"""

from __future__ import annotations

import contextvars
import logging
import os
import signal
import socket
import sys
import time
import traceback
from collections import OrderedDict
from typing import Any, ClassVar

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.work import Limits
from classifier.privacy import redact

# In each request's scope state with mutual TLS: the verified client certificate (ssl's getpeercert()), which
# api/auth.py maps to a caller. Defined here, not in api.security, so the writer process never imports FastAPI.
PEER_CERT = "bup.peer_cert"
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("bup_request_id", default=None)
log = logging.getLogger("bup_classifier.server")


# ---- the log ------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and any `extra` fields."""

    _PLAIN = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                               + f".{int(record.msecs):03d}Z", "level": record.levelname.lower(),
                               "logger": record.name, "pid": record.process}
        if isinstance(record.msg, dict):
            out.update(record.msg)
        else:
            out["message"] = redact(record.getMessage())
        out.update({k: v for k, v in record.__dict__.items() if k not in self._PLAIN})
        if record.exc_info and record.exc_info[1] is not None:
            out.update(exception_fields(record.exc_info[1]))
        return orjson.dumps(out, default=str).decode()


def exception_fields(exc: BaseException) -> dict[str, Any]:
    """The exception's type and traceback frames; never its message (it may quote the body)."""
    frames = [f"{f.filename}:{f.lineno} in {f.name}: {f.line}" for f in traceback.extract_tb(exc.__traceback__)]
    return {"exception": type(exc).__name__, "traceback": frames}


_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every record made while a request is served carries its id (in a worker thread too)."""
    record = _base_factory(*args, **kwargs)
    rid = REQUEST_ID.get()
    if rid is not None:
        record.request_id = rid
    return record


def configure_logging() -> None:
    """Every logger the service writes to (its own, uvicorn's, asyncio's) as JSON lines on stderr."""
    logging.setLogRecordFactory(_record_with_request_id)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("bup_classifier", "uvicorn.error", "asyncio"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(logging.INFO)
        lg.propagate = name == "bup_classifier"  # tests read it through pytest's root handler
    logging.getLogger("uvicorn.access").handlers[:] = []  # api/app.py writes the access line


# ---- the protocol ---------------------------------------------------------------------------


class _Counter:
    """Connections closed by the server's edges, logged as one summary line at most every 5 s.

    A flood of slow clients is thousands of events a second; one line each would be the
    flood again, in the log.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.since = time.monotonic()

    def note(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = time.monotonic()
        if now - self.since >= 5:
            log.warning("connections closed by the server: %s", ", ".join(f"{k} {v}" for k, v in self.counts.items()),
                        extra={"event": "connections_closed", "seconds": round(now - self.since, 1), **self.counts,
                               "max_connections": Protocol.limits.max_connections})
            self.counts = {}
            self.since = now


LINGER_S = 2.0  # at shutdown: how long an idle connection is read on after its FIN, waiting for the client to close
_REFUSE = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: %d\r\n"
           b"connection: close\r\ncontent-length: %d\r\n\r\n%s")


class Protocol(H11Protocol):
    """uvicorn's h11 protocol with header and body timeouts and a connection limit that evicts slow clients."""

    limits = Limits.from_env()  # serve() sets it; a worker process reads its environment
    # Connections waiting for a complete request, oldest first: those never answered yet (where
    # slow clients sit) are closed before those that have been answered before.
    waiting_new: ClassVar[OrderedDict[Protocol, None]] = OrderedDict()
    waiting_known: ClassVar[OrderedDict[Protocol, None]] = OrderedDict()
    counter = _Counter()

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._timer: Any = None
        self._answered = False
        self._lingering = False
        tls = transport.get_extra_info("ssl_object")
        cert = tls.getpeercert() if tls is not None else None
        if cert:  # verified by the handshake (--tls-client-ca); every request on this connection carries it
            self.app_state = {**self.app_state, PEER_CERT: cert}
        lim = self.limits
        if len(self.connections) > lim.max_connections:
            waiting = self.waiting_new or self.waiting_known
            if waiting:
                oldest, _ = waiting.popitem(last=False)
                oldest._close()
                self.counter.note("evicted_at_limit")
            else:
                body = orjson.dumps({"detail": "too many connections", "errors": [
                    {"path": "$", "message": f"the server holds {lim.max_connections} connections; retry later",
                     "type": "overloaded"}]})
                transport.write(_REFUSE % (lim.retry_after, len(body), body))
                transport.close()
                self.counter.note("refused_at_limit")
                return
        self._phase(h11.IDLE)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # after our FIN at shutdown: read and dropped, so the close is clean
        before = self.conn.their_state
        super().data_received(data)
        if self.conn.their_state is not before:
            self._phase(self.conn.their_state)

    def on_response_complete(self) -> None:
        self._answered = True
        super().on_response_complete()
        if not self.transport.is_closing():
            self._phase(self.conn.their_state)

    def shutdown(self) -> None:
        """Graceful shutdown: a request being answered is finished (with Connection: close); an idle
        connection gets a FIN now and is closed once the client has closed its end, or after LINGER_S."""
        if self.cycle is not None and not self.cycle.response_complete:
            super().shutdown()
            return
        self._cancel_timer()
        self._unlist()
        if not self.transport.can_write_eof():  # TLS: its close sends close_notify
            super().shutdown()
            return
        self._lingering = True
        self._unset_keepalive_if_required()  # its close would not wait for the client
        self.conn.send(h11.ConnectionClosed())
        self.transport.write_eof()
        self._timer = self.loop.call_later(LINGER_S, self._close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._unlist()
        super().connection_lost(exc)

    def _phase(self, state: Any) -> None:
        """Arm the deadline of what the connection now waits for from its client."""
        self._cancel_timer()
        self._unlist()
        if state is h11.IDLE:
            timeout = self.limits.header_timeout
        elif state is h11.SEND_BODY:
            timeout = self.limits.body_timeout + 1  # the app answers 408 first; this is the backstop
        else:
            return  # the request is complete and being answered: not the client's turn
        (self.waiting_known if self._answered else self.waiting_new)[self] = None
        self._timer = self.loop.call_later(timeout, self._expired)

    def _unlist(self) -> None:
        self.waiting_new.pop(self, None)
        self.waiting_known.pop(self, None)

    def _cancel_timer(self) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        self.counter.note("header_timeout" if self.conn.their_state is h11.IDLE else "body_timeout")
        self._close()

    def _close(self) -> None:
        self._unlist()
        self._cancel_timer()
        if not self.transport.is_closing():
            self.transport.close()


# ---- serving ------------------------------------------------------------------------------


def serve(host: str, port: int, workers: int, limits: Limits, tls: dict[str, Any] | None = None,
          forwarded_allow_ips: str | None = None) -> None:
    """Serve api.app under uvicorn with these limits (one process, or a supervisor and `workers` processes).

    `tls`: uvicorn's ssl_* options (certificate, key, and for mutual TLS the client CA).
    `forwarded_allow_ips`: the reverse proxies whose X-Forwarded-For names the client (uvicorn's option;
    None keeps uvicorn's default, $FORWARDED_ALLOW_IPS or 127.0.0.1). The failed-authentication limit
    counts per client address, so behind a proxy it must see the client's, not the proxy's.
    """
    import uvicorn

    os.environ.update(limits.env())  # worker processes read the limits from their environment
    configure_logging()
    config = uvicorn.Config(
        "api.app:app", host=host, port=port, workers=workers, http=Protocol, access_log=False, log_config=None,
        timeout_keep_alive=int(limits.keep_alive), timeout_graceful_shutdown=int(limits.shutdown_timeout),
        proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips, **(tls or {}),
    )
    Protocol.limits = limits
    scheme = "https" if tls else "http"
    # The socket is bound here, so the listening line is true when it is logged. uvicorn's
    # bind_socket uses protocol 0, and asyncio only sets TCP_NODELAY on sockets whose protocol
    # is IPPROTO_TCP: every keep-alive response would then wait ~40 ms for a delayed ACK
    # (measured: 363 req/s and p50 44 ms with one worker, 23 req/s on one connection). Set it
    # on the listening socket; Linux hands it on to every accepted connection.
    sock = listening_socket(config)
    from classifier.decisions import purger_from_env  # here: the decision log's modules load only when serving

    purger_from_env()  # retention, in this (the main) process: once per service, not in each worker
    if os.environ.get("BUP_AUTH_FILE"):  # request limits and failed-login counts: one store for every worker
        from api.ratelimit import shared_storage_for_service

        shared_storage_for_service()
    if config.workers <= 1:
        log.info("bup-classifier listening on %s://%s:%s", scheme, host, port, extra={"event": "listening"})
        uvicorn.Server(config).run(sockets=[sock])
        return
    log.info("bup-classifier listening on %s://%s:%s (%s workers)", scheme, host, port, workers,
             extra={"event": "listening"})
    _supervisor()(config, sockets=[sock]).run()


def listening_socket(config: Any) -> socket.socket:
    """uvicorn's bound socket with TCP_NODELAY set (see `serve`): no 40 ms delayed-ACK stall per answer."""
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _supervisor() -> type:
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        """uvicorn's supervisor, which replaces a dead worker; this one also logs how it died and its successor."""

        def keep_subprocess_alive(self) -> None:
            before = list(self.processes)
            super().keep_subprocess_alive()
            for old, new in zip(before, self.processes, strict=False):
                if new is not old:
                    code = old.exitcode
                    how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"code {code}"
                    log.error("worker %s died (%s); replaced by worker %s", old.pid, how, new.pid,
                              extra={"event": "worker_replaced", "old_pid": old.pid, "exit": how, "new_pid": new.pid})

    return Supervisor
