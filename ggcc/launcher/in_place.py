"""A local compile run in place, its inputs read from gcc's own depfile
(ccache's depend mode), for the local engine's cache misses.

Why: a miss in the sandbox costs a scan of the headers before the compile
and a tree of hard links around it, both on the compile's path and both
CPU taken from the compilers on a small machine. In place, the compiler
runs in the build tree as the build asked, with -MD to list what it read;
the object it writes is the build's output, as without ggcc. What makes it
a thunk (the inputs hashed, the result filed, the direct-mode record and
its absent headers from the own scanner) happens after the answer.

What keeps it correct:
- the inputs are exactly what the compiler opened (its depfile) plus the
  toolchain; a compile that could read files the depfile does not name
  (assembler sources, `.incbin`/`.include` in the source, a precompiled
  header beside a header) is not cached;
- every input must be older than the compile's start (mtime and ctime,
  after it is hashed): a file written during or after the compile makes
  the result unfiled, the build's object stays as the compiler wrote it;
- the object is copied into the store before the answer, so the build may
  change its own copy at once.
The thunk is the one the sandbox would run (build_thunk, the same inputs
at the same paths), so the result serves remote engines and other machines.
A compile on save (daemon/speculation.py) runs the same way with its
object and depfile in a temporary directory, and is filed at once.
The sandbox stays for remote engines, GGCC_SANDBOX=strict,
`ggcc infer` sessions, -MMD and what the depfile cannot describe.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ggcc.base import stats
from ggcc.base.errors import GgccError
from ggcc.base.fsutil import gone_under
from ggcc.base.stats import Event
from ggcc.dependency_scan.toolchain import Toolchain
from ggcc.formats.compile import Compile, DepOptions
from ggcc.formats.result import Result
from ggcc.formats.thunk import Thunk
from ggcc.launcher.compile_thunk import step_env
from ggcc.launcher.context import Context
from ggcc.launcher.request import Done, Local, Request
from ggcc.storage.store import Store

# Languages whose inputs the depfile lists in full: the preprocessor opens
# every file. An assembler source's .include/.incbin are not listed.
_LANGUAGES = frozenset({"c", "c++"})
# In a C or C++ source, asm that makes the assembler read a file.
_ASM_READS = (b".incbin", b".include")
# Linux stamps files from its coarse realtime clock (a kernel tick, up to
# 10 ms behind the fine one), or a finer time above it: a start read from
# that clock is at or below the time of any file written after it. Elsewhere
# the fine clock less a slack. (File times on NFS come from the server.)
_COARSE_REALTIME = 5  # CLOCK_REALTIME_COARSE; Python's time module does not name it
_CLOCK_SLACK_NS = 50_000_000
# Granularities a file system may truncate its times to, finest first:
# microseconds, milliseconds, seconds, FAT's two seconds.
_GRAINS = (1_000, 1_000_000, 1_000_000_000, 2_000_000_000)
# What the compiler needs from the user's environment besides what the
# thunk sets: `as` on PATH, a place for its temporary files.
_KEPT_ENV = ("PATH", "TMPDIR")
# Why a result is filed without a direct-mode record: the compiler's scan
# met an __has_include whose operand is a macro (what it looked for is unknown).
NO_RECORD_PROBES = "no-record-has-include-unknown"


def wanted(env: dict[str, str], parsed: Compile, cwd: str) -> bool:
    """Whether this compile runs in place (the caller has ruled out
    speculations and `ggcc infer` sessions)."""
    from ggcc.base.config import strict_sandbox
    from ggcc.engines import EngineSettings

    if (env.get("GGCC_LOCAL_RUN") or "in-place") != "in-place" or strict_sandbox(env) or env.get("GGCC_SCAN_VERIFY") == "1":
        return False
    if parsed.language not in _LANGUAGES or parsed.deps.kind not in ("", "MD"):
        return False
    if not _regular_or_absent(os.path.join(cwd, parsed.output)):
        return False  # a FIFO or a device: the assembler seeks in its output, the sandbox's copy does not
    if parsed.deps.kind and not _regular_or_absent(os.path.join(cwd, parsed.deps.file)):
        return False  # -MF /dev/null: nothing to read the inputs from
    return EngineSettings.from_env(env).name == "local"


@dataclass(frozen=True)
class Ran:
    """A compile that ran in place and succeeded: what filing it needs."""

    started_ns: int  # file_clock_ns() when the compiler started
    deps: tuple[str, ...]  # what the compiler read, as its depfile names them
    object_id: str  # the object, copied into the store before the answer
    depfile_id: str  # the user's depfile, stored; "" if none was asked for
    stdout: bytes
    stderr: bytes


def run(req: Request, ctx: Context, parsed: Compile, store: Store, locale: str, columns: str,
        into: str = "") -> Done | Local | Ran:
    """Run the compile in the build tree. Done: it failed (its messages are
    the answer, nothing is filed) or cannot be filed; Local: it could not
    be started; Ran: filed by ``file`` after the answer.

    ``into``: a directory for the object and the depfile instead (a
    compile on save writes nothing into the build tree); the depfile still
    names the build's output, as gcc's driver does (-MQ OUTPUT), so both
    are the bytes the build's compile would write. Such a run is not the
    build's step: it counts nothing but errors."""
    cwd = req.cwd
    own_depfile = ""
    output = os.path.join(into, "out.o") if into else parsed.output
    dep_file = os.path.join(into, "out.d") if into else parsed.deps.file
    if parsed.deps.kind:
        dep_args = ["-MD", "-MF", dep_file]
        targets = parsed.deps.targets or ((("-MQ", parsed.output),) if into else ())
        for opt, target in targets:
            dep_args += [opt, target]
        dep_args += ["-MP"] * parsed.deps.phony + ["-MG"] * parsed.deps.missing_ok
    else:
        fd, own_depfile = tempfile.mkstemp(prefix="in-place-", suffix=".d", dir=store.local.tmp_dir())
        os.close(fd)
        dep_args = ["-MD", "-MF", own_depfile]
    argv = [req.compiler, *parsed.args, "-o", output, *dep_args]
    run_env = {k: req.env[k] for k in _KEPT_ENV if k in req.env}
    run_env["LC_ALL"] = locale  # the host's own locale files: no LOCPATH, as the sandbox's copy needs
    run_env.update(step_env(req.env, columns))
    step: tuple[stats.Item, ...] = () if into else (Event.INVOCATION, Event.EXECUTED, Event.IN_PLACE)
    try:
        started = file_clock_ns()
        with ctx.slots:
            p = subprocess.run(argv, cwd=cwd, env=run_env, stdin=subprocess.DEVNULL, capture_output=True,
                               umask=req.umask)
        if p.returncode != 0:
            if not into:
                stats.record(ctx.root, Event.INVOCATION, (Event.LOCAL, "compile-failed"))
            return Done(p.returncode, p.stdout, p.stderr)
        why = _unfileable(parsed, cwd)
        deps = _read_deps(own_depfile or os.path.join(cwd, dep_file)) if not why else []
        if not why and not deps:
            why = "no-depfile"
        if why:
            if step:
                stats.record(ctx.root, *step, (Event.UNFILED, why))
            return Done(0, p.stdout, p.stderr)
        try:
            object_id = store.local.put_made(os.path.join(cwd, output))
            depfile_id = store.local.put_made(os.path.join(cwd, dep_file)) if parsed.deps.kind else ""
        except (OSError, GgccError) as e:  # the store full or gone: the build's object is right all the same
            if not gone_under(e, ctx.root):
                events: list[stats.Item] = [*step, (Event.UNFILED, "store-failed")] if step else []
                stats.record(ctx.root, *events, (Event.ERROR, f"in-place: {e}"))
            elif step:
                # A `ggcc cache clear` emptied the store as the object went
                # in: only cache is lost, as when the sandbox's run meets it.
                stats.record(ctx.root, *step, (Event.UNFILED, "store-changed"))
            return Done(0, p.stdout, p.stderr)
    except OSError:
        return Local("in-place-failed")
    finally:
        if own_depfile:
            store.local.remove_quiet(own_depfile)
    return Ran(started, tuple(deps), object_id, depfile_id, p.stdout, p.stderr)


