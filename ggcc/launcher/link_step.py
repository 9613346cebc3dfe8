"""A link (ld, or a compiler driver linking) as a thunk: the objects,
libraries, startup files and linker as inputs, found as the linker would
find them (link.py parses and searches)."""

from __future__ import annotations

import os
from ggcc.base import placement, stats
from ggcc.launcher.compiler_env import thunk_locale
from ggcc.launcher.context import Context
from ggcc.launcher.deliver import deliver, placeable
from ggcc.launcher.force import after_speculation, count_answer, force_step
from ggcc.launcher.placeholders import archive_of_placeholders, force_placeholder
from ggcc.launcher.request import Done, Local, Request, Speculation


def link_as_thunk(req: Request, ctx: Context, spec: Speculation | None = None) -> Done | Local:
    """A link by gcc, g++ or clang as a thunk running ld; the output comes
    back byte-identical (see link.py). ``spec``: as for
    compile_as_thunk, a link run early with the inputs speculations made."""
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
    session = ctx.session(req.env) if spec is None else None
    store = ctx.store(req.env)
    # Links are never deferred (the build may run what it links): inputs
    # still being compiled, or placeholders moved by the build (zlib's `mv`
    # of objects), are made real first.
    for a in args if spec is None else ():
        if not a.startswith("-"):
            host = os.path.join(cwd, a)
            if session is not None:
                session.wait(host)
            if not force_placeholder(host, store, ctx, req):
                return Local("placeholder-input-failed")
    hashes = ctx.hashes
    key = link.record_key(hashes.file_id(os.path.realpath(req.compiler)), [req.compiler, *args], cwd, req.env)
    rec = link.load_record(ctx.root, key)
    if rec is not None and all(os.path.isfile(os.path.join(cwd, f)) for f in rec[1]):
        cmd, files = rec
    elif spec is not None:
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
                return archive_of_placeholders(ctx, args)
            return traced
        files = traced
        link.save_record(ctx.root, key, cmd, files)
        stats.record(ctx.root, stats.Event.LINK_TRACE)
    try:
        with ctx.one_at_a_time(("runtime", cmd.ld)):
            rt = load_or_capture(os.path.realpath(cmd.ld), cmd.ld, store.local, hashes)
    except GgccError:
        return Local("toolchain-capture-failed")
    if spec is None and session is None and ctx.speculator is not None:
        ctx.speculator.wait_for(req)
        ctx.speculator.remember_link(req, _in_tree(files, cwd))
    made_here: dict[str, str] = {}  # inputs a speculation made, not yet on disk
    known = spec.known if spec is not None else {}
    if known:
        for f in files:
            host = os.path.join(cwd, f)
            if (id_ := known.get(os.path.normpath(host))) is not None:
                made_here[host] = id_
    inputs = {f.tree_path: Input(f.tree_path, f.id, f.executable) for f in rt.files}
    dirs: set[str] = set()
    add_host_files(inputs, dirs, files, cwd, store.local, hashes, made_here)
    add_search_dirs(dirs, link.search_dirs(cmd), cwd)
    thunk_env, locale_inputs = locale_setup(locale, store.local, hashes)
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
    if spec is not None:
        return after_speculation(ctx, spec, was_hit, thunk.id, host_out, result.output("output").ref, spec.known)
    done = deliver(result, "output", host_out, store.local, req.umask, placement.BFD)
    count_answer(ctx, store, was_hit, thunk.id, stats.Event.LINK)
    return done


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

