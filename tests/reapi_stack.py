"""A real REAPI farm on 127.0.0.1: PostgreSQL (a private cluster), the
BuildGrid server (its scheduler, CAS and ActionCache in memory) and generic
workers (reapi_worker.py), each on a random port or in its own process.

Used by the tests' fixtures and by integration/reapi-stack for hand use.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from servers import _wait_port, free_port

if TYPE_CHECKING:
    from certs import Certs

HERE = Path(__file__).resolve().parent

# BuildGrid's configuration: a farm (a scheduler on PostgreSQL, an
# execution service) or, with neither, a cache alone, as bazel-remote or a
# hosted service's cache is. CAS and ActionCache in memory either way.
_CONFIG = """\
server:
  - !channel
    address: "127.0.0.1:{port}"
{channel}{authorization}{connections}storages:
  - !lru-storage &cas
    size: 2048MB
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 1000000
    allow-updates: {updates}
    cache-failed-actions: false
{schedulers}instances:
  - name: ''
    services:
      - !action-cache
        cache: *ac
{execution}      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
"""
_FARM = dict(connections="""\
connections:
  - !sql-connection &sql
    connection-string: {db}
""", schedulers="""\
schedulers:
  - !sql-scheduler &sched
    sql: *sql
    action-cache: *ac
    storage: *cas
    poll-interval: 0.05
    bot-session-keepalive-timeout: 10
    assigners:
      - !priority-age-assigner
        interval: 0.05
        jitter-factor: 0.0
""", execution="""\
      - !execution
        scheduler: *sched
""")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise RuntimeError(f"PostgreSQL's {name} not found: install the Debian package 'postgresql'")
    return found[-1]


def _as_postgres(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: its own user runs it then.
    return ["runuser", "-u", "postgres", "--", *argv] if os.getuid() == 0 else argv


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.pg_port = free_port()
        self.port = free_port()
        self.uri = f"grpc://127.0.0.1:{self.port}"
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.pg: Path | None = None

    def start_database(self) -> None:
        # Its own directory: the postgres user cannot reach into root's
        # private pytest directories.
        pg = self.pg = Path(tempfile.mkdtemp(prefix="ggcc-pg-"))
        if os.getuid() == 0:
            shutil.chown(pg, "postgres")
        run = dict(check=True, capture_output=True, timeout=60)
        subprocess.run(_as_postgres([_pg_bin("initdb"), "-A", "trust", "-U", "bgd", "-D", str(pg / "data")]), **run)  # type: ignore[call-overload]
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(pg / "data"), "-l", str(pg / "log"), "-w", "-o",
                                     f"-p {self.pg_port} -k {pg} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]), **run)  # type: ignore[call-overload]
        subprocess.run(_as_postgres([_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "bgd", "bgd"]), **run)  # type: ignore[call-overload]
        self.db = f"postgresql+psycopg2://bgd@127.0.0.1:{self.pg_port}/bgd"
        subprocess.run([self._bgd(), "migrate", "apply", self.db], **run)  # type: ignore[call-overload]

    def _bgd(self) -> str:
        return os.path.join(os.path.dirname(sys.executable), "bgd")

    def start_server(self, cache_only: bool = False, certs: Certs | None = None, jwt_secret: Path | None = None,
                     read_only: bool = False) -> None:
        """``certs``: TLS, clients' certificates required (mutual TLS);
        ``jwt_secret``: every call needs a bearer token signed with it (HS256);
        ``read_only``: no client may write ActionCache entries."""
        channel = "    insecure-mode: true\n" if certs is None else (
            f"    insecure-mode: false\n    credentials:\n      tls-server-key: {certs.server_key}\n"
            f"      tls-server-cert: {certs.server_cert}\n      tls-client-certs: {certs.ca}\n")
        auth = "" if jwt_secret is None else (
            f"authorization:\n  method: jwt\n  secret: {jwt_secret}\n  algorithm: hs256\n")
        farm = dict.fromkeys(_FARM, "") if cache_only else {k: v.format(db=self.db) for k, v in _FARM.items()}
        (self.dir / "server.yml").write_text(_CONFIG.format(port=self.port, channel=channel, authorization=auth,
                                                                    updates=str(not read_only).lower(), **farm))
        if certs is not None:
            self.uri = f"grpcs://127.0.0.1:{self.port}"
        log = open(self.dir / "server.log", "ab")
        self.server = subprocess.Popen([self._bgd(), "server", "start", str(self.dir / "server.yml")], stdout=log, stderr=log,
                                       cwd=self.dir, start_new_session=True)
        _wait_port(self.port, self.server, "bgd server", timeout=90)

    def kill_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait()

    def kill_workers(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def start_worker(self) -> subprocess.Popen[bytes]:
        n = len(self.workers)
        root = self.dir / f"worker{n}"
        root.mkdir(exist_ok=True)
        log = open(self.dir / f"worker{n}.log", "ab")
        p = subprocess.Popen([sys.executable, str(HERE / "reapi_worker.py"), self.uri, str(root), "", f"bot{n}"],
                             stdout=log, stderr=log, start_new_session=True)
        self.workers.append(p)
        return p

    def stop(self) -> None:
        self.kill_workers()
        self.kill_server()
        if self.pg is not None:
            subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(self.pg / "data"), "-m", "immediate",
                                         "stop"]), capture_output=True, timeout=60)
            shutil.rmtree(self.pg, ignore_errors=True)


@contextmanager
def buildgrid(workdir: Path, workers: int = 1) -> Iterator[Stack]:
    stack = Stack(workdir)
    try:
        stack.start_database()
        stack.start_server()
        for _ in range(workers):
            stack.start_worker()
        yield stack
    finally:
        stack.stop()


@contextmanager
def buildgrid_cache(workdir: Path, certs: Certs | None = None, jwt_secret: Path | None = None,
                    read_only: bool = False) -> Iterator[Stack]:
    """BuildGrid as a cache only (CAS and ActionCache; no database, no
    workers); with TLS and bearer tokens if asked (start_server)."""
    stack = Stack(workdir)
    try:
        stack.start_server(cache_only=True, certs=certs, jwt_secret=jwt_secret, read_only=read_only)
        yield stack
    finally:
        stack.stop()


if __name__ == "__main__":  # integration/reapi-stack
    d = Path(tempfile.mkdtemp(prefix="ggcc-reapi-"))
    with buildgrid(d, int(sys.argv[1]) if len(sys.argv) > 1 else 2) as s:
        print(f"BuildGrid at {s.uri} ({len(s.workers)} workers; logs in {d}); Ctrl-C stops it\n"
              f"  GGCC_ENGINE=reapi GGCC_REAPI={s.uri}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
