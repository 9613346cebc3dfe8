"""The forcer daemon: one per GGCC_DIR, serving every launcher of the user.

It listens on ``<GGCC_DIR>/daemon.sock`` (mode 0600 in a 0700 directory:
only the user can ask it to write files) and answers each connection on a
thread with ``service.handle``: a spare thread from earlier connections if
one is waiting, else a new one (a connection may wait minutes on its
compile, so there is no fixed pool). What makes a warm compile cheap
lives here and stays warm: the file-hash cache, toolchain closures, the
stores' connections, the engine with its sandboxes, and ``slots``, which
bound the compiler processes at once to the engine's jobs (GGCC_JOBS,
default the cores), whatever the build tool's -j.

Lifetime: the daemon holds ``daemon.lock`` (flock) while it lives, so at
most one runs per directory and a socket file left by a killed daemon is
known stale: the next daemon removes it. It exits after GGCC_DAEMON_IDLE
seconds (default 600) with nothing to do, on SIGTERM, or on ``ggcc daemon
stop``, after answering the requests it has. Its log is ``daemon.log``.

It also compiles on save: a source it was asked to compile is compiled
again the moment an editor writes it, for the store only, so that the
build's request finds it done (ggcc/daemon/speculation.py).
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import sys
import threading
import time

from ggcc import __version__
from ggcc.base import stats
from ggcc.base import config_file
from ggcc.client import wire
from ggcc.daemon.speculation import Speculator
from ggcc.launcher.compiler_env import logical_cwd
from ggcc.launcher.context import Context
from ggcc.launcher.request import Done, Local, Request
from ggcc.launcher.service import handle, speculate

DEFAULT_IDLE_S = 600.0
SPARE_S = 30.0  # how long a thread with no connection waits for one


class Daemon:
    def __init__(self, root: str, jobs: int, idle_s: float) -> None:
        self.root = root
        self.ctx = Context(root, jobs)
        self.speculator = Speculator(lambda req, known: speculate(req, self.ctx, known), jobs, self.log)
        self.ctx.speculator = self.speculator
        self.idle_s = idle_s
        self.started = time.time()
        self._lock = threading.Lock()
        self._active = 0
        self._served = 0
        self._native = 0  # compiles asked by ggcc-client rather than the Python launcher
        self._hashed_counted = 0  # of ctx.hashes.hashed_bytes, already in stats.log
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._idle = threading.Condition(self._lock)
        # Threads done with their connection wait here for another one:
        # starting a thread per connection cost ~5% of the daemon's CPU on
        # a warm build. _spare counts those not yet promised a connection.
        self._conns: queue.SimpleQueue[socket.socket] = queue.SimpleQueue()
        self._spare = 0

        self.view_ns, _, rest = wire.view().partition(b" ")
        self.view_root = rest.partition(b" ")[0]
        self.socket_id: tuple[int, int] | None = None  # (st_dev, st_ino) of the socket it bound
        self.orphaned = False  # its socket is no longer its own: leave the directory's files alone

    def socket_is_ours(self) -> bool:
        if self.socket_id is None:
            return True
        try:
            with wire.short_path(wire.socket_path(self.root)) as p:
                st = os.stat(p)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.socket_id

    # -- the accept loop -------------------------------------------------------
    def serve(self, listener: socket.socket) -> None:
        listener.settimeout(0.5)
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                with self._lock:
                    idle = self._active == 0 and time.monotonic() - self._last > self.idle_s
                if idle:
                    self.log("idle: exiting")
                    break
                if not self.socket_is_ours():
                    # GGCC_DIR was removed (rm -rf, a CI workspace wiped) or
                    # another daemon serves it now: no launcher can reach
                    # this one, and its exit must not remove the new one's socket.
                    self.orphaned = True
                    self.log("its socket was removed or replaced: exiting")
                    break
                continue
            except OSError as e:
                self.log(f"accept failed: {e}")
                time.sleep(0.1)
                continue
            with self._lock:
                self._active += 1
                self._last = time.monotonic()
                reuse = self._spare > 0
                if reuse:
                    self._spare -= 1
                    self._conns.put(conn)  # under the lock: a spare thread cannot leave meanwhile
            if not reuse:
                threading.Thread(target=self._serve_connections, args=(conn,), daemon=True).start()
        # No new connections; finish the ones in hand.
        with self._idle:
            while self._active:
                self._idle.wait()

    def stop(self) -> None:
        self._stop.set()

    def _serve_connections(self, conn: socket.socket) -> None:
        """Answer conn, then the connections handed over while spare; end
        after SPARE_S without one."""
        while True:
            self._answer(conn)
            with self._lock:
                self._spare += 1
            try:
                conn = self._conns.get(timeout=SPARE_S)
            except queue.Empty:
                with self._lock:
                    try:
                        conn = self._conns.get_nowait()  # promised to us as we timed out
                    except queue.Empty:
                        self._spare -= 1
                        return

    def _answer(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(None)
            request = wire.read(conn)
            if request is not None:
                conn.sendall(wire.encode(self.reply(request)))
        except Exception as e:  # a client gone away, or a bug: never the daemon
            self.log(f"request failed: {e!r}")
        finally:
            conn.close()
            with self._idle:
                self._active -= 1
                self._served += 1
                self._last = time.monotonic()
                self._idle.notify_all()

    # -- requests ----------------------------------------------------------------
    def reply(self, fields: list[bytes]) -> list[bytes]:
        kind = fields[0] if fields else b""
        if kind == b"compile-native":  # from ggcc-client (client/native.c), which says its wire version first
            if len(fields) < 2 or fields[1] != wire.NATIVE_WIRE:
                return [b"error", b"a native client of another wire version"]  # it hands over to Python
            fields, kind = [b"compile", *fields[2:]], b"compile"
            with self._lock:
                self._native += 1
        if kind == b"compile":
            outcome = self.compile(fields)
            if isinstance(outcome, Done):
                return [b"done", b"%d" % outcome.code, outcome.stdout, outcome.stderr]
            return [b"local", outcome.reason.encode(), outcome.say.encode()]
        if kind == b"infer-status" and len(fields) in (2, 3):
            # [cursor]: also the outputs that ended since the first `cursor`.
            session = self.ctx.find_session(fields[1].decode())
            if session is None:
                return [b"status", b"pending 0"]
            out = [b"status", session.status().encode()]
            if len(fields) == 3:
                out += _event_fields(session.events_since(int(fields[2])))
            return out
        if kind == b"infer-wait" and len(fields) == 2:
            return self.infer_report(fields[1].decode())
        if kind == b"make-real" and len(fields) == 4:  # from the placeholder guard (ggcc/preload)
            self.make_real(fields[1].decode(errors="replace"), os.fsdecode(fields[2]), os.fsdecode(fields[3]))
            return [b"real"]
        if kind == b"infer-end" and len(fields) == 2:  # interrupted: forget the session, wait for nothing
            self.ctx.end_session(fields[1].decode(), interrupted=True)
            return [b"ended"]
        if kind == b"status":
            return [b"status", self.status().encode()]
        if kind == b"stop":
            self.stop()
            return [b"stopping"]
        if kind == b"sync":
            self.ctx.settle_all()
            return [b"synced"]
        return [b"error", b"unknown request " + kind[:40]]

    def compile(self, fields: list[bytes]) -> Done | Local:
        compiler, cwd = os.fsdecode(fields[1]), os.fsdecode(fields[2])
        umask, columns, client_view, sinks, argc = int(fields[3], 8), fields[4].decode(), fields[5], fields[6].decode(), \
            int(fields[7])
        argv = tuple(os.fsdecode(a) for a in fields[8:8 + argc])
        env = {}
        for item in fields[8 + argc:]:
            k, _, v = os.fsdecode(item).partition("=")
            env[k] = v
        # ggcc-client leaves a config file's settings to the daemon (unless
        # they are its own: client/native.c); the Python launcher merged them.
        config_file.merge(env)
        b = env.get(stats.BUILD_ENV, "")
        token = stats.build.set(b if b.isalnum() else "")  # counted for the build that asks too
        try:
            return self._compile(argv, compiler, env, cwd, umask, columns, client_view, sinks)
        finally:
            stats.build.reset(token)

    def _compile(self, argv: tuple[str, ...], compiler: str, env: dict[str, str], cwd: str, umask: int, columns: str,
                 client_view: bytes, sinks: str) -> Done | Local:
        why = self.other_view(client_view, cwd)
        if why:
            # The client sees other files at the same paths (a container or
            # a bwrap sharing GGCC_DIR, a chroot), or its directory is gone:
            # only the compiler there can see what its command means.
            stats.record(self.root, stats.Event.INVOCATION, (stats.Event.LOCAL, why))
            return Local(why)
        from ggcc.preload import without_guard

        env = without_guard(env)  # what the daemon runs on the host must not wait on it
        req = Request(argv, compiler, env, logical_cwd(cwd, env), umask, columns, sinks)
        t = time.monotonic()
        outcome = handle(req, self.ctx)
        with self._lock:
            # Hashing is shared by concurrent requests: count each byte once.
            hashed = self.ctx.hashes.hashed_bytes - self._hashed_counted
            self._hashed_counted += hashed
        stats.record(self.root, (stats.Event.WAIT_MS, int((time.monotonic() - t) * 1000)),
                     *([(stats.Event.BYTES_HASHED, hashed)] if hashed > 0 else []))
        return outcome

    def other_view(self, client: bytes, cwd: str) -> str:
        """Why the client's view of the file system is not the daemon's
        (compared as wire.view() makes it), or ""."""
        ns, _, rest = client.partition(b" ")
        root_id, _, cwd_id = rest.partition(b" ")
        if ns != self.view_ns or ns == b"?":
            return "other-mount-namespace"
        if root_id != self.view_root:
            return "other-root-directory"
        try:
            st = os.stat(cwd)
        except OSError:
            return "cwd-not-visible-to-daemon"
        if cwd_id != b"%d:%d" % (st.st_dev, st.st_ino):
            return "cwd-not-visible-to-daemon"
        return ""

    def make_real(self, sid: str, path: str, reader: str) -> None:
        """A program (``reader``) of session ``sid`` opened the placeholder
        at ``path``: answer once the real output is there. One still being
        made is waited for; one the build moved or copied (no longer this
        session's to make) is forced here."""
        from ggcc.formats import placeholder
        from ggcc.launcher.placeholders import make_real

        session = self.ctx.find_session(sid)
        if session is not None:
            session.waited(reader)
            session.wait(path)
        if placeholder.read(path) is not None:
            env = session.env if session is not None else dict(os.environ)
            make_real(path, Request(("make-real",), "", env, os.path.dirname(path) or "/", 0o022), self.ctx)

    def infer_report(self, sid: str) -> list[bytes]:
        """Wait for every output of the session, then its report: the status
        line, how many events follow and the events (kind, path), then
        (path, exit code, messages) for each output that printed something
        or failed."""
        session = self.ctx.find_session(sid)
        if session is None:
            return [b"report", b"pending 0", b"0"]
        session.wait_all()
        self.ctx.end_session(sid)
        try:
            os.unlink(session.paths_file)
        except FileNotFoundError:
            pass
        events = session.events_since(0)
        with session.lock:  # programs the guard made wait, as events of their own kind
            events += [("guarded", f"{n} {reader}") for reader, n in sorted(session.readers.items())]
        out = [b"report", session.status().encode(), b"%d" % len(events), *_event_fields(events)]
        for path, code, messages in session.report:
            out += [os.fsencode(path), b"%d" % code, messages]
        return out

    def status(self) -> str:
        with self._lock:
            active, served, native = self._active - 1, self._served, self._native  # minus this request
        return (
            f"version {__version__}\npid {os.getpid()}\nuptime {time.time() - self.started:.0f} s\n"
            f"requests {served} answered, {active} in progress\nnative client {native} compiles\njobs {self.ctx.jobs}\n"
            f"idle exit after {self.idle_s:.0f} s\ndirectory {self.root}\n"
        )

    def log(self, message: str) -> None:
        sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} ggcc daemon {os.getpid()}: {message}\n")
        sys.stderr.flush()