def wait_out_the_tick(path: str) -> None:
    """A compile on save starts a moment after the save, often in the tick
    of the coarse clock that stamped the file: then nothing it read could
    be vouched for. Wait until the clock is past the file's time (a tick,
    at most 20 ms for a file system that keeps whole seconds)."""
    try:
        st = os.stat(path)
    except OSError:
        return
    t = max(st.st_mtime_ns, st.st_ctime_ns)
    deadline = time.monotonic() + 0.02
    while written_since(t, file_clock_ns()) and time.monotonic() < deadline:
        time.sleep(0.001)


def file(ran: Ran, tc: Toolchain, parsed: Compile, cwd: str, natives: tuple[str, ...], locale: str, columns: str,
         env: dict[str, str], store: Store, ctx: Context,
         known: Mapping[str, str]) -> tuple[Thunk, Result, tuple[tuple[str, str], ...]] | None:
    """The thunk the compile was, its result filed: (thunk, result, inputs
    as (path as the depfile names it, id)); None if an input was written since
    the compile started, or a precompiled header stands beside a header
    (nothing filed). ``known``: ids the scan took, by host path."""
    from ggcc.dependency_scan.program import tree_path
    from ggcc.formats.result import OutputValue
    from ggcc.launcher.compile_thunk import OBJECT_TAG, build_thunk

    try:
        thunk = build_thunk(tc, parsed, cwd, ran.deps, natives, locale, columns, env, store.local, ctx.hashes,
                            known)
    except (GgccError, OSError):
        return None
    why = not_before(ran.started_ns, cwd, ran.deps)
    if why:
        stats.record(ctx.root, (Event.UNFILED, why))
        return None
    store.local.put_thunk(thunk)
    result = Result(thunk.id, 0, (OutputValue(OBJECT_TAG, ran.object_id),), ran.stdout, ran.stderr)
    store.put_result(result)
    by_tree = {i.path: i.ref for i in thunk.inputs}
    return thunk, result, tuple((p, by_tree[tree_path(os.path.join(cwd, p))]) for p in ran.deps)


