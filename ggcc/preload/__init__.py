"""The placeholder guard (guard.c), built with the machine's C compiler.

`ggcc infer` preloads it into its build: any process that opens a
placeholder for reading waits until the real output is there (the daemon's
``make-real`` request). A C compiler is at hand wherever ggcc compiles C,
so the library is built on first use, into GGCC_DIR, named by the hash of
its source and of the compiler's identity (a new ggcc or a new compiler
builds it again); never shipped as a binary.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

from ggcc.base.errors import GgccError

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard.c")


def library(root: str, env: dict[str, str] | None = None) -> str:
    """The guard's shared library for this machine, built if need be;
    GgccError (saying why) if it cannot be built."""
    e = dict(os.environ if env is None else env)
    cc = shutil.which(e.get("CC", "").split()[0] if e.get("CC") else "cc", path=e.get("PATH")) or shutil.which("gcc")
    if cc is None:
        raise GgccError("no C compiler (cc) on PATH to build the placeholder guard")
    try:
        with open(SOURCE, "rb") as f:
            source = f.read()
        cc_id = os.stat(os.path.realpath(cc))
    except OSError as err:
        raise GgccError(f"placeholder guard: {err.strerror}: {err.filename}") from None
    key = hashlib.sha256(source + f"{cc} {cc_id.st_size} {cc_id.st_mtime_ns}".encode()).hexdigest()[:16]
    out = os.path.join(root, "preload", f"{GUARD_NAME}-{key}.so")
    if os.path.exists(out):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = f"{out}.{os.getpid()}.tmp"
    # Not the build's environment: CFLAGS or LD_PRELOAD of its own must not shape the guard.
    p = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", tmp, SOURCE, "-ldl"], capture_output=True, text=True,
                       env={"PATH": e.get("PATH", os.defpath), "LC_ALL": "C"})
    if p.returncode != 0:
        if os.path.exists(tmp):
            os.unlink(tmp)
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        raise GgccError(f"cannot build the placeholder guard with {cc}: {last}")
    os.replace(tmp, out)
    return out


GUARD_NAME = "ggcc-guard"  # the library's file name starts with this
SOCKET_ENV = "GGCC_GUARD_SOCKET"


def with_guard(env: dict[str, str], lib: str, socket: str) -> dict[str, str]:
    """``env`` with the guard preloaded, pointed at the daemon's socket."""
    pre = env.get("LD_PRELOAD", "")
    return dict(env, LD_PRELOAD=f"{lib} {pre}".strip(), **{SOCKET_ENV: socket})


def without_guard(env: dict[str, str]) -> dict[str, str]:
    """``env`` without the guard: for the daemon, and for what the daemon
    runs on the host (it must never wait on itself)."""
    if SOCKET_ENV not in env and GUARD_NAME not in env.get("LD_PRELOAD", ""):
        return env
    out = {k: v for k, v in env.items() if k != SOCKET_ENV}
    kept = [p for p in env.get("LD_PRELOAD", "").replace(":", " ").split() if GUARD_NAME not in os.path.basename(p)]
    if kept:
        out["LD_PRELOAD"] = " ".join(kept)
    else:
        out.pop("LD_PRELOAD", None)
    return out
