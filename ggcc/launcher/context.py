"""What outlives one request in the daemon: caches, stores, engines,
compiler slots, identical steps run once, ``ggcc infer`` sessions,
bookkeeping done after the answer."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol, TypeVar

from ggcc.base import stats
from ggcc.base.fsutil import gone_under
from ggcc.launcher.request import Request
from ggcc.launcher.rewrites import Rewrites

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from ggcc.dependency_scan.scan_cache import ScanCache
    from ggcc.engines import Engine, EngineSettings
    from ggcc.launcher.deferred import Session
    from ggcc.storage.hash_cache import HashCache
    from ggcc.storage.store import Store

T = TypeVar("T")


class SaveWatch(Protocol):
    """What the steps tell the daemon's compiling-on-save (daemon/speculation.py)
    and ask of it; the launcher knows it only by this face."""

    def remember(self, req: Request, source: str) -> None: ...
    def forget(self, source: str) -> None: ...
    def remember_link(self, req: Request, inputs: list[str]) -> None: ...
    def made(self, path: str, id_: str, known: dict[str, str]) -> None: ...
    def wait_for(self, req: Request) -> None: ...
    def take(self, thunk_id: str) -> bool: ...


# Records (filing what a compile read, pushing to shared stores) wait until
# no request has been answered for QUIET_S: on a machine the build keeps
# busy, their CPU would come out of the compiles'. The bounds keep a long
# build's backlog (memory, work a killed daemon loses) small.
QUIET_S = 0.25
RECORD_DELAY_S = 60.0  # the longest a record waits for quiet
RECORD_BACKLOG = 1000  # more pending than this: the oldest go at once


@dataclass
class Context:
    """What outlives one request: caches, stores, the engine and its slots.

    ``slots`` bounds the compiler processes ggcc starts at once (scans and
    executions), whatever the build tool's -j.
    """

    root: str
    jobs: int
    slots: threading.Semaphore = field(init=False)
    _hashes: HashCache | None = field(default=None, init=False)
    _scan_cache: ScanCache | None = field(default=None, init=False)
    _stores: dict[str, Store] = field(default_factory=dict, init=False)
    _engines: dict[tuple[int, EngineSettings], Engine] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _inflight: dict[str, threading.Event] = field(default_factory=dict, init=False)
    _sessions: dict[str, Session] = field(default_factory=dict, init=False)
    _ended: set[str] = field(default_factory=set, init=False)  # sessions ended by an interrupt
    _keyed: dict[tuple[str, ...], threading.Lock] = field(default_factory=dict, init=False)
    _after: ThreadPoolExecutor | None = field(default=None, init=False)
    _recording: dict[str, Future[None]] = field(default_factory=dict, init=False)  # by each of its keys
    _pending: int = field(default=0, init=False)  # records not yet done
    _to_say: list[str] = field(default_factory=list, init=False)
    _dir_problem: str = field(default="", init=False)
    _dir_checked_until: float = field(default=0.0, init=False)
    _checked_settings: dict[tuple[tuple[str, str], ...], list[str]] = field(default_factory=dict, init=False)
    _answering: int = field(default=0, init=False)  # requests being answered now
    _answered_at: float = field(default=0.0, init=False)  # monotonic time the last answer went
    _settling: int = field(default=0, init=False)  # lookups waiting for a record
    _quiet: threading.Condition = field(init=False)
    speculator: SaveWatch | None = field(default=None, init=False)  # the daemon's: compiling on save
    rewrites: Rewrites = field(default_factory=Rewrites, init=False)  # probe files, by behaviour

    def __post_init__(self) -> None:
        self.slots = threading.Semaphore(max(1, self.jobs))
        self._quiet = threading.Condition(self._lock)

    def answering(self, delta: int) -> None:
        """Count a request in (+1) or out (-1): records wait for quiet."""
        with self._lock:
            self._answering += delta
            if self._answering == 0:
                self._answered_at = time.monotonic()

    @property
    def hashes(self) -> HashCache:
        with self._lock:
            if self._hashes is None:
                from ggcc.storage.hash_cache import HashCache

                self._hashes = HashCache(self.root)
            return self._hashes

    @property
    def scan_cache(self) -> ScanCache:
        hashes = self.hashes
        with self._lock:
            if self._scan_cache is None:
                from ggcc.dependency_scan.scan_cache import ScanCache

                self._scan_cache = ScanCache(self.root, hashes)
            return self._scan_cache

    def store(self, env: dict[str, str]) -> Store:
        """The store a build's settings name, one per URI and credentials."""
        from ggcc.storage import STORE_SETTINGS, open_store, storage_uri

        uri = storage_uri(env)
        key = "\0".join((uri, *(env.get(k, "") for k in STORE_SETTINGS)))
        with self._lock:
            s = self._stores.get(key)
            if s is None:
                s = self._stores[key] = open_store(self.root, uri, env)
            return s

    def engine(self, store: Store, env: dict[str, str]) -> Engine:
        """The engine the build's settings name (local, workers, lambda),
        kept per store and settings; one that cannot be opened is counted
        and the local engine answers (engines/__init__.py)."""
        from ggcc.engines import EngineSettings, make_engine

        settings = EngineSettings.from_env(env)
        with self._lock:
            key = (id(store), settings)
            e = self._engines.get(key)
            if e is None:
                e = self._engines[key] = make_engine(
                    settings, store, self.jobs, say=self.say_later,
                    on_error=lambda why: stats.record(self.root, (stats.Event.ERROR, f"engine: {why}")))
            return e

    def say_later(self, line: str) -> None:
        """A line for the user from a part with no launcher of its own (an
        engine): the next answer carries it to its launcher's stderr."""
        with self._lock:
            self._to_say.append(line)

    def take_said(self) -> str:
        with self._lock:
            lines, self._to_say = self._to_say, []
        return "".join(f"ggcc: {line}\n" for line in lines)

    def dir_problem(self) -> str:
        """config.dir_problem(root), looked at again at most once a second."""
        from ggcc.base.config import dir_problem

        now = time.monotonic()
        if now >= self._dir_checked_until:
            self._dir_problem = dir_problem(self.root)
            self._dir_checked_until = now + 1.0
        return self._dir_problem

    def bad_settings(self, env: dict[str, str]) -> list[str]:
        """settings.problems(env), remembered per distinct set of values."""
        from ggcc.base import settings

        key = settings.relevant(env)
        got = self._checked_settings.get(key)
        if got is None:
            got = self._checked_settings[key] = settings.problems(env)
        return got

    def once(self, key: str, fn: Callable[[], T]) -> T | None:
        """Run fn unless another request is already running it for the same
        key; then wait for that one and return None (look at its result)."""
        with self._lock:
            ev = self._inflight.get(key)
            mine = ev is None
            if mine:
                ev = self._inflight[key] = threading.Event()
        assert ev is not None
        if not mine:
            ev.wait()
            return None
        try:
            return fn()
        finally:
            with self._lock:
                del self._inflight[key]
            ev.set()

    def session(self, env: dict[str, str]) -> Session | None:
        """The ``ggcc infer`` session this request belongs to, if any."""
        from ggcc.launcher.deferred import SESSION_ENV, Session, session_paths_file

        sid = env.get(SESSION_ENV, "")
        if not sid or not sid.isalnum():
            return None
        with self._lock:
            if sid in self._ended:  # interrupted: its late requests make real outputs, not placeholders
                return None
            s = self._sessions.get(sid)
            if s is None:
                os.makedirs(os.path.join(self.root, "infer"), exist_ok=True)
                s = self._sessions[sid] = Session(sid, session_paths_file(self.root, sid), env=dict(env))
            return s

    def end_session(self, sid: str, interrupted: bool = False) -> Session | None:
        with self._lock:
            if interrupted:
                if len(self._ended) > 1000:
                    self._ended.clear()
                self._ended.add(sid)
            return self._sessions.pop(sid, None)

    def find_session(self, sid: str) -> Session | None:
        with self._lock:
            return self._sessions.get(sid)

    def one_at_a_time(self, key: tuple[str, ...]) -> threading.Lock:
        """A lock per key: the first of 50 compiles needing a toolchain
        captures it (ELF parsing, seconds), the other 49 then find it."""
        with self._lock:
            lock = self._keyed.get(key)
            if lock is None:
                lock = self._keyed[key] = threading.Lock()
            return lock

    def record_later(self, keys: tuple[str, ...], fn: Callable[[], None]) -> None:
        """Bookkeeping under ``keys`` (a direct-mode record here and for
        other roots, a push to the shared store) after the answer, not
        before: it is off the compile's latency. A lookup of one of the keys
        first waits for it (settle).

        It also waits until no request has been answered for QUIET_S (at
        most RECORD_DELAY_S, or until the backlog passes RECORD_BACKLOG):
        during a build on a busy machine its CPU (a scan, hashing, files;
        milliseconds a compile, holding the GIL) would slow the compiles
        and the links after an edit; after the build the cores are idle."""
        due = time.monotonic() + RECORD_DELAY_S

        def busy() -> float:
            """Seconds to wait before looking again; 0 when the record goes."""
            now = time.monotonic()
            if self._settling or now >= due or self._pending > RECORD_BACKLOG:
                return 0.0
            if self._answering:
                return min(due - now, QUIET_S)
            return max(0.0, min(due, self._answered_at + QUIET_S) - now)

        def run() -> None:
            with self._quiet:
                while (left := busy()) > 0:
                    self._quiet.wait(left)
            try:
                fn()
            except Exception as e:  # an optimisation: never fail anything for it
                if gone_under(e, self.root):  # a `ggcc cache clear` as it filed: only cache lost
                    stats.record(self.root, (stats.Event.UNFILED, "store-changed"))
                else:
                    stats.record(self.root, (stats.Event.ERROR, f"{type(e).__name__}: {e}"))
            finally:
                with self._lock:
                    self._pending -= 1
                    for key in keys:
                        if self._recording.get(key) is fut:
                            del self._recording[key]

        with self._lock:
            if self._after is None:
                from concurrent.futures import ThreadPoolExecutor

                self._after = ThreadPoolExecutor(1, thread_name_prefix="ggcc-record")
            fut = self._after.submit(run)
            self._pending += 1
            for key in keys:
                self._recording[key] = fut

    def settle(self, key: str) -> None:
        """Wait for a pending record of ``key``: a lookup right after the
        compile that made it finds it."""
        with self._lock:
            fut = self._recording.get(key)
            if fut is None:
                return
            self._settling += 1
            self._quiet.notify_all()  # records waiting for quiet go now
        try:
            fut.result()
        finally:
            with self._lock:
                self._settling -= 1

    def settle_all(self) -> None:
        """Wait for every pending record (`ggcc daemon sync`); they go at
        once, not when the daemon is quiet."""
        with self._lock:
            pending = list(set(self._recording.values()))
            self._settling += 1
            self._quiet.notify_all()
        try:
            for fut in pending:
                fut.result()
        finally:
            with self._lock:
                self._settling -= 1

    def close(self) -> None:
        for e in self._engines.values():
            e.shutdown()
        self._engines.clear()
        if self._after is not None:
            self._after.shutdown(wait=True)