def absent_paths(compiler: str, parsed: Compile, cwd: str, env: dict[str, str], ctx: Context,
                 deps: tuple[str, ...]) -> tuple[tuple[str, ...], Mapping[str, str], tuple[str, ...]] | str:
    """Paths that must stay absent for the record to hold: the own
    scanner's (every path it looked for and missed), or, when it cannot
    scan this compile, the compiler's scan's (dependency_scan/probes.py);
    the ids the scanner took, by host path; and files an __has_include
    found that the compile did not read (inputs all the same). Else why
    there is no record."""
    from ggcc.dependency_scan import headers, scan_config, scanner
    from ggcc.dependency_scan.scan_cache import FileChanged
    cache = ctx.scan_cache
    session = cache.session()
    try:
        scan_config.check_supported(parsed, env)
        config = scan_config.config_for(compiler, parsed, cwd, env, cache)
        r = scanner.scan(config, parsed.source, cwd, session)
    except (scanner.Unsupported, FileChanged, OSError):
        try:
            plain = headers.compiler_scan(compiler, _without_deps(parsed), cwd, env)
        except headers.ScanFailed:
            return "no-record-scan-failed"
        if plain.absent is None:
            return NO_RECORD_PROBES
        return plain.absent, {}, plain.probed
    seen = {os.path.normpath(os.path.join(cwd, f)) for f in r.files}
    if any(os.path.normpath(os.path.join(cwd, d)) not in seen for d in deps):
        return "no-record-scan-missed-a-header"
    return tuple(sorted(r.absent | {os.path.join(cwd, d) for d in config.missing_dirs})), session.ids, ()


def _without_deps(parsed: Compile) -> Compile:
    from dataclasses import replace

    return replace(parsed, deps=DepOptions())


def _unfileable(parsed: Compile, cwd: str) -> str:
    """Why this compile's result cannot be filed from its depfile, or ""."""
    try:
        with open(os.path.join(cwd, parsed.source), "rb") as f:
            text = f.read()
    except OSError:
        return "unreadable-source"
    if any(word in text for word in _ASM_READS):
        return "asm-reads-file"
    return ""


def _read_deps(path: str) -> list[str]:
    from ggcc.dependency_scan.depfile import parse_depfile

    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return parse_depfile(f.read())
    except OSError:
        return []


def file_clock_ns() -> int:
    """Now, on the clock file times come from (see _COARSE_REALTIME)."""
    if sys.platform.startswith("linux"):
        try:
            return time.clock_gettime_ns(_COARSE_REALTIME)
        except OSError:
            pass
    return time.time_ns() - _CLOCK_SLACK_NS


def written_since(t_ns: int, start_ns: int) -> bool:
    """Whether a file time ``t_ns`` may be of a write at or after
    ``start_ns`` (file_clock_ns): a time that looks truncated to a grain
    is compared with the start truncated the same way, so a file system
    that keeps whole seconds never passes a write of this second."""
    grain = 1
    for g in _GRAINS:
        if t_ns % g:
            break
        grain = g
    return t_ns >= start_ns - start_ns % grain


def not_before(start_ns: int, cwd: str, deps: tuple[str, ...]) -> str:
    """Why the inputs cannot be vouched for: one written at or after
    ``start_ns`` (file_clock_ns; or gone), or a precompiled header beside
    a header (gcc reads it, the depfile names the header); "" if they can."""
    for d in deps:
        path = os.path.join(cwd, d)
        try:
            st = os.stat(path)
        except OSError:
            return "input-gone"
        if written_since(st.st_mtime_ns, start_ns) or written_since(st.st_ctime_ns, start_ns):
            return "input-written-during-compile"
        if os.path.lexists(path + ".gch"):
            return "precompiled-header"
    return ""


def _regular_or_absent(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True
