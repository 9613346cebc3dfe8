"""The native client's Python face: where ggcc-client is (native.c beside
this file is its source; setup.py builds it at install, beside bin/ggcc).

Imports nothing beyond the interpreter's built-ins: `python -m ggcc gcc ...`
looks for the client on its way to a compile.
"""

import posix
import sys

NAME = "ggcc-client"
# bin/ggcc's script, renamed where setup.py installs the client as bin/ggcc.
SCRIPT = "ggcc-python"
HANDED_BACK = "GGCC_FROM_NATIVE"  # set by the client when it execs the Python launcher (see main.py)


def find() -> str | None:
    """ggcc-client beside this ggcc (bin/ggcc) or beside this Python (a
    venv's bin/, for `python -m ggcc`), if it was built; None under
    GGCC_NATIVE=0."""
    if posix.environ.get(b"GGCC_NATIVE") == b"0":
        return None
    places = [started_from(), sys.executable.rpartition("/")[0]]
    for d in places:
        p = f"{d}/{NAME}"
        if d and posix.access(p, posix.X_OK):
            return p
    return None


def started_from() -> str:
    """The directory of the bin/ggcc (or bin/ggcc-python) this process was
    started as, or "" (`python -m ggcc`, a test's import)."""
    where, _, name = (sys.argv[0] if sys.argv else "").rpartition("/")
    return where if name in ("ggcc", SCRIPT) else ""


def beside(script: str) -> str | None:
    """ggcc-client beside the bin/ggcc at ``script``, if built (and not
    turned off)."""
    p = script.rpartition("/")[0] + "/" + NAME
    if posix.environ.get(b"GGCC_NATIVE") == b"0" or not posix.access(p, posix.X_OK):
        return None
    return p
