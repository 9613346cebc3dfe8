"""One compiler or archiver invocation as a thunk: the launcher's real work.

The daemon runs this for every client, the in-process launcher
(GGCC_DAEMON=0) for itself; neither looks at its own process state. A
``Request`` carries what the launcher saw (argv, environment, working
directory, umask, whether stderr is a terminal), and ``handle`` answers with
the compiler's exit code and the bytes it printed, the outputs already in
place, or ``Local(reason)``: run the real compiler yourself.

Never a broken build: a thunk that fails, for any reason, is answered
``Local``, so the real compiler runs and its result is by definition the
plain compiler's; an unexpected error does the same.

The flow for a compile: parse; toolchain files; direct-mode lookup (no
compiler started); else the header closure and the user's depfile from a
-M scan, a thunk with every input at its host path under the sandbox root,
forced on the engine (a cache hit runs nothing), the object written
atomically.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Callable, TypeVar

from ggcc import placement, stats
from ggcc.launcher.args import Compile, Local, parse
from ggcc.launcher.rewrites import PROBE_STREAK, Rewrites

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from ggcc.dependency_scan.headers import Scan, Verification
    from ggcc.dependency_scan.scan_cache import ScanCache
    from ggcc.engines import Engine
    from ggcc.launcher import travel
    from ggcc.launcher.deferred import Session
    from ggcc.hash_cache import HashCache
    from ggcc.local_store import LocalStore
    from ggcc.result import Result
    from ggcc.speculation import Speculator
    from ggcc.thunk import Thunk

T = TypeVar("T")

RECORD_DELAY_S = 2.0  # the longest a direct-mode record waits for the daemon to be quiet

# Environment variables that change what the compiler reads or writes in
# ways a thunk does not model: with any of them set, compile locally.
_UNMODELLED_ENV = (
    "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "GCC_EXEC_PREFIX",
    "COMPILER_PATH", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", "GCC_COMPARE_DEBUG",
)

# clang options that make it start other programs (an external assembler,
# a separate cc1): those would not run through the shipped loader.
_CLANG_OUT_OF_PROCESS = frozenset({"-fno-integrated-as", "-no-integrated-as", "-fno-integrated-cc1", "-save-temps"})

_COLOR_FLAGS = ("-fdiagnostics-color", "-fno-diagnostics-color", "-fcolor-diagnostics", "-fno-color-diagnostics")


@dataclass(frozen=True)
class Request:
    argv: tuple[str, ...]  # the compiler as the user named it, then its arguments
    compiler: str  # argv[0] resolved on PATH
    env: dict[str, str]  # the compiler's environment (PEP 538 coercion undone)
    cwd: str  # the logical working directory ($PWD when it is the cwd)
    umask: int
    stderr_columns: str = ""  # the terminal's width if stderr is a terminal, else ""
    sinks: str = "pp"  # where stdout and stderr go (client.sinks): t, n (/dev/null), f (a file), p


@dataclass(frozen=True)
class Done:
    code: int
    stdout: bytes = b""
    stderr: bytes = b""


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
    _stores: dict[str, LocalStore] = field(default_factory=dict, init=False)
    _engines: dict[tuple[int, bool, str], Engine] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _inflight: dict[str, threading.Event] = field(default_factory=dict, init=False)
    _sessions: dict[str, Session] = field(default_factory=dict, init=False)
    _ended: set[str] = field(default_factory=set, init=False)  # sessions ended by an interrupt
    _keyed: dict[tuple[str, ...], threading.Lock] = field(default_factory=dict, init=False)
    _after: ThreadPoolExecutor | None = field(default=None, init=False)
    _recording: dict[str, Future[None]] = field(default_factory=dict, init=False)
    _to_say: list[str] = field(default_factory=list, init=False)
    _dir_problem: str = field(default="", init=False)
    _dir_checked_until: float = field(default=0.0, init=False)
    _checked_settings: dict[tuple[tuple[str, str], ...], list[str]] = field(default_factory=dict, init=False)
    _answering: int = field(default=0, init=False)  # requests being answered now
    _settling: int = field(default=0, init=False)  # lookups waiting for a record
    _quiet: threading.Condition = field(init=False)
    speculator: Speculator | None = field(default=None, init=False)  # the daemon's: compiling on save
    rewrites: Rewrites = field(default_factory=Rewrites, init=False)  # probe files, by behaviour

    def __post_init__(self) -> None:
        self.slots = threading.Semaphore(max(1, self.jobs))
        self._quiet = threading.Condition(self._lock)

    def answering(self, delta: int) -> None:
        """Count a request in (+1) or out (-1): records wait for quiet."""
        with self._lock:
            self._answering += delta
            if self._answering == 0:
                self._quiet.notify_all()

    @property
    def hashes(self) -> HashCache:
        with self._lock:
            if self._hashes is None:
                from ggcc.hash_cache import HashCache

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

    def store(self, env: dict[str, str]) -> LocalStore:
        from ggcc.storage import open_store, storage_uri

        uri = storage_uri(env)
        key = "\0".join((uri, env.get("GGCC_REDIS_USERNAME", ""), env.get("GGCC_REDIS_PASSWORD", "")))
        with self._lock:
            s = self._stores.get(key)
            if s is None:
                s = self._stores[key] = open_store(self.root, uri, env)
            return s

    def engine(self, store: LocalStore, env: dict[str, str]) -> Engine:
        """The engine GGCC_ENGINE names (local, workers, lambda), kept per store."""
        from ggcc.engines.local import LocalEngine

        from ggcc.config import strict_sandbox

        strict = strict_sandbox(env)
        name = env.get("GGCC_ENGINE") or "local"
        with self._lock:
            key = (id(store), strict, name)
            e = self._engines.get(key)
            if e is None:
                local = LocalEngine(store, self.jobs, strict=strict)
                e = local
                if name == "workers":
                    from ggcc.engines.workers import open_workers_engine
                    from ggcc.errors import GgccError

                    try:
                        e = open_workers_engine(store, local)
                    except GgccError as why:
                        stats.record(self.root, f"error engine: {why.message}")
                elif name == "lambda":
                    from ggcc.engines.aws_lambda import open_lambda_engine
                    from ggcc.errors import GgccError

                    try:
                        e = open_lambda_engine(store, local, env, say=self.say_later)
                    except GgccError as why:
                        stats.record(self.root, f"error engine: {why.message}")
                elif name != "local":
                    stats.record(self.root, f"error engine: unknown engine {name!r}; using local")
                self._engines[key] = e
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
        from ggcc.config import dir_problem

        now = time.monotonic()
        if now >= self._dir_checked_until:
            self._dir_problem = dir_problem(self.root)
            self._dir_checked_until = now + 1.0
        return self._dir_problem

    def bad_settings(self, env: dict[str, str]) -> list[str]:
        """settings.problems(env), remembered per distinct set of values."""
        from ggcc import settings

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

    def record_later(self, key: str, fn: Callable[[], None]) -> None:
        """Bookkeeping for ``key`` (a direct-mode record, a push to the
        shared store) after the answer, not before: it is off the compile's
        latency. A lookup of the same key first waits for it (settle).

        It also waits until no request is being answered (at most
        RECORD_DELAY_S): after an edit, the links that follow the compile
        are on the build's critical path, and a record (~10 ms, holding
        the GIL) would slow them down."""
        due = time.monotonic() + RECORD_DELAY_S

        def run() -> None:
            with self._quiet:
                while self._answering and not self._settling and (left := due - time.monotonic()) > 0:
                    self._quiet.wait(left)
            try:
                fn()
            except Exception as e:  # an optimisation: never fail anything for it
                stats.record(self.root, f"error {type(e).__name__}: {e}")
            finally:
                with self._lock:
                    if self._recording.get(key) is fut:
                        del self._recording[key]

        with self._lock:
            if self._after is None:
                from concurrent.futures import ThreadPoolExecutor

                self._after = ThreadPoolExecutor(1, thread_name_prefix="ggcc-record")
            fut = self._after.submit(run)
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

    def close(self) -> None:
        for e in self._engines.values():
            e.shutdown()
        self._engines.clear()
        if self._after is not None:
            self._after.shutdown(wait=True)


def handle(req: Request, ctx: Context) -> Done | Local:
    """Answer one invocation; never raises (an error is a counted Local)."""
    token = stats.build.set(_build_id(req.env))
    try:
        outcome = _handle(req, ctx)
    finally:
        stats.build.reset(token)
    said = ctx.take_said() if ctx._to_say else ""
    if not said:
        return outcome
    if isinstance(outcome, Done):
        return Done(outcome.code, outcome.stdout, said.encode() + outcome.stderr)
    return Local(outcome.reason, outcome.say + said)


def _build_id(env: dict[str, str]) -> str:
    b = env.get(stats.BUILD_ENV, "")
    return b if b.isalnum() else ""


def _handle(req: Request, ctx: Context) -> Done | Local:
    from ggcc.launcher.archive import is_archiver
    from ggcc.launcher.link import is_ld

    bad = ctx.bad_settings(req.env)
    if bad:
        return _off_for_bad_settings(ctx, bad)
    unusable = ctx.dir_problem()
    if unusable:
        return _off(ctx, "ggcc-dir-unusable", [_dir_line(ctx.root, unusable)], f"ggcc-dir-unusable {ctx.root}")
    tool = req.argv[0]
    step = archive_as_thunk if is_archiver(tool) else link_as_thunk if is_ld(tool) else compile_as_thunk
    ctx.answering(+1)
    try:
        outcome = _attempt(step, req, ctx)
        if isinstance(outcome, Local) and outcome.reason in _AGAIN:
            # A damaged blob is gone from the store (and counted), or one
            # believed there was not (a `ggcc cache clear`): this time the
            # step finds no hit on it and runs, its inputs stored afresh
            # from the host.
            ctx.store(req.env).forget()
            outcome = _attempt(step, req, ctx)
    except Exception as e:  # never let ggcc break a build
        import errno

        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            return _off(ctx, "ggcc-dir-unusable", [_dir_line(ctx.root, e.strerror or str(e))], f"ggcc-dir-unusable {ctx.root}")
        stats.record(ctx.root, "invocation", f"error {type(e).__name__}: {e}", "local internal-error")
        return Local("internal-error")
    finally:
        ctx.answering(-1)
    if isinstance(outcome, Local):
        stats.record(ctx.root, "invocation", f"local {outcome.reason}")
        try:
            _make_arguments_real(req, ctx)
        except Exception as e:
            stats.record(ctx.root, f"error {type(e).__name__}: {e}")
    return outcome


_AGAIN = frozenset({"corrupt-blob", "store-changed"})  # reasons to try a step once more


def _off_for_bad_settings(ctx: Context, bad: list[str]) -> Local:
    """A wrong setting turns ggcc off for the compile (never guessed at: a
    typo in GGCC_STORAGE must not quietly build without the shared store)."""
    return _off(ctx, "bad-setting", bad)


def _dir_line(root: str, why: str) -> str:
    full = why.startswith("full") or "space" in why.lower() or "quota" in why.lower()
    todo = "free space there or set GGCC_DIR to another directory" if full else "set GGCC_DIR to a writable directory"
    return f"GGCC_DIR={root} cannot be used ({why}): {todo}"


def _off(ctx: Context, reason: str, lines: list[str], same: str = "") -> Local:
    """ggcc off for this compile: counted, and said once per build
    (``same``: what makes two notices the same one, if not their text)."""
    from ggcc import notice

    stats.record(ctx.root, "invocation", f"local {reason}")
    say = ""
    if notice.first_in_build(ctx.root, same or "\n".join(lines)):
        say = "".join(f"ggcc: {line} (until then ggcc is off: compilers run without it)\n" for line in lines)
    return Local(reason, say)


def _attempt(step: Callable[[Request, Context], Done | Local], req: Request, ctx: Context) -> Done | Local:
    from ggcc.local_store import CorruptBlob, MissingBlob

    try:
        return step(req, ctx)
    except CorruptBlob:
        return Local("corrupt-blob")
    except MissingBlob:
        return Local("store-changed")
    except FileNotFoundError as e:
        if str(e.filename or "").startswith(ctx.root + os.sep):  # a file of the store, removed as we used it
            return Local("store-changed")
        raise
    except placement.NotAFile:  # became one since the step began (a FIFO nobody reads): the tool waits or fails
        return Local("output-not-a-file")


def _make_arguments_real(req: Request, ctx: Context) -> None:
    """In deferred mode, before the real tool runs here (`ar cru`, a link
    ggcc does not model): every placeholder it names is forced and put in
    place first, so the tool never reads one."""
    if ctx.session(req.env) is None:
        return
    from ggcc import placeholder

    store = ctx.store(req.env)
    for a in req.argv[1:]:
        if a.startswith("-"):
            continue
        path = os.path.join(req.cwd, a)
        try:
            small = os.path.getsize(path) <= placeholder.MAX_SIZE
        except OSError:
            continue
        if small and placeholder.is_placeholder(path):
            _make_real(path, store, ctx, req)


def speculate(req: Request, ctx: Context, known: dict[str, str]) -> str | None:
    """Run ``req`` again for the store (and a compile's manifest) only: its
    source was just saved, or a link input made (see ggcc/speculation.py).
    The id of the thunk it executed, or None if it executed nothing."""
    made: list[str] = []
    compile_as_thunk(req, ctx, made, known)
    return made[0] if made else None


def compile_as_thunk(req: Request, ctx: Context, speculated: list[str] | None = None,
                     known: dict[str, str] | None = None) -> Done | Local:
    """``speculated``: not None for a speculation, which writes nothing into
    the build tree and appends to it the id of the thunk it executed;
    ``known``: a speculated link's inputs made by speculations."""
    begun: list[str] = []  # the source, once ctx.rewrites has been told of this compile
    try:
        return _compile(req, ctx, speculated, known, begun)
    finally:
        for source in begun:
            ctx.rewrites.ended(source)


def _compile(req: Request, ctx: Context, speculated: list[str] | None, known: dict[str, str] | None,
             begun: list[str]) -> Done | Local:
    env = req.env
    parsed = parse(list(req.argv[1:]))
    if isinstance(parsed, Local):
        from ggcc.launcher.link import looks_like_link

        if looks_like_link(list(req.argv[1:])):
            return link_as_thunk(req, ctx, speculated, known)
        return parsed
    for var in _UNMODELLED_ENV:
        if env.get(var):
            return Local(f"env:{var}")
    locale = thunk_locale(env)
    if locale is None:
        return Local("translated-diagnostics")
    if parsed.natives and records_flags(parsed.args):
        # gcc's own expansion of -march=native puts --param options among the
        # -m flags; given explicitly they land after -O, and DW_AT_producer
        # records that order. Without debug info nothing records it.
        return Local("march-native-with-debug-info")
    cwd = req.cwd
    try:
        st = os.stat(os.path.join(cwd, parsed.source))
    except OSError:
        return Local("unreadable-source")
    source = os.path.normpath(os.path.join(cwd, parsed.source))
    quick = 0
    if speculated is None:
        quick = ctx.rewrites.begin(source, (st.st_ino, st.st_size, st.st_mtime_ns))
        begun.append(source)
    if quick and ctx.speculator is not None:
        ctx.speculator.forget(source)  # rewritten as its last compile ended: a probe file (see rewrites.py)
    if quick >= PROBE_STREAK:
        return Local("configure-probe")
    if not os.access(os.path.join(cwd, parsed.source), os.R_OK):
        return Local("unreadable-source")
    if not _placeable(cwd, (parsed.output, placement.BFD), (parsed.deps.file, placement.FOPEN)):
        return Local("output-not-a-file")

    from ggcc.dependency_scan import toolchain
    from ggcc.dependency_scan.program import tree_path
    from ggcc.errors import GgccError
    from ggcc.launcher import manifest
    from ggcc.launcher.compile_thunk import build_thunk, diagnostic_columns

    store = ctx.store(env)
    hashes = ctx.hashes
    driver = os.path.realpath(req.compiler)
    try:
        with ctx.one_at_a_time(("toolchain", driver, req.compiler)):
            tc = toolchain.load_or_capture(driver, req.compiler, store, hashes)
        natives: tuple[str, ...] = ()
        if parsed.natives:
            natives = toolchain.with_native(tc, driver, req.compiler, tuple(parsed.args[i] for i in parsed.natives), store)
    except GgccError:
        return Local("toolchain-capture-failed")
    if tc.family == "clang" and any(a in _CLANG_OUT_OF_PROCESS for a in parsed.args):
        return Local("clang-external-tools")
    if speculated is None and ctx.speculator is not None and ctx.session(env) is None:
        ctx.speculator.wait_for(req)
        if not quick:
            ctx.speculator.remember(req, source)
    color = color_flag(tc.family, parsed.args, env, req.stderr_columns)
    if color:
        parsed = parsed.with_extra_flag(color)
    columns = diagnostic_columns(env, req.stderr_columns)
    parts: list[object] = [
        1, sorted(f.id for f in tc.files), list(parsed.args), parsed.output, list(parsed.deps.targets),
        parsed.deps.kind, parsed.deps.file, parsed.deps.phony, parsed.deps.missing_ok, cwd, locale,
        env.get("SOURCE_DATE_EPOCH", ""), columns, list(natives),
    ]
    key = manifest.key(parts)
    ctx.settle(key)
    hit = manifest.lookup(ctx.root, key, cwd, hashes, store)
    if hit is not None:
        result = store.get_result(hit.thunk_id)
        if hit.depfile_id and not store.has(hit.depfile_id):
            fetch = getattr(store, "fetch_blob", None)
            if fetch is not None:
                fetch(hit.depfile_id)
        if result is not None and (not hit.depfile_id or store.has(hit.depfile_id)):
            if speculated is not None:
                return Done(0)  # the build will find it as well
            done = _write_back(result, parsed, cwd, store, hit.depfile_id, "", req.umask)
            _count_answer(ctx, store, True, hit.thunk_id, direct=True)
            return done
    else:
        from ggcc.launcher.travel_direct import lookup_across_roots

        found = lookup_across_roots(parts, parsed.output, bool(parsed.deps.kind), cwd, env, store, ctx.root, hashes.file_id,
                                    ctx.scan_cache.session().listing)
        if found is not None:
            if speculated is not None:
                return Done(0)  # the build will find it as well
            result, depfile = found

            def write_depfile(f: BinaryIO) -> None:
                f.write(depfile or b"")

            if parsed.deps.kind:
                placement.put(os.path.join(cwd, parsed.deps.file), placement.FOPEN, 0o666 & ~req.umask, write_depfile)
            from ggcc.launcher.compile_thunk import OBJECT_TAG

            done = _deliver(result, OBJECT_TAG, os.path.join(cwd, parsed.output), store, req.umask, placement.BFD)
            _count_answer(ctx, store, True, result.thunk_id, direct=True)
            return done
    from ggcc.dependency_scan import headers

    try:
        with ctx.slots:
            scan, verification = headers.scan(req.compiler, parsed, cwd, env, ctx.scan_cache)
    except headers.ScanFailed:
        stats.record(ctx.root, "scan")
        return Local("scan-failed")
    _count_scan(ctx.root, parsed.source, cwd, scan, verification)
    try:
        try:
            thunk = build_thunk(tc, parsed, cwd, scan.files, natives, locale, columns, env, store, hashes, scan.ids)
        except GgccError:  # a header edited since the scan read it
            return Local("input-changed")
        by_tree = {i.path: i.ref for i in thunk.inputs}  # hashed once, in build_thunk
        files = tuple((p, by_tree[tree_path(os.path.join(cwd, p))]) for p in scan.files)
        if scan.absent is not None:
            absent = scan.absent
        else:
            absent = tuple(manifest.absent_candidates(list(scan.files), list(scan.search_dirs), cwd))
        session = ctx.session(env)
        if session is not None and speculated is None and _deferrable(req, os.path.join(cwd, parsed.output)):
            store.put_thunk(thunk)
            depfile_id = store.put_file(scan.depfile_tmp) if scan.depfile_tmp else ""
            if scan.depfile_tmp:
                placement.put(os.path.join(cwd, parsed.deps.file), placement.FOPEN, 0o666 & ~req.umask,
                              made=scan.depfile_tmp)
            entry = manifest.Entry(files, absent, thunk.id, depfile_id)

            def record_deferred() -> None:
                from ggcc.launcher.travel_direct import record_across_roots

                manifest.record(ctx.root, key, entry, store, ctx.scan_cache.session().listing)
                record_across_roots(parts, thunk, cwd, files, absent, depfile_id, env, store, ctx.root)

            return _defer(req, ctx, session, thunk, store, os.path.join(cwd, parsed.output), "object", [],
                          record_deferred)
        outcome = _force(thunk, store, ctx, env)
        if isinstance(outcome, Local):
            return outcome
        result, was_hit = outcome
        depfile_id = store.put_file(scan.depfile_tmp) if scan.depfile_tmp else ""
        entry = manifest.Entry(files, absent, thunk.id, depfile_id)

        def record() -> None:
            push = getattr(store, "push_blobs", None)
            if push is not None and depfile_id:
                try:
                    push([depfile_id])
                except Exception:
                    pass  # the shared store is an optimisation
            manifest.record(ctx.root, key, entry, store, ctx.scan_cache.session().listing)
            from ggcc.launcher.travel_direct import record_across_roots

            record_across_roots(parts, thunk, cwd, files, absent, depfile_id, env, store, ctx.root)

        if speculated is not None:
            record()  # now, not later: the build's request is waiting to look it up
            from ggcc.launcher.compile_thunk import OBJECT_TAG

            return _after_speculation(ctx, speculated, was_hit, thunk.id, os.path.join(cwd, parsed.output),
                                      result.output(OBJECT_TAG).ref, {})
        done = _write_back(result, parsed, cwd, store, "", scan.depfile_tmp, req.umask)
        _count_answer(ctx, store, was_hit, thunk.id)
        ctx.record_later(key, record)
        return done
    finally:
        if scan.depfile_tmp and os.path.exists(scan.depfile_tmp):
            os.unlink(scan.depfile_tmp)


def _count_scan(root: str, source: str, cwd: str, scan: Scan, v: Verification | None) -> None:
    events = ["scan-own" if scan.method == "own" else "scan"]
    if scan.fallback:
        events.append(f"scan-fallback {scan.fallback}")
    if v is not None:
        events += ["scan-verify", f"scan-verify-files {v.total}", f"scan-verify-extra {v.extra}"]
        if v.missing:
            events.append("scan-verify-missing")
        if v.depfile_equal is False:
            events.append("scan-verify-depfile-differs")
        if v.missing or v.depfile_equal is False:
            import json

            line = json.dumps({"source": source, "cwd": cwd, "missing": list(v.missing), "extra": v.extra,
                               "files": v.total, "depfile_equal": v.depfile_equal, "fallback": v.fallback})
            try:
                with open(os.path.join(root, "scan-verify.jsonl"), "a", encoding="utf-8") as f:
                    f.write(line + "\n")
            except OSError:
                pass
    stats.record(root, *events)


def archive_as_thunk(req: Request, ctx: Context) -> Done | Local:
    """ar r/q and ranlib as thunks; the archive comes back byte-identical."""
    from ggcc.dependency_scan.program import load_or_capture, rooted, tree_path
    from ggcc.errors import GgccError
    from ggcc.launcher import archive
    from ggcc.launcher.compile_thunk import add_host_files
    from ggcc.thunk import Input, Output, Thunk

    cmd = archive.parse(req.argv[0], list(req.argv[1:]))
    if isinstance(cmd, Local):
        return cmd
    if thunk_locale(req.env) is None:
        return Local("translated-diagnostics")
    cwd = req.cwd
    host_archive = os.path.join(cwd, cmd.archive)
    if not _placeable(cwd, (cmd.archive, placement.AR)):
        return Local("output-not-a-file")
    members = [os.path.join(cwd, m) for m in cmd.members]
    if any(not os.path.isfile(m) for m in members):
        return Local("missing-member")  # the tool says which, in its words
    store = ctx.store(req.env)
    hashes = ctx.hashes
    try:
        with ctx.one_at_a_time(("runtime", req.compiler)):
            rt = load_or_capture(os.path.realpath(req.compiler), req.compiler, store, hashes)
    except GgccError:
        return Local("toolchain-capture-failed")
    from ggcc import placeholder

    session = ctx.session(req.env)
    inputs = {f.tree_path: Input(f.tree_path, f.id, f.executable) for f in rt.files}
    waits: list[str] = []
    real: list[str] = []
    for host in members + ([host_archive] if os.path.isfile(host_archive) else []):
        ref = placeholder.read(host) if session is not None else None
        if ref is not None:  # a member still being compiled: depend on its thunk
            tp = tree_path(host)
            inputs[tp] = Input(tp, ref)
            waits.append(host)
        else:
            real.append(host)
    dirs: set[str] = set()
    add_host_files(inputs, dirs, real, cwd, store, hashes)
    program = inputs.pop(rt.loader_tree)
    args = rt.command_prefix(tree_path(req.compiler)) + list(cmd.flags) + [rooted(cmd.archive)] + [rooted(m) for m in cmd.members]
    thunk = Thunk.make(program, args, {"LC_ALL": "C"}, list(inputs.values()),
                       [Output("archive", tree_path(host_archive))], cwd=tree_path(cwd) or ".",
                       dirs=sorted(d for d in dirs if d and d not in inputs))
    if session is not None and waits and _deferrable(req, host_archive):
        store.put_thunk(thunk)
        return _defer(req, ctx, session, thunk, store, host_archive, "archive", waits, None)
    outcome = _force(thunk, store, ctx, req.env)
    if isinstance(outcome, Local):
        return outcome
    result, was_hit = outcome
    done = _deliver(result, "archive", host_archive, store, req.umask, placement.AR)
    _count_answer(ctx, store, was_hit, thunk.id)
    return done


def link_as_thunk(req: Request, ctx: Context, speculated: list[str] | None = None,
                  known: dict[str, str] | None = None) -> Done | Local:
    """A link by gcc, g++ or clang as a thunk running ld; the output comes
    back byte-identical (see link.py). ``speculated`` and ``known``: as for
    compile_as_thunk, a link run early with the inputs a speculation made."""
    from ggcc.dependency_scan.program import load_or_capture, rooted, tree_path
    from ggcc.errors import GgccError
    from ggcc.launcher import link
    from ggcc.launcher.compile_thunk import add_host_files, add_search_dirs, locale_setup
    from ggcc.thunk import Input, Output, Thunk

    args = list(req.argv[1:])
    direct = link.is_ld(req.argv[0])  # `ggcc ld ...`: no driver in between
    why = link.unmodelled(args, req.env) if not direct else link.unmodelled_env(req.env)
    if why:
        return Local(why)
    locale = thunk_locale(req.env)
    if locale is None:
        return Local("translated-diagnostics")
    cwd = req.cwd
    session = ctx.session(req.env) if speculated is None else None
    store = ctx.store(req.env)
    # Links are never deferred (the build may run what it links): inputs
    # still being compiled, or placeholders moved by the build (zlib's `mv`
    # of objects), are made real first.
    for a in args if speculated is None else ():
        if not a.startswith("-"):
            host = os.path.join(cwd, a)
            if session is not None:
                session.wait(host)
            if not _make_real(host, store, ctx, req):
                return Local("placeholder-input-failed")
    hashes = ctx.hashes
    key = link.record_key(hashes.file_id(os.path.realpath(req.compiler)), [req.compiler, *args], cwd, req.env)
    rec = link.load_record(ctx.root, key)
    if rec is not None and all(os.path.isfile(os.path.join(cwd, f)) for f in rec[1]):
        cmd, files = rec
    elif speculated is not None:
        return Local("untraced")  # tracing runs ld on the old inputs: leave it to the build
    else:
        got = link.direct_ld_command(req.compiler, args) if direct else link.ld_command(req.compiler, args, cwd, req.env)
        if isinstance(got, Local):
            return got
        cmd = got
        with ctx.slots:
            traced = link.trace(cmd, cwd)
        if isinstance(traced, Local):
            if traced.reason == "archive-of-placeholders":
                return _archive_of_placeholders(ctx, args)
            return traced
        files = traced
        link.save_record(ctx.root, key, cmd, files)
        stats.record(ctx.root, "link-trace")
    try:
        with ctx.one_at_a_time(("runtime", cmd.ld)):
            rt = load_or_capture(os.path.realpath(cmd.ld), cmd.ld, store, hashes)
    except GgccError:
        return Local("toolchain-capture-failed")
    if speculated is None and session is None and ctx.speculator is not None:
        ctx.speculator.wait_for(req)
        ctx.speculator.remember_link(req, _in_tree(files, cwd))
    made_here: dict[str, str] = {}  # inputs a speculation made, not yet on disk
    if known:
        for f in files:
            host = os.path.join(cwd, f)
            if (id_ := known.get(os.path.normpath(host))) is not None:
                made_here[host] = id_
    inputs = {f.tree_path: Input(f.tree_path, f.id, f.executable) for f in rt.files}
    dirs: set[str] = set()
    add_host_files(inputs, dirs, files, cwd, store, hashes, made_here)
    add_search_dirs(dirs, link.search_dirs(cmd), cwd)
    thunk_env, locale_inputs = locale_setup(locale, store, hashes)
    for i in locale_inputs:
        inputs.setdefault(i.path, i)
    program = inputs.pop(rt.loader_tree)
    host_out = os.path.join(cwd, cmd.output)
    if not _placeable(cwd, (cmd.output, placement.BFD)):
        return Local("output-not-a-file")
    out_tree = tree_path(host_out)
    dirs.add(os.path.dirname(out_tree))
    dirs.discard("")
    argv = rt.command_prefix(tree_path(cmd.ld)) + [f"--sysroot={rooted('/')}"] + link.map_args(cmd)
    thunk = Thunk.make(program, argv, thunk_env, list(inputs.values()), [Output("output", out_tree)],
                       cwd=tree_path(cwd) or ".", dirs=sorted(d for d in dirs if d not in inputs))
    outcome = _force(thunk, store, ctx, req.env)
    if isinstance(outcome, Local):
        return outcome
    result, was_hit = outcome
    if speculated is not None:
        return _after_speculation(ctx, speculated, was_hit, thunk.id, host_out, result.output("output").ref,
                                  known or {})
    done = _deliver(result, "output", host_out, store, req.umask, placement.BFD)
    _count_answer(ctx, store, was_hit, thunk.id, "link")
    return done


def _count_answer(ctx: Context, store: LocalStore, was_hit: bool, thunk_id: str, *details: str,
                  direct: bool = False) -> None:
    """A step answered with a result: a hit (``direct``: from the
    manifest; ``hit-shared``: its result came from the shared store for
    it), or executed. A hit on what a speculation ran for this very step
    is that step's run, not a hit. Each step, one line of events."""
    shared = store.took_from_shared(thunk_id)
    if was_hit and ctx.speculator is not None and ctx.speculator.take(thunk_id):
        stats.record(ctx.root, "invocation", "executed", *details, "speculation-used")
    elif was_hit:
        stats.record(ctx.root, "invocation", "hit", *details, *(("direct",) if direct else ()),
                     *(("hit-shared",) if shared else ()))
    else:
        stats.record(ctx.root, "invocation", "executed", *details)


def _after_speculation(ctx: Context, speculated: list[str], was_hit: bool, thunk_id: str, out: str, out_id: str,
                       known: dict[str, str]) -> Done:
    """A speculation's end: count what it ran, and start the links that
    read what it made (nothing goes into the build tree)."""
    if not was_hit:
        speculated.append(thunk_id)
        stats.record(ctx.root, "speculation")
    if ctx.speculator is not None:
        ctx.speculator.made(os.path.normpath(out), out_id, known)
    return Done(0)


def _in_tree(files: list[str], cwd: str) -> list[str]:
    """The link inputs a speculation could make: those under the build's
    directory (normalised), not the system's libraries."""
    top = os.path.normpath(cwd) + os.sep
    out = []
    for f in files:
        p = os.path.normpath(os.path.join(cwd, f))
        if p.startswith(top):
            out.append(p)
    return out


def _deferrable(req: Request, out: str) -> bool:
    """Deferred mode may put a placeholder at ``out``: a plain file, and
    messages that would go to a terminal or a pipe (the session reports
    them at the end) or nowhere; into a file they must go now."""
    return "f" not in req.sinks and placement.plain_file(out)


def _seen(req: Request, stdout: bytes, stderr: bytes) -> bytes:
    """What of a step's output the build would have shown (not what it
    sent to /dev/null, as libtool does with its second compile)."""
    return (stdout if req.sinks[:1] != "n" else b"") + (stderr if req.sinks[1:2] != "n" else b"")


def _defer(req: Request, ctx: Context, session: Session, thunk: Thunk, store: LocalStore, out: str, tag: str,
           waits: list[str], after: Callable[[], None] | None) -> Done:
    """Placeholder at ``out`` now; the thunk forced in the background, its
    output put over the placeholder, or the real command run if it fails."""
    from ggcc.launcher.deferred import run_real
    from ggcc.local_store import CorruptBlob

    build = _build_id(req.env)

    def work() -> None:
        stats.build.set(build)  # this thread's own context: counted for the build that asked
        data = session.pending_data(out)
        try:
            outcome: tuple[Result, bool] | Local = _force(thunk, store, ctx, req.env)
            if not isinstance(outcome, Local):
                result, was_hit = outcome
                # Counted, and its warnings reported, even when the output got
                # into place another way: moved by the build (zlib's `mv x.o
                # x.lo`) or made real early for a tool that read it.
                _count_answer(ctx, store, was_hit, thunk.id)
                replaced = _deliver_over(result, tag, out, store, req.umask, data)
                session.check_unread(out, replaced)
                if replaced is not None:
                    with session.lock:
                        session.hits += was_hit
                        session.out_bytes += os.path.getsize(out)
                session.note("hit" if was_hit else "built", out)
                seen = _seen(req, *_host_messages(result))
                if seen:
                    session.add_report(out, 0, seen)
                if after is not None:
                    after()
                return
        except CorruptBlob:  # counted by the store; the real command runs
            outcome = Local("corrupt-blob")
        except Exception as e:  # never leave a placeholder for a bug of ours
            stats.record(ctx.root, f"error {type(e).__name__}: {e}")
            outcome = Local("internal-error")
        if not session.still_placeholder(out, data):
            session.note("moved", out)  # by the build: its output is its own business
            return
        try:
            session.check_unread(out, os.stat(out))
        except OSError:
            pass
        real = run_real(req.argv, req.compiler, req.env, req.cwd)
        stats.record(ctx.root, "invocation", f"local {outcome.reason}")
        with session.lock:
            session.local += 1
        session.note("failed" if real.returncode != 0 else "local", out)
        if session.still_placeholder(out, data):
            os.unlink(out)  # the real command failed without writing: never leave a placeholder
        seen = _seen(req, real.stdout, real.stderr)
        if real.returncode != 0 or seen:
            session.add_report(out, real.returncode, seen)

    session.defer(out, thunk.id, tag, work, waits)
    return Done(0)


def _archive_of_placeholders(ctx: Context, args: list[str]) -> Done:
    """A link reads an archive made, outside ggcc, of placeholders: say how
    to fix the build instead of letting ld call them linker scripts."""
    stats.record(ctx.root, "invocation", "error archive-of-placeholders")
    names = " ".join(a for a in args if a.endswith(".a"))
    msg = (f"ggcc: {names}: an archive of ggcc placeholders: its archiver ran outside ggcc and the placeholder "
           "guard during `ggcc infer` (a static archiver?). Run ar and ranlib through ggcc (CMake: configure with "
           "`ggcc cmake`, or -DCMAKE_AR=<venv>/bin/ggcc-ar -DCMAKE_RANLIB=<venv>/bin/ggcc-ranlib), or build "
           "without infer.\n")
    return Done(1, b"", msg.encode())


def make_real(path: str, req: Request, ctx: Context) -> bool:
    """_make_real in the store ``req``'s environment names."""
    try:
        return _make_real(path, ctx.store(req.env), ctx, req)
    except Exception as e:
        stats.record(ctx.root, f"error make-real {type(e).__name__}: {e}")
        return False


def _make_real(path: str, store: LocalStore, ctx: Context, req: Request) -> bool:
    """If ``path`` is a placeholder, force its thunk and put the output
    there; False if that failed. Identical thunks in flight run once."""
    from ggcc import placeholder
    from ggcc.thunk import split_ref

    try:
        ref = placeholder.read(path)
    except Exception:
        return False
    if ref is None:
        return True
    data = placeholder.read_head(path) or b""
    tid, tag = split_ref(ref)
    try:
        thunk = store.load_thunk(tid)
    except Exception:
        return False
    outcome = _force(thunk, store, ctx, req.env)
    if isinstance(outcome, Local):
        return False
    result, _ = outcome
    replaced = _deliver_over(result, tag, path, store, req.umask, data)  # None: replaced or moved meanwhile, not ours
    session = ctx.session(req.env)
    if session is not None:
        session.check_unread(path, replaced)
    return True


def _force(thunk: Thunk, store: LocalStore, ctx: Context, env: dict[str, str]) -> tuple[Result, bool] | Local:
    """(result, whether it was a cache hit), or Local if the thunk failed.

    Identical thunks asked for at once (two build directories, one
    command) run once: the others wait and take its result."""
    from ggcc.launcher import travel
    from ggcc.launcher.compile_thunk import OBJECT_TAG
    from ggcc.scheduler import ForceReport, force

    store.put_thunk(thunk)
    cached = store.get_result(thunk.id)
    if cached is not None:
        return cached, True
    where = travel.place(thunk, env.get(travel.BASEDIR_ENV, ""), name_free=thunk.output_tags() == [OBJECT_TAG])
    travelled = _from_travel(where, thunk, store, ctx) if where is not None else None
    if travelled is not None:
        return travelled, True

    engine = ctx.engine(store, env)

    def run() -> ForceReport:
        if engine.name != "local":  # runs elsewhere: the slots bound this machine's compilers only
            report = force([thunk.id], store, engine, known={thunk.id: thunk})
        else:
            with ctx.slots:
                report = force([thunk.id], store, engine, known={thunk.id: thunk})
        if where is not None and report.ok and not report.hits:
            made = store.get_result(thunk.id)
            if made is not None:  # filed before the requests waiting on this key look for it
                _to_travel(where, thunk, made, store, ctx)
        return report

    # Keyed by the travel key: the same step in two build directories at
    # once runs once, the second taking the first's result if it travels.
    report = ctx.once(where.key if where is not None else thunk.id, run)
    if report is None and where is not None:
        travelled = store.get_result(thunk.id) or _from_travel(where, thunk, store, ctx)
        if travelled is not None:
            return travelled, True
        report = ctx.once(thunk.id, run)  # it was another root's, and tied to it: run ours
    if report is not None and not report.ok:
        from ggcc.executor import CORRUPT_INPUT, MISSING_INPUT_HERE

        f = report.failures[0]
        if f.result is not None and f.result.error.startswith(CORRUPT_INPUT):
            return Local("corrupt-blob")
        if f.result is not None and f.result.error.startswith(MISSING_INPUT_HERE):
            return Local("store-changed")
        failed_run = f.result is not None and not f.result.error
        if not failed_run:  # ggcc's fault, not the code's: keep why
            stats.record(ctx.root, f"error sandbox: {f.message}")
        elif os.environ.get("GGCC_DEBUG_FAILURES"):
            assert f.result is not None
            stats.record(ctx.root, f"error failed-run {f.result.stderr[-400:].decode('utf-8', 'replace')}")
        return Local("compile-failed-rerun" if failed_run else "sandbox-failure")
    result = store.get_result(thunk.id)
    if result is None:
        # Another request ran it and failed (failures are never stored), or
        # the store lost it since (a `ggcc cache clear`).
        return Local("store-changed" if report is not None else "compile-failed-rerun")
    return result, report is None or bool(report.hits)


def _from_travel(where: travel.Place, thunk: Thunk, store: LocalStore, ctx: Context) -> Result | None:
    """The thunk's result from a record of the same step under another
    root or output name (see travel.py), its outputs here and checked
    when used; kept as this thunk's own result from then on."""
    from ggcc.launcher import travel

    data, from_shared = travel.load(ctx.root, where.key, store)
    found = travel.use_record(data, where, thunk) if data else None
    if found is None:
        return None
    refs = [o.ref for o in found.result.outputs]
    fetch_all = getattr(store, "fetch_all", None)
    if fetch_all is not None:
        if fetch_all(refs):
            return None
    elif not all(store.has(r) for r in refs):
        return None
    store.put_result(found.result)
    stats.record(ctx.root, f"travel-hit {'root' if found.other_root else 'name'}")
    if from_shared:
        store.came_from_shared(thunk.id)
    return found.result


def _to_travel(where: travel.Place, thunk: Thunk, result: Result, store: LocalStore, ctx: Context) -> None:
    """File a result just made under its travel key, if its bytes do not
    depend on its root; count it if they do."""
    from ggcc.errors import GgccError
    from ggcc.launcher import travel

    try:
        made = travel.make_record(where, thunk, result, lambda ref: store.path_for_use(ref, False))
    except (OSError, GgccError):  # an output gone from the store (trimmed, corrupt): nothing to share
        return
    if made.embeds_root:
        stats.record(ctx.root, "travel-embeds-root")
    if made.data is not None:
        travel.save(ctx.root, where.key, made.data, store)


def _write_back(
    result: Result, parsed: Compile, cwd: str, store: LocalStore, depfile_id: str, depfile_tmp: str, umask: int
) -> Done:
    """Object and depfile into place as gcc puts them (see placement.py);
    the run's output to replay."""
    from ggcc.launcher.compile_thunk import OBJECT_TAG

    mode = 0o666 & ~umask
    dest = os.path.join(cwd, parsed.deps.file)
    if depfile_tmp:
        placement.put(dest, placement.FOPEN, mode, made=depfile_tmp)
    elif depfile_id:
        placement.put(dest, placement.FOPEN, mode, lambda f: store.copy_out(depfile_id, f))
    return _deliver(result, OBJECT_TAG, os.path.join(cwd, parsed.output), store, umask, placement.BFD)


def _deliver(result: Result, tag: str, dest: str, store: LocalStore, umask: int, how: str) -> Done:
    """An output into place as its tool puts it (``how``: see
    placement.py), its bytes checked as they are copied, and the run's
    messages."""
    value = result.output(tag)
    mode = (0o777 if value.executable else 0o666) & ~umask
    placement.put(dest, how, mode, lambda f: store.copy_out(value.ref, f))
    return Done(0, *_host_messages(result))


def _placeable(cwd: str, *outputs: tuple[str, str]) -> bool:
    """Whether every (output, how) can be written as its tool would
    (``output`` "" is none)."""
    try:
        for path, how in outputs:
            if path:
                placement.plan(os.path.join(cwd, path), how)
    except placement.NotAFile:
        return False
    return True


def _deliver_over(result: Result, tag: str, dest: str, store: LocalStore, umask: int,
                  placeholder_data: bytes) -> os.stat_result | None:
    """An output over its placeholder, only if that is still at ``dest``:
    the placeholder's last stat (None: the build moved, removed or rewrote
    it; theirs wins)."""
    from ggcc.fsutil import copy_over_if_unchanged

    src, mode = _output_file(result, tag, store, umask)
    return copy_over_if_unchanged(src, dest, placeholder_data, mode)


def _output_file(result: Result, tag: str, store: LocalStore, umask: int) -> tuple[str, int]:
    """(the output's file in the store, the mode it gets in the build)."""
    value = result.output(tag)
    return store.path_for_use(value.ref, False), (0o777 if value.executable else 0o666) & ~umask


def _host_messages(result: Result) -> tuple[bytes, bytes]:
    """The run's stdout and stderr as the host would have seen them (the
    tree stands for "/": the token is nothing)."""
    from ggcc.thunk import ROOT_TOKEN

    token = ROOT_TOKEN.encode()
    return result.stdout.replace(token, b""), result.stderr.replace(token, b"")


def color_flag(family: str, args: tuple[str, ...], env: dict[str, str], stderr_columns: str) -> str:
    """The flag that makes the sandboxed compiler color its diagnostics as
    the real one would on this terminal, or "" (no terminal, or the user
    chose). In the sandbox stderr is a pipe, so "auto" would mean never;
    the flag changes no output file (DWARF does not record it)."""
    if not stderr_columns or any(a.startswith(_COLOR_FLAGS) for a in args):
        return ""
    term = env.get("TERM", "")
    if family == "clang":
        # LLVM's terminalHasColors: a TERM it knows as colourful.
        known = ("ansi", "cygwin", "linux", "screen", "xterm", "vt100", "rxvt", "tmux")
        return "-fcolor-diagnostics" if term.startswith(known) or "color" in term else ""
    if not term or term == "dumb" or env.get("GCC_COLORS") == "":
        return ""
    return "-fdiagnostics-color=always"


def thunk_locale(env: dict[str, str]) -> str | None:
    """LC_ALL for the thunk: what makes gcc print the same characters.

    gcc's diagnostics depend on the codeset (UTF-8 quotes or ASCII ones)
    and on the message language. English or C messages with a UTF-8 codeset
    are reproduced with the built-in C.UTF-8 locale; translated messages
    need catalogs the sandbox does not have: None (compile locally).
    """
    def pick(*names: str) -> str:
        for n in names:
            v = env.get(n)
            if v:
                return v
        return "C"

    ctype = pick("LC_ALL", "LC_CTYPE", "LANG")
    messages = pick("LC_ALL", "LC_MESSAGES", "LANG")
    lang = messages.split(".")[0].split("@")[0]
    if lang not in ("C", "POSIX") and not lang.startswith("en"):
        return None
    codeset = ctype.partition(".")[2].split("@")[0].lower().replace("-", "")
    return "C.UTF-8" if codeset == "utf8" else "C"


def records_flags(args: tuple[str, ...]) -> bool:
    """Whether the object will record the command's flags (DWARF producer,
    .GCC.command.line)."""
    debug = False
    for a in args:
        if a == "-frecord-gcc-switches":
            return True
        if a == "-g0":
            debug = False
        elif a == "-g" or a.startswith(("-ggdb", "-gdwarf", "-g1", "-g2", "-g3", "-gstabs", "-gbtf", "-gctf")):
            debug = True
    return debug


def logical_cwd(physical: str, env: dict[str, str]) -> str:
    """$PWD when it names the directory ``physical`` (gcc records it so),
    else ``physical``."""
    pwd = env.get("PWD")
    if pwd and os.path.isabs(pwd):
        try:
            a, b = os.stat(pwd), os.stat(physical)
            if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
                return os.path.normpath(pwd)
        except OSError:
            pass
    return physical
