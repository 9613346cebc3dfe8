"""What a launcher asks the daemon (a compiler or archiver invocation as it
saw it), and the two answers: done (ggcc did the work) or local (the real
compiler runs in the launcher, and why)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ggcc.base.stats import BUILD_ENV


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


def build_id(env: dict[str, str]) -> str:
    """The build a request belongs to (GGCC_BUILD, set by `ggcc make` and
    friends), for its counters; "" if none or not a plain name."""
    b = env.get(BUILD_ENV, "")
    return b if b.isalnum() else ""


@dataclass
class Speculation:
    """A step run for the store only, because its source was saved or a
    link input made (daemon/speculation.py): nothing goes into the build
    tree. ``known``: inputs of a link made by speculations, not yet on disk
    (normalised host path -> id); ``ran``: set to the thunk it executed, if
    it executed one (a hit executes none)."""

    known: dict[str, str] = field(default_factory=dict)
    ran: str | None = None
