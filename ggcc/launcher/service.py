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
compiler started), here or from another checkout; else the header closure
and the user's depfile from a scan, a thunk with every input at its host
path under the sandbox root, forced (force.py: a cache hit runs nothing),
the object written as gcc writes it (deliver.py). This file holds the
dispatch and the three flows (compile, archive, link) with deferred mode's
placeholders; the daemon's state is in context.py, the compiler's
environment in compiler_env.py.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, BinaryIO, Callable

from ggcc.base import placement, stats
from ggcc.formats.compile import Compile
from ggcc.launcher.args import parse
from ggcc.launcher.compiler_env import CLANG_OUT_OF_PROCESS, UNMODELLED_ENV, color_flag, records_flags, thunk_locale
from ggcc.launcher.context import Context
from ggcc.launcher.deliver import deliver, deliver_over, host_messages, placeable, write_back
from ggcc.launcher.force import count_answer, force_step
from ggcc.launcher.request import Done, Local, Request
from ggcc.launcher.rewrites import PROBE_STREAK

if TYPE_CHECKING:
    from ggcc.dependency_scan.headers import Scan, Verification
    from ggcc.formats.result import Result
    from ggcc.formats.thunk import Thunk
    from ggcc.launcher.deferred import Session
    from ggcc.storage.local_store import LocalStore



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
    from ggcc.base import notice

    stats.record(ctx.root, "invocation", f"local {reason}")
    say = ""
    if notice.first_in_build(ctx.root, same or "\n".join(lines)):
        say = "".join(f"ggcc: {line} (until then ggcc is off: compilers run without it)\n" for line in lines)
    return Local(reason, say)


def _attempt(step: Callable[[Request, Context], Done | Local], req: Request, ctx: Context) -> Done | Local:
    from ggcc.storage.local_store import CorruptBlob, MissingBlob

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
    from ggcc.formats import placeholder

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
    source was just saved, or a link input made (see ggcc/daemon/speculation.py).
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
    for var in UNMODELLED_ENV:
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
    if not placeable(cwd, (parsed.output, placement.BFD), (parsed.deps.file, placement.FOPEN)):
        return Local("output-not-a-file")

    from ggcc.base.errors import GgccError
    from ggcc.dependency_scan import toolchain
    from ggcc.dependency_scan.program import tree_path
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
    if tc.family == "clang" and any(a in CLANG_OUT_OF_PROCESS for a in parsed.args):
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
        if result is not None and not (hit.depfile_id and store.fetch_all([hit.depfile_id])):
            if speculated is not None:
                return Done(0)  # the build will find it as well
            done = write_back(result, parsed, cwd, store, hit.depfile_id, "", req.umask)
            count_answer(ctx, store, True, hit.thunk_id, direct=True)
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

            done = deliver(result, OBJECT_TAG, os.path.join(cwd, parsed.output), store, req.umask, placement.BFD)
            count_answer(ctx, store, True, result.thunk_id, direct=True)
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
        outcome = force_step(thunk, store, ctx, env)
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
        done = write_back(result, parsed, cwd, store, "", scan.depfile_tmp, req.umask)
        count_answer(ctx, store, was_hit, thunk.id)
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
    from ggcc.base.errors import GgccError
    from ggcc.dependency_scan.program import load_or_capture, rooted, tree_path
    from ggcc.formats.thunk import Input, Output, Thunk
    from ggcc.launcher import archive
    from ggcc.launcher.compile_thunk import add_host_files

    cmd = archive.parse(req.argv[0], list(req.argv[1:]))
    if isinstance(cmd, Local):
        return cmd
    if thunk_locale(req.env) is None:
        return Local("translated-diagnostics")
    cwd = req.cwd
    host_archive = os.path.join(cwd, cmd.archive)
    if not placeable(cwd, (cmd.archive, placement.AR)):
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
    from ggcc.formats import placeholder

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
    outcome = force_step(thunk, store, ctx, req.env)
    if isinstance(outcome, Local):
        return outcome
    result, was_hit = outcome
    done = deliver(result, "archive", host_archive, store, req.umask, placement.AR)
    count_answer(ctx, store, was_hit, thunk.id)
    return done


def link_as_thunk(req: Request, ctx: Context, speculated: list[str] | None = None,
                  known: dict[str, str] | None = None) -> Done | Local:
    """A link by gcc, g++ or clang as a thunk running ld; the output comes
    back byte-identical (see link.py). ``speculated`` and ``known``: as for
    compile_as_thunk, a link run early with the inputs a speculation made."""
    from ggcc.base.errors import GgccError
    from ggcc.dependency_scan.program import load_or_capture, rooted, tree_path
    from ggcc.formats.thunk import Input, Output, Thunk
    from ggcc.launcher import link
    from ggcc.launcher.compile_thunk import add_host_files, add_search_dirs, locale_setup

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
    if not placeable(cwd, (cmd.output, placement.BFD)):
        return Local("output-not-a-file")
    out_tree = tree_path(host_out)
    dirs.add(os.path.dirname(out_tree))
    dirs.discard("")
    argv = rt.command_prefix(tree_path(cmd.ld)) + [f"--sysroot={rooted('/')}"] + link.map_args(cmd)
    thunk = Thunk.make(program, argv, thunk_env, list(inputs.values()), [Output("output", out_tree)],
                       cwd=tree_path(cwd) or ".", dirs=sorted(d for d in dirs if d not in inputs))
    outcome = force_step(thunk, store, ctx, req.env)
    if isinstance(outcome, Local):
        return outcome
    result, was_hit = outcome
    if speculated is not None:
        return _after_speculation(ctx, speculated, was_hit, thunk.id, host_out, result.output("output").ref,
                                  known or {})
    done = deliver(result, "output", host_out, store, req.umask, placement.BFD)
    count_answer(ctx, store, was_hit, thunk.id, "link")
    return done


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
    from ggcc.storage.local_store import CorruptBlob

    build = _build_id(req.env)

    def work() -> None:
        stats.build.set(build)  # this thread's own context: counted for the build that asked
        data = session.pending_data(out)
        try:
            outcome: tuple[Result, bool] | Local = force_step(thunk, store, ctx, req.env)
            if not isinstance(outcome, Local):
                result, was_hit = outcome
                # Counted, and its warnings reported, even when the output got
                # into place another way: moved by the build (zlib's `mv x.o
                # x.lo`) or made real early for a tool that read it.
                count_answer(ctx, store, was_hit, thunk.id)
                replaced = deliver_over(result, tag, out, store, req.umask, data)
                session.check_unread(out, replaced)
                if replaced is not None:
                    with session.lock:
                        session.hits += was_hit
                        session.out_bytes += os.path.getsize(out)
                session.note("hit" if was_hit else "built", out)
                seen = _seen(req, *host_messages(result))
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
    from ggcc.formats import placeholder
    from ggcc.formats.thunk import split_ref

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
    outcome = force_step(thunk, store, ctx, req.env)
    if isinstance(outcome, Local):
        return False
    result, _ = outcome
    replaced = deliver_over(result, tag, path, store, req.umask, data)  # None: replaced or moved meanwhile, not ours
    session = ctx.session(req.env)
    if session is not None:
        session.check_unread(path, replaced)
    return True
