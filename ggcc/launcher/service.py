"""One compiler, linker or archiver invocation answered: the launcher's dispatch.

The daemon runs this for every client, the in-process launcher
(GGCC_DAEMON=0) for itself; neither looks at its own process state. A
``Request`` carries what the launcher saw (argv, environment, working
directory, umask, whether stderr is a terminal), and ``handle`` answers with
the compiler's exit code and the bytes it printed, the outputs already in
place, or ``Local(reason)``: run the real compiler yourself.

Never a broken build: a thunk that fails, for any reason, is answered
``Local``, so the real compiler runs and its result is by definition the
plain compiler's; an unexpected error does the same.

Each kind of step has its flow beside this file: compile_step.py,
link_step.py, archive_step.py; deferred mode's placeholders are in
placeholders.py; the daemon's state in context.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ggcc.base import placement, stats
from ggcc.base.stats import Event
from ggcc.launcher.archive_step import archive_as_thunk
from ggcc.launcher.compile_step import compile_as_thunk
from ggcc.launcher.context import Context
from ggcc.launcher.link_step import link_as_thunk
from ggcc.launcher.placeholders import force_placeholder
from ggcc.launcher.request import Done, Local, Request, Speculation, build_id


def handle(req: Request, ctx: Context) -> Done | Local:
    """Answer one invocation; never raises (an error is a counted Local)."""
    token = stats.build.set(build_id(req.env))
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
            ctx.store(req.env).local.forget()
            outcome = _attempt(step, req, ctx)
    except Exception as e:  # never let ggcc break a build
        import errno

        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            return _off(ctx, "ggcc-dir-unusable", [_dir_line(ctx.root, e.strerror or str(e))], f"ggcc-dir-unusable {ctx.root}")
        stats.record(ctx.root, Event.INVOCATION, (Event.ERROR, f"{type(e).__name__}: {e}"), (Event.LOCAL, "internal-error"))
        return Local("internal-error")
    finally:
        ctx.answering(-1)
    if isinstance(outcome, Local):
        stats.record(ctx.root, Event.INVOCATION, (Event.LOCAL, outcome.reason))
        try:
            _make_arguments_real(req, ctx)
        except Exception as e:
            stats.record(ctx.root, (Event.ERROR, f"{type(e).__name__}: {e}"))
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

    stats.record(ctx.root, Event.INVOCATION, (Event.LOCAL, reason))
    say = ""
    if notice.first_in_build(ctx.root, same or "\n".join(lines)):
        say = "".join(f"ggcc: {line} (until then ggcc is off: compilers run without it)\n" for line in lines)
    return Local(reason, say)


def _attempt(step: Callable[[Request, Context], Done | Local], req: Request, ctx: Context) -> Done | Local:
    from ggcc.base.fsutil import gone_under
    from ggcc.storage.local_store import CorruptBlob, MissingBlob

    try:
        return step(req, ctx)
    except CorruptBlob:
        return Local("corrupt-blob")
    except MissingBlob:
        return Local("store-changed")
    except FileNotFoundError as e:
        if gone_under(e, ctx.root):  # a file of the store, removed as we used it
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
            force_placeholder(path, store, ctx, req)


def speculate(req: Request, ctx: Context, known: dict[str, str]) -> str | None:
    """Run ``req`` again for the store (and a compile's manifest) only: its
    source was just saved, or a link input made (see ggcc/daemon/speculation.py).
    The id of the thunk it executed, or None if it executed nothing."""
    spec = Speculation(dict(known))
    compile_as_thunk(req, ctx, spec)
    return spec.ran

