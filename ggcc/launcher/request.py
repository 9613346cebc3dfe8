"""What a launcher asks the daemon (a compiler or archiver invocation as it
saw it), and the two answers: done (ggcc did the work) or local (the real
compiler runs in the launcher, and why)."""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True)
class Local:
    reason: str
    say: str = ""  # a line for the user's terminal (a wrong setting), said once per build