def _event_fields(events: list[tuple[str, str]]) -> list[bytes]:
    out: list[bytes] = []
    for kind, path in events:
        out += [kind.encode(), os.fsencode(path)]
    return out


def run(root: str) -> int:
    """Be the daemon for ``root`` until idle or stopped; 0, or 1 if another
    daemon already runs there."""
    import fcntl

    from ggcc.base.config import default_jobs

    os.makedirs(root, mode=0o700, exist_ok=True)
    lock_fd = os.open(os.path.join(root, "daemon.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    # A starting client probes this lock for an instant: retry for a while
    # before deciding another daemon holds it.
    for _ in range(100):
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            time.sleep(0.01)
    else:
        sys.stderr.write(f"ggcc daemon: another daemon already serves {root}\n")
        return 1

    with open(os.path.join(root, wire.STARTED_FILE), "wb"):
        pass  # a starting launcher that then finds no daemon knows it died
    from ggcc.base import settings

    # A wrong value is said by every compile that carries it (service.py);
    # the daemon itself starts with the default, never dies of it.
    jobs = int(settings.number(os.environ, "GGCC_JOBS", default_jobs()))
    idle_s = settings.number(os.environ, "GGCC_DAEMON_IDLE", DEFAULT_IDLE_S)
    daemon = Daemon(root, jobs, idle_s)
    for line in settings.problems(os.environ):
        daemon.log(f"setting: {line}")
    path = wire.socket_path(root)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with wire.short_path(path) as p:
        try:
            os.unlink(p)  # stale: its daemon is dead, since we hold the lock
        except FileNotFoundError:
            pass
        old = os.umask(0o177)
        try:
            listener.bind(p)
        finally:
            os.umask(old)
        st = os.stat(p)
        daemon.socket_id = (st.st_dev, st.st_ino)
    listener.listen(1024)
    from ggcc.base.fsutil import atomic_write_bytes

    atomic_write_bytes(os.path.join(root, "daemon.pid"), b"%d\n" % os.getpid(), 0o600)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop())
    signal.signal(signal.SIGINT, lambda *_: daemon.stop())
    daemon.log(f"serving {root} with {jobs} jobs")
    try:
        daemon.serve(listener)
    finally:
        # Socket first, lock last: a client that cannot connect and finds
        # the lock free starts a new daemon.
        if not daemon.orphaned:
            with wire.short_path(path) as p:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
        listener.close()
        if not daemon.orphaned:
            try:
                os.unlink(os.path.join(root, "daemon.pid"))
            except FileNotFoundError:
                pass
        daemon.speculator.close()
        daemon.ctx.close()
        os.close(lock_fd)
    return 0
