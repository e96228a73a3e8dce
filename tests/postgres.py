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
import subprocess
import tempfile
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
