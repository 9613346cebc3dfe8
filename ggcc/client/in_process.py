"""The launcher without a daemon (GGCC_DAEMON=0): the service in this process.

Useful to debug, and what the client falls back to nowhere: without a
daemon the client runs the real compiler, which is always correct. Here the
same ``service.handle`` the daemon runs answers, then this process replays
the compiler's output, or tells the client to become the real compiler.
"""

from __future__ import annotations

import sys


def in_process(compiler: str, argv: list[str], env: dict[str, str], root: str, columns: str,
               sinks: str) -> int | None:
    """The compile's exit code, its output written here; None: the real
    compiler is to run (a reason, if any, said on stderr)."""
    from ggcc import ensure_site

    ensure_site()  # bin/ggcc started Python without site: the service needs it
    import os

    from ggcc.base.fsutil import umask
    from ggcc.launcher.compiler_env import logical_cwd
    from ggcc.launcher.context import Context
    from ggcc.launcher.request import Done, Request
    from ggcc.launcher.service import handle

    req = Request(tuple(argv), compiler, env, logical_cwd(os.getcwd(), env), umask(), columns, sinks)
    ctx = Context(root, jobs=1)
    try:
        outcome = handle(req, ctx)
    finally:
        ctx.close()
    if isinstance(outcome, Done):
        sys.stdout.buffer.write(outcome.stdout)
        sys.stdout.flush()
        sys.stderr.buffer.write(outcome.stderr)
        sys.stderr.flush()
        return outcome.code
    if outcome.say:
        sys.stderr.write(outcome.say)
    return None
