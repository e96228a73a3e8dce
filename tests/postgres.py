"""A real PostgreSQL server for the decision-log tests (Debian's packages; `make test` installs them).

initdb into a fresh temporary directory as the `postgres` user (the tests run as root,
and PostgreSQL refuses to run as root), listening on a free loopback port only, with
trust authentication for that one local user; stopped and removed at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from tests.server import free_port


def bin_dir() -> str | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else None


def _user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user to run PostgreSQL as")


@dataclass
class Postgres:
    bindir: str
    datadir: str
    port: int
    user: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/bup"

    def _run(self, *args: str) -> None:
        cmd = [f"{self.bindir}/{args[0]}", *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", self.datadir, "-l", f"{self.datadir}/server.log", "-w", "-t", "60", "start",
                  "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.datadir} "
                        "-c fsync=on -c max_connections=50")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.datadir, "-w", "-t", "60", "-m", mode, "stop")


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """Start a throw-away PostgreSQL on 127.0.0.1 with an empty database `bup`; yield it; stop it."""
    bindir = bin_dir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's postgresql")
    user = _user()
    root = tempfile.mkdtemp(prefix="bup-pg-")
    info = pwd.getpwnam(user)
    os.chown(root, info.pw_uid, info.pw_gid)
    pg = Postgres(bindir, f"{root}/data", free_port(), user)
    try:
        pg._run("initdb", "-D", pg.datadir, "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync")
        pg.start()
        pg._run("createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", user, "bup")
        yield pg
    finally:
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError):
            pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


class StallingProxy:
    """A TCP proxy to `port` on loopback that can stall: accept connections and read what is sent, but
    forward nothing either way (a database that accepts TCP and never answers, or a network path
    that drops everything while the peers' kernels keep the connections up) until `resume`."""

    def __init__(self, port: int):
        self.target = port
        self.flowing = threading.Event()
        self.flowing.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, pg: Postgres) -> str:
        return f"postgresql://{pg.user}@127.0.0.1:{self.port}/bup"

    def stall(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self._closed = True
        self.flowing.set()
        for s in [self._listener, *self._sockets]:
            with suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.flowing.wait()  # a connection made while stalled is accepted, and nothing comes of it
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(1 << 16):
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
