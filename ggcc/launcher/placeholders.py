"""Deferred mode (`ggcc infer`): a placeholder in the build tree now, the
step forced in the background and its output put over the placeholder, or
the real command run if that fails; and a placeholder made real at once
when a tool must read it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ggcc.base import placement, stats
from ggcc.base.stats import Event
from ggcc.launcher.context import Context
from ggcc.launcher.deliver import deliver_over, host_messages
from ggcc.launcher.force import count_answer, force_step
from ggcc.launcher.request import Done, Local, Request, build_id

if TYPE_CHECKING:
    from ggcc.formats.result import Result
    from ggcc.formats.thunk import Thunk
    from ggcc.launcher.deferred import Session
    from ggcc.storage.store import Store


def deferrable(req: Request, out: str) -> bool:
    """Deferred mode may put a placeholder at ``out``: a plain file, and
    messages that would go to a terminal or a pipe (the session reports
    them at the end) or nowhere; into a file they must go now."""
    return "f" not in req.sinks and placement.plain_file(out)


def messages_seen(req: Request, stdout: bytes, stderr: bytes) -> bytes:
    """What of a step's output the build would have shown (not what it
    sent to /dev/null, as libtool does with its second compile)."""
    return (stdout if req.sinks[:1] != "n" else b"") + (stderr if req.sinks[1:2] != "n" else b"")


def defer(req: Request, ctx: Context, session: Session, thunk: Thunk, store: Store, out: str, tag: str,
           waits: list[str], after: Callable[[], None] | None) -> Done:
    """Placeholder at ``out`` now; the thunk forced in the background, its
    output put over the placeholder, or the real command run if it fails."""
    from ggcc.launcher.deferred import run_real
    from ggcc.storage.local_store import CorruptBlob

    build = build_id(req.env)

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
                replaced = deliver_over(result, tag, out, store.local, req.umask, data)
                session.check_unread(out, replaced)
                if replaced is not None:
                    with session.lock:
                        session.hits += was_hit
                        session.out_bytes += os.path.getsize(out)
                session.note("hit" if was_hit else "built", out)
                seen = messages_seen(req, *host_messages(result))
                if seen:
                    session.add_report(out, 0, seen)
                if after is not None:
                    after()
                return
        except CorruptBlob:  # counted by the store; the real command runs
            outcome = Local("corrupt-blob")
        except Exception as e:  # never leave a placeholder for a bug of ours
            stats.record(ctx.root, (Event.ERROR, f"{type(e).__name__}: {e}"))
            outcome = Local("internal-error")
        if not session.still_placeholder(out, data):
            session.note("moved", out)  # by the build: its output is its own business
            return
        try:
            session.check_unread(out, os.stat(out))
        except OSError:
            pass
        real = run_real(req.argv, req.compiler, req.env, req.cwd)
        stats.record(ctx.root, Event.INVOCATION, (Event.LOCAL, outcome.reason))
        with session.lock:
            session.local += 1
        session.note("failed" if real.returncode != 0 else "local", out)
        if session.still_placeholder(out, data):
            os.unlink(out)  # the real command failed without writing: never leave a placeholder
        seen = messages_seen(req, real.stdout, real.stderr)
        if real.returncode != 0 or seen:
            session.add_report(out, real.returncode, seen)

    session.defer(out, thunk.id, tag, work, waits)
    return Done(0)


def archive_of_placeholders(ctx: Context, args: list[str]) -> Done:
    """A link reads an archive made, outside ggcc, of placeholders: say how
    to fix the build instead of letting ld call them linker scripts."""
    stats.record(ctx.root, Event.INVOCATION, (Event.ERROR, "archive-of-placeholders"))
    names = " ".join(a for a in args if a.endswith(".a"))
    msg = (f"ggcc: {names}: an archive of ggcc placeholders: its archiver ran outside ggcc and the placeholder "
           "guard during `ggcc infer` (a static archiver?). Run ar and ranlib through ggcc (CMake: configure with "
           "`ggcc cmake`, or -DCMAKE_AR=<venv>/bin/ggcc-ar -DCMAKE_RANLIB=<venv>/bin/ggcc-ranlib), or build "
           "without infer.\n")
    return Done(1, b"", msg.encode())


def make_real(path: str, req: Request, ctx: Context) -> bool:
    """force_placeholder in the store ``req``'s environment names."""
    try:
        return force_placeholder(path, ctx.store(req.env), ctx, req)
    except Exception as e:
        stats.record(ctx.root, (Event.ERROR, f"make-real {type(e).__name__}: {e}"))
        return False


def force_placeholder(path: str, store: Store, ctx: Context, req: Request) -> bool:
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
        thunk = store.local.load_thunk(tid)
    except Exception:
        return False
    outcome = force_step(thunk, store, ctx, req.env)
    if isinstance(outcome, Local):
        return False
    result, _ = outcome
    replaced = deliver_over(result, tag, path, store.local, req.umask, data)  # None: replaced or moved meanwhile, not ours
    session = ctx.session(req.env)
    if session is not None:
        session.check_unread(path, replaced)
    return True

