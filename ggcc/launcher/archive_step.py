"""An archive (ar, ranlib) as a thunk: its members and the archiver as
inputs, the archive written back as ar writes it (archive.py parses)."""

from __future__ import annotations

import os
from ggcc.base import placement
from ggcc.launcher.compiler_env import thunk_locale
from ggcc.launcher.context import Context
from ggcc.launcher.deliver import deliver, placeable
from ggcc.launcher.force import count_answer, force_step
from ggcc.launcher.placeholders import defer, deferrable
from ggcc.launcher.request import Done, Local, Request


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
            rt = load_or_capture(os.path.realpath(req.compiler), req.compiler, store.local, hashes)
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
    add_host_files(inputs, dirs, real, cwd, store.local, hashes)
    program = inputs.pop(rt.loader_tree)
    args = rt.command_prefix(tree_path(req.compiler)) + list(cmd.flags) + [rooted(cmd.archive)] + [rooted(m) for m in cmd.members]
    thunk = Thunk.make(program, args, {"LC_ALL": "C"}, list(inputs.values()),
                       [Output("archive", tree_path(host_archive))], cwd=tree_path(cwd) or ".",
                       dirs=sorted(d for d in dirs if d and d not in inputs))
    if session is not None and waits and deferrable(req, host_archive):
        store.local.put_thunk(thunk)
        return defer(req, ctx, session, thunk, store, host_archive, "archive", waits, None)
    outcome = force_step(thunk, store, ctx, req.env)
    if isinstance(outcome, Local):
        return outcome
    result, was_hit = outcome
    done = deliver(result, "archive", host_archive, store.local, req.umask, placement.AR)
    count_answer(ctx, store, was_hit, thunk.id)
    return done

