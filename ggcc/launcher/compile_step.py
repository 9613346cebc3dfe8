"""A compile as a thunk: parse; toolchain files; direct-mode lookup (no
compiler started), here or from another checkout; else the header closure
and the user's depfile from a scan, a thunk with every input at its host
path under the sandbox root, forced (force.py: a cache hit runs nothing),
the object written as gcc writes it (deliver.py)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, BinaryIO

from ggcc.base import placement, stats
from ggcc.base.stats import Event
from ggcc.launcher import in_place
from ggcc.launcher.args import parse_cached
from ggcc.launcher.compiler_env import CLANG_OUT_OF_PROCESS, UNMODELLED_ENV, color_flag, records_flags, thunk_locale
from ggcc.launcher.context import Context
from ggcc.launcher.deliver import deliver, placeable, write_back
from ggcc.launcher.force import after_speculation, count_answer, force_step
from ggcc.launcher.link_step import link_as_thunk
from ggcc.launcher.placeholders import defer, deferrable
from ggcc.launcher.request import Done, Local, Request, Speculation
from ggcc.launcher.rewrites import PROBE_STREAK

if TYPE_CHECKING:
    from ggcc.dependency_scan.headers import Scan, Verification
    from ggcc.dependency_scan.toolchain import Toolchain
    from ggcc.formats.compile import Compile


def compile_as_thunk(req: Request, ctx: Context, spec: Speculation | None = None) -> Done | Local:
    """``spec``: a speculation, which writes nothing into the build tree."""
    begun: list[str] = []  # the source, once ctx.rewrites has been told of this compile
    try:
        return _compile(req, ctx, spec, begun)
    finally:
        for source in begun:
            ctx.rewrites.ended(source)


def _compile(req: Request, ctx: Context, spec: Speculation | None, begun: list[str]) -> Done | Local:
    env = req.env
    parsed = parse_cached(req.argv[1:])
    if isinstance(parsed, Local):
        from ggcc.launcher.link import looks_like_link

        if looks_like_link(list(req.argv[1:])):
            return link_as_thunk(req, ctx, spec)
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
    if spec is None:
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
            tc = toolchain.load_or_capture(driver, req.compiler, store.local, hashes)
        natives: tuple[str, ...] = ()
        if parsed.natives:
            natives = toolchain.with_native(tc, driver, req.compiler, tuple(parsed.args[i] for i in parsed.natives), store.local)
    except GgccError:
        return Local("toolchain-capture-failed")
    if tc.family == "clang" and any(a in CLANG_OUT_OF_PROCESS for a in parsed.args):
        return Local("clang-external-tools")
    if spec is None and ctx.speculator is not None and ctx.session(env) is None:
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
            if spec is not None:
                return Done(0)  # the build will find it as well
            done = write_back(result, parsed, cwd, store.local, hit.depfile_id, "", req.umask)
            count_answer(ctx, store, True, hit.thunk_id, direct=True)
            return done
    from ggcc.launcher.travel_direct import index_key, lookup_across_roots

    across = index_key(parts, cwd)  # the key other roots' compiles look this one up by
    if hit is None:
        ctx.settle(across)  # another root's compile of the same, a moment ago
        found = lookup_across_roots(parts, parsed.output, bool(parsed.deps.kind), cwd, env, store, ctx.root, hashes.file_id,
                                    ctx.scan_cache.session().listing, across)
        if found is not None:
            if spec is not None:
                return Done(0)  # the build will find it as well
            result, depfile = found

            def write_depfile(f: BinaryIO) -> None:
                f.write(depfile or b"")

            if parsed.deps.kind:
                placement.put(os.path.join(cwd, parsed.deps.file), placement.FOPEN, 0o666 & ~req.umask, write_depfile)
            from ggcc.launcher.compile_thunk import OBJECT_TAG

            done = deliver(result, OBJECT_TAG, os.path.join(cwd, parsed.output), store.local, req.umask, placement.BFD)
            count_answer(ctx, store, True, result.thunk_id, direct=True)
            return done
    if ctx.session(env) is None and in_place.wanted(env, parsed, cwd):
        if spec is not None:
            return _speculate_in_place(req, ctx, parsed, tc, natives, locale, columns, (key, across), parts, spec)
        return _in_place(req, ctx, parsed, tc, natives, locale, columns, (key, across), parts)
    from ggcc.dependency_scan import headers

    try:
        with ctx.slots:
            scan, verification = headers.scan(req.compiler, parsed, cwd, env, ctx.scan_cache)
    except headers.ScanFailed:
        stats.record(ctx.root, Event.SCAN)
        return Local("scan-failed")
    _count_scan(ctx.root, parsed.source, cwd, scan, verification)
    inputs = scan.files + scan.probed
    try:
        try:
            thunk = build_thunk(tc, parsed, cwd, inputs, natives, locale, columns, env, store.local, hashes, scan.ids)
        except GgccError:  # a header edited since the scan read it
            return Local("input-changed")
        by_tree = {i.path: i.ref for i in thunk.inputs}  # hashed once, in build_thunk
        files = tuple((p, by_tree[tree_path(os.path.join(cwd, p))]) for p in inputs)
        absent = scan.absent  # None: what the compile looked for is not known (no record)
        session = ctx.session(env)
        if session is not None and spec is None and deferrable(req, os.path.join(cwd, parsed.output)):
            store.local.put_thunk(thunk)
            depfile_id = store.local.put_file(scan.depfile_tmp) if scan.depfile_tmp else ""
            if scan.depfile_tmp:
                placement.put(os.path.join(cwd, parsed.deps.file), placement.FOPEN, 0o666 & ~req.umask,
                              made=scan.depfile_tmp)
            entry = manifest.Entry(files, absent or (), thunk.id, depfile_id)

            def record_deferred() -> None:
                from ggcc.launcher.travel_direct import record_across_roots

                if absent is None:
                    return
                manifest.record(ctx.root, key, entry, store, ctx.scan_cache.session().listing, inside=cwd)
                record_across_roots(parts, thunk, cwd, files, absent, depfile_id, env, store, ctx.root, across)

            return defer(req, ctx, session, thunk, store, os.path.join(cwd, parsed.output), "object", [],
                          record_deferred)
        outcome = force_step(thunk, store, ctx, env)
        if isinstance(outcome, Local):
            return outcome
        result, was_hit = outcome
        depfile_id = store.local.put_file(scan.depfile_tmp) if scan.depfile_tmp else ""
        entry = manifest.Entry(files, absent or (), thunk.id, depfile_id)

        def record() -> None:
            if absent is None:  # the result is stored; nothing vouches for what the compile looked for
                stats.record(ctx.root, (Event.UNFILED, in_place.NO_RECORD_PROBES))
                return
            if depfile_id:
                try:
                    store.push_blobs([depfile_id])
                except Exception:
                    pass  # the shared store is an optimisation
            manifest.record(ctx.root, key, entry, store, ctx.scan_cache.session().listing, inside=cwd)
            from ggcc.launcher.travel_direct import record_across_roots

            record_across_roots(parts, thunk, cwd, files, absent, depfile_id, env, store, ctx.root, across)

        if spec is not None:
            record()  # now, not later: the build's request is waiting to look it up
            from ggcc.launcher.compile_thunk import OBJECT_TAG

            return after_speculation(ctx, spec, was_hit, thunk.id, os.path.join(cwd, parsed.output),
                                     result.output(OBJECT_TAG).ref, {})
        done = write_back(result, parsed, cwd, store.local, "", scan.depfile_tmp, req.umask)
        count_answer(ctx, store, was_hit, thunk.id)
        ctx.record_later((key, across), record)
        return done
    finally:
        if scan.depfile_tmp and os.path.exists(scan.depfile_tmp):
            os.unlink(scan.depfile_tmp)


def _in_place(req: Request, ctx: Context, parsed: Compile, tc: Toolchain, natives: tuple[str, ...], locale: str,
              columns: str, keys: tuple[str, str], parts: list[object]) -> Done | Local:
    """A miss run in the build tree (in_place.py); filed after the answer."""
    ran = in_place.run(req, ctx, parsed, ctx.store(req.env), locale, columns)
    if not isinstance(ran, in_place.Ran):
        return ran
    stats.record(ctx.root, Event.INVOCATION, Event.EXECUTED, Event.IN_PLACE)

    def record() -> None:
        _file_in_place(req, ctx, parsed, tc, natives, locale, columns, keys, parts, ran)

    ctx.record_later(keys, record)
    return Done(0, ran.stdout, ran.stderr)


def _speculate_in_place(req: Request, ctx: Context, parsed: Compile, tc: Toolchain, natives: tuple[str, ...],
                        locale: str, columns: str, keys: tuple[str, str], parts: list[object],
                        spec: Speculation) -> Done | Local:
    """A compile on save run as the build would run it, into a temporary
    directory, and filed at once: the build's request, waiting for it,
    then finds it in the direct mode. Filed nothing: the build compiles."""
    import shutil
    import tempfile

    store = ctx.store(req.env)
    in_place.wait_out_the_tick(os.path.join(req.cwd, parsed.source))
    into = tempfile.mkdtemp(prefix="speculation-", dir=store.local.tmp_dir())
    try:
        ran = in_place.run(req, ctx, parsed, store, locale, columns, into)
    finally:
        shutil.rmtree(into, ignore_errors=True)  # the object and depfile are in the store
    if not isinstance(ran, in_place.Ran):
        return ran
    thunk_id = _file_in_place(req, ctx, parsed, tc, natives, locale, columns, keys, parts, ran)
    if thunk_id is None:
        return Done(0)
    return after_speculation(ctx, spec, False, thunk_id, os.path.join(req.cwd, parsed.output), ran.object_id, {})


def _file_in_place(req: Request, ctx: Context, parsed: Compile, tc: Toolchain, natives: tuple[str, ...],
                   locale: str, columns: str, keys: tuple[str, str], parts: list[object],
                   ran: in_place.Ran) -> str | None:
    """File a compile run in place and record it for the direct mode, here
    and for other roots; its thunk's id, or None if no record was made."""
    from ggcc.launcher import manifest
    from ggcc.launcher.travel_direct import record_across_roots

    cwd, env, store = req.cwd, req.env, ctx.store(req.env)
    scanned = in_place.absent_paths(req.compiler, parsed, cwd, env, ctx, ran.deps)
    if not isinstance(scanned, str) and scanned[2]:  # found by an __has_include, not read: inputs too
        ran = replace(ran, deps=ran.deps + scanned[2])
    filed = in_place.file(ran, tc, parsed, cwd, natives, locale, columns, env, store, ctx,
                          scanned[1] if not isinstance(scanned, str) else {})
    if filed is None:
        return None
    if isinstance(scanned, str):  # the result is filed, but what would change it is not known
        stats.record(ctx.root, (Event.UNFILED, scanned))
        return None
    thunk, result, files = filed
    absent = scanned[0]
    from ggcc.launcher import travel
    from ggcc.launcher.force import to_travel

    where = travel.place(thunk, env.get(travel.BASEDIR_ENV, ""), name_free=True)
    if where is not None:  # found from other checkouts and under other names, as the sandbox's runs are
        to_travel(where, thunk, result, store, ctx)
    if ran.depfile_id:
        try:
            store.push_blobs([ran.depfile_id])
        except Exception:
            pass  # the shared store is an optimisation
    entry = manifest.Entry(files, absent, thunk.id, ran.depfile_id)
    manifest.record(ctx.root, keys[0], entry, store, ctx.scan_cache.session().listing, inside=cwd)
    record_across_roots(parts, thunk, cwd, files, absent, ran.depfile_id, env, store, ctx.root, keys[1])
    return thunk.id


def _count_scan(root: str, source: str, cwd: str, scan: Scan, v: Verification | None) -> None:
    events: list[stats.Item] = [Event.SCAN_OWN if scan.method == "own" else Event.SCAN]
    if scan.fallback:
        events.append((Event.SCAN_FALLBACK, scan.fallback))
    if v is not None:
        events += [Event.SCAN_VERIFY, (Event.SCAN_VERIFY_FILES, v.total), (Event.SCAN_VERIFY_EXTRA, v.extra)]
        if v.missing:
            events.append(Event.SCAN_VERIFY_MISSING)
        if v.depfile_equal is False:
            events.append(Event.SCAN_VERIFY_DEPFILE)
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

